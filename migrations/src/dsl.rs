//! Tiny helpers so each migration reads as a list of tables.
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

/// `CREATE TABLE IF NOT EXISTS name (id BIGINT auto-increment primary key, ...)`.
pub fn table(name: &'static str) -> TableCreateStatement {
    Table::create()
        .table(name)
        .if_not_exists()
        .col(big_pk_auto("id"))
        .take()
}

pub async fn create(manager: &SchemaManager<'_>, t: TableCreateStatement) -> Result<(), DbErr> {
    manager.create_table(t).await
}

pub async fn index(
    manager: &SchemaManager<'_>,
    table: &'static str,
    name: &'static str,
    cols: &[&'static str],
    unique: bool,
) -> Result<(), DbErr> {
    let mut stmt = Index::create()
        .name(name)
        .table(table)
        .if_not_exists()
        .take();
    for c in cols {
        stmt.col(*c);
    }
    if unique {
        stmt.unique();
    }
    manager.create_index(stmt).await
}

pub async fn drop(manager: &SchemaManager<'_>, tables: &[&'static str]) -> Result<(), DbErr> {
    for t in tables {
        manager
            .drop_table(Table::drop().table(*t).if_exists().take())
            .await?;
    }
    Ok(())
}

pub fn flag(name: &'static str) -> ColumnDef {
    boolean(name).default(false).take()
}

/// Adds one column to an existing table (scripts/gen-entities.py reads these calls too).
pub async fn add_column(
    manager: &SchemaManager<'_>,
    table: &'static str,
    column: ColumnDef,
) -> Result<(), DbErr> {
    manager
        .alter_table(
            Table::alter()
                .table(Alias::new(table))
                .add_column(column)
                .take(),
        )
        .await
}

//! A contact can turn alert calls off (`[voice]`): `contacts.voice_enabled`, on by default, so
//! every existing contact is called once `[voice]` is configured.
use crate::dsl::add_column;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        add_column(m, "contacts", boolean("voice_enabled").default(true).take()).await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.alter_table(
            Table::alter()
                .table(Alias::new("contacts"))
                .drop_column(Alias::new("voice_enabled"))
                .take(),
        )
        .await
    }
}

//! Damage reports become claims for an *outage event* (incidents whose measured windows
//! overlap: the 2022 fire's Talk, Login, Pay and Map are one report per merchant).
//!
//! - `windows`: the probe-measured window of each service the report covers, as filed
//!   (`[{"incident_id", "dependency_id", "start", "end"}]`). `incident_id` stays the event's
//!   key: its first incident (the unique key merchant × incident is now merchant × event).
//! - The claim's figures: sales in the outage period and in a comparable period, whether each
//!   service was paid or free (`service_usage`, `{"slug": "paid" | "free"}`), whether a
//!   substitute was available (`substitute`: `yes` | `partly` | `no`).
//!
//! Existing reports each covered one incident: their `windows` is filled with that incident's
//! window, so every report reads the same way. (Several older reports of one merchant on
//! incidents of one event stay separate rows; the merchant's next submission on the event
//! edits the first of them.)
use crate::dsl::add_column;
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;
use sea_orm_migration::sea_orm::{ConnectionTrait, Statement, TryGetable};

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        add_column(m, "damage_reports", text("windows").default("[]").take()).await?;
        add_column(m, "damage_reports", big_integer_null("sales_outage_krw")).await?;
        add_column(
            m,
            "damage_reports",
            big_integer_null("sales_comparable_krw"),
        )
        .await?;
        add_column(
            m,
            "damage_reports",
            text("service_usage").default("{}").take(),
        )
        .await?;
        add_column(m, "damage_reports", text_null("substitute")).await?;
        let db = m.get_connection();
        let backend = db.get_database_backend();
        let rows = db
            .query_all_raw(Statement::from_string(
                backend,
                "SELECT r.id AS report_id, i.id AS incident_id, i.dependency_id AS dependency_id, \
                 i.started_at AS started_at, i.resolved_at AS resolved_at \
                 FROM damage_reports r JOIN incidents i ON i.id = r.incident_id",
            ))
            .await?;
        for row in rows {
            let get =
                |c: &str| i64::try_get_by(&row, c).map_err(|e| DbErr::Custom(format!("{e:?}")));
            let end: Option<i64> = row.try_get("", "resolved_at")?;
            let windows = format!(
                "[{{\"incident_id\":{},\"dependency_id\":{},\"start\":{},\"end\":{}}}]",
                get("incident_id")?,
                get("dependency_id")?,
                get("started_at")?,
                end.map(|e| e.to_string()).unwrap_or_else(|| "null".into())
            );
            let sql = match backend {
                sea_orm_migration::sea_orm::DatabaseBackend::Postgres => {
                    "UPDATE damage_reports SET windows = $1 WHERE id = $2"
                }
                _ => "UPDATE damage_reports SET windows = ? WHERE id = ?",
            };
            db.execute_raw(Statement::from_sql_and_values(
                backend,
                sql,
                [windows.into(), get("report_id")?.into()],
            ))
            .await?;
        }
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        for c in [
            "windows",
            "sales_outage_krw",
            "sales_comparable_krw",
            "service_usage",
            "substitute",
        ] {
            db.execute_unprepared(&format!("ALTER TABLE damage_reports DROP COLUMN {c}"))
                .await?;
        }
        Ok(())
    }
}

//! One row per SMS provider route, shared by every replica on PostgreSQL: its send budget
//! (`next_free_us`, a GCRA "theoretical arrival time": the earliest time, in microseconds,
//! at which the next message may leave at `rate_per_second`) and its health for failover
//! (`failing_since`, and `last_try` so only one replica at a time tries a failed provider
//! again). Each update is one `UPDATE … RETURNING` (or upsert), so replicas never lose one
//! another's reservations. SQLite deployments are one process and keep this in memory.
use crate::dsl::{create, drop, index, table};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create(
            m,
            table("provider_states")
                // `sms{index}:{name}`, e.g. `sms0:solapi` (the same on every replica).
                .col(text("provider"))
                .col(big_integer("next_free_us"))
                .col(big_integer_null("failing_since"))
                .col(big_integer("last_try"))
                .take(),
        )
        .await?;
        index(
            m,
            "provider_states",
            "ux_provider_states_provider",
            &["provider"],
            true,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop(m, &["provider_states"]).await
    }
}

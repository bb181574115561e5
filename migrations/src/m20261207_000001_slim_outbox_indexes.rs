//! Fewer index entries per outbox row, for large fan-outs (every row written updates each
//! index of the table):
//! - `ix_outbox_due (state, next_attempt_at)` goes: every query that filters on `state` is
//!   served by `ix_outbox_claim (state, priority, next_attempt_at, id)`.
//! - `ix_outbox_provider_message` becomes partial (`WHERE provider_message_id IS NOT NULL`):
//!   lookups are by a provider's message id, and a message has one only once accepted, so
//!   planning a notice no longer adds a NULL entry for each message.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS ix_outbox_due")
            .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS ix_outbox_provider_message")
            .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS ix_outbox_provider_message ON outbox (provider_message_id) \
             WHERE provider_message_id IS NOT NULL",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS ix_outbox_provider_message")
            .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS ix_outbox_provider_message ON outbox (provider_message_id)",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS ix_outbox_due ON outbox (state, next_attempt_at)",
        )
        .await?;
        Ok(())
    }
}

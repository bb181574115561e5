//! Alert-link tokens get a time-ordered locator (`notices.token_locator`), and the lookup index
//! moves from the token's keyed hash to it.
//!
//! The hash is random, so `ux_notices_token (token_hash)` took each notice of a fan-out into a
//! random leaf of a large index: every transaction of 500 notices dirtied hundreds of index
//! pages, written to the WAL and checkpointed again, which was a third of the time to plan
//! 100,000 notices. A locator (the first characters of new tokens, from the time the notice was
//! made) appends at the index's right edge; the hash is still what a token is checked against.
//! Notices made before this change have no locator; they keep a partial index on their hash
//! (`WHERE token_locator IS NULL`), which new notices never enter.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("ALTER TABLE notices ADD COLUMN token_locator TEXT")
            .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS ux_notices_token")
            .await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX IF NOT EXISTS ux_notices_token_legacy ON notices (token_hash) \
             WHERE token_locator IS NULL",
        )
        .await?;
        db.execute_unprepared(
            "CREATE INDEX IF NOT EXISTS ix_notices_token_locator ON notices (token_locator) \
             WHERE token_locator IS NOT NULL",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("DROP INDEX IF EXISTS ix_notices_token_locator")
            .await?;
        db.execute_unprepared("DROP INDEX IF EXISTS ux_notices_token_legacy")
            .await?;
        db.execute_unprepared("ALTER TABLE notices DROP COLUMN token_locator")
            .await?;
        db.execute_unprepared(
            "CREATE UNIQUE INDEX IF NOT EXISTS ux_notices_token ON notices (token_hash)",
        )
        .await?;
        Ok(())
    }
}

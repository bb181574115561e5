//! The own-network guard's verdict per location: `probe_locations.canaries_failing_since` is
//! set (to when the location's canaries stopped answering) while the location is
//! network-suspect, and null while they answer. Stored so that every replica and every other
//! location sees it: the quorum is taken among the locations whose canaries answer.
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared(
            "ALTER TABLE probe_locations ADD COLUMN canaries_failing_since BIGINT",
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        let db = m.get_connection();
        db.execute_unprepared("ALTER TABLE probe_locations DROP COLUMN canaries_failing_since")
            .await?;
        Ok(())
    }
}

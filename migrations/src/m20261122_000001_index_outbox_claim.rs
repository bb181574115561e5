//! The dispatcher's claim walks due messages in send order (`priority, next_attempt_at, id`)
//! through this index and stops after its `LIMIT`, instead of sorting every pending row of a
//! large fan-out on every claim.
use crate::dsl::index;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        index(
            m,
            "outbox",
            "ix_outbox_claim",
            &["state", "priority", "next_attempt_at", "id"],
            false,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_outbox_claim")
                .table("outbox")
                .if_exists()
                .to_owned(),
        )
        .await
    }
}

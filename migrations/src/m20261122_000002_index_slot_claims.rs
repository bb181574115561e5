//! Slot claims are pruned by age (a claim only has to outlive its slot's run); at 100,000
//! checks a minute they grow by six million rows an hour, so the prune must not scan them all.
use crate::dsl::index;
use sea_orm_migration::prelude::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        index(
            m,
            "check_slots",
            "ix_check_slots_claimed",
            &["claimed_at"],
            false,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        m.drop_index(
            Index::drop()
                .name("ix_check_slots_claimed")
                .table("check_slots")
                .if_exists()
                .to_owned(),
        )
        .await
    }
}

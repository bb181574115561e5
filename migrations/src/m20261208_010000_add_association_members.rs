//! Associations as tenants (issue 19, part A): an invite code a merchant joins with
//! (`associations.invite_code`, unique, null until staff first open their members page), and
//! the broadcasts staff send to their members (`association_broadcasts`: one row per
//! broadcast, its channel and text; the messages themselves go through the outbox, one notice
//! per member keyed `broadcast:{id}:{merchant}`, so a member gets each broadcast once).
//! Membership itself is the existing `memberships` table (one row per association and
//! merchant; a merchant may belong to several).
use crate::dsl::{add_column, create, drop, index, table};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        add_column(m, "associations", text_null("invite_code")).await?;
        index(
            m,
            "associations",
            "ux_associations_invite_code",
            &["invite_code"],
            true,
        )
        .await?;
        create(
            m,
            table("association_broadcasts")
                .col(big_integer("association_id"))
                .col(big_integer("user_id"))
                // sms | email
                .col(text("channel"))
                .col(text("body"))
                .col(integer("recipients"))
                .col(big_integer("created_at"))
                .take(),
        )
        .await?;
        index(
            m,
            "association_broadcasts",
            "ix_association_broadcasts_assoc",
            &["association_id", "created_at"],
            false,
        )
        .await?;
        index(
            m,
            "memberships",
            "ix_memberships_merchant",
            &["merchant_id"],
            false,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop(m, &["association_broadcasts"]).await?;
        m.drop_index(
            Index::drop()
                .name("ux_associations_invite_code")
                .table(Alias::new("associations"))
                .to_owned(),
        )
        .await?;
        m.alter_table(
            Table::alter()
                .table(Alias::new("associations"))
                .drop_column(Alias::new("invite_code"))
                .take(),
        )
        .await
    }
}

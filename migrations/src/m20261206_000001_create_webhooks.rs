//! A merchant's outgoing webhook: one signed JSON POST per alert notice to the merchant's own
//! system (POS, ordering system). The URL and the signing secret are encrypted like other
//! personal data; one webhook per merchant.
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
            table("webhooks")
                .col(big_integer("merchant_id"))
                .col(text("url_enc"))
                // The HMAC-SHA256 key, shown to the merchant once when made.
                .col(text("secret_enc"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .take(),
        )
        .await?;
        index(
            m,
            "webhooks",
            "ux_webhooks_merchant",
            &["merchant_id"],
            true,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop(m, &["webhooks"]).await
    }
}

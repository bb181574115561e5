//! Delivery status callbacks that arrived before the acceptance of their message was
//! recorded (Twilio can call back within milliseconds; acceptances are group-committed).
//! Kept here and applied when the acceptance is recorded, so a quick `failed` still sends
//! the email at once.
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
            table("early_status_callbacks")
                .col(text("provider_message_id"))
                // Twilio's MessageStatus: queued | sent | delivered | failed | undelivered …
                .col(text("status"))
                .col(text_null("error_code"))
                .col(big_integer("received_at"))
                .take(),
        )
        .await?;
        index(
            m,
            "early_status_callbacks",
            "ix_early_status_callbacks_sid",
            &["provider_message_id"],
            false,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop(m, &["early_status_callbacks"]).await
    }
}

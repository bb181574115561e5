//! Notices, the durable outbox, delivery attempts, acknowledgements and the dev outbox.
use crate::dsl::{create, drop, index, table};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        // One notice = one message to one merchant about a group of dependencies.
        create(
            m,
            table("notices")
                .col(big_integer("merchant_id"))
                // down | relapse | followup | recovery | test | store_offline | store_back
                .col(text("kind"))
                .col(text("dedupe_key"))
                .col(text("dependency_ids"))
                .col(text("incident_ids"))
                .col(big_integer("since"))
                .col(text("token_hash"))
                .col(big_integer("token_expires_at"))
                // open | acked | exhausted | closed
                .col(text("status"))
                .col(integer("contact_position").default(0))
                .col(big_integer_null("escalate_at"))
                .col(big_integer_null("acked_at"))
                .col(text_null("acked_via"))
                .col(big_integer("created_at"))
                .take(),
        )
        .await?;
        index(m, "notices", "ux_notices_dedupe", &["dedupe_key"], true).await?;
        index(m, "notices", "ux_notices_token", &["token_hash"], true).await?;
        index(
            m,
            "notices",
            "ix_notices_merchant",
            &["merchant_id", "created_at"],
            false,
        )
        .await?;

        // The database makes a double alert impossible: one (merchant, incident, kind) row.
        create(
            m,
            table("notice_incidents")
                .col(big_integer("notice_id"))
                .col(big_integer("merchant_id"))
                .col(big_integer("incident_id"))
                .col(text("kind"))
                .take(),
        )
        .await?;
        index(
            m,
            "notice_incidents",
            "ux_notice_incidents",
            &["merchant_id", "incident_id", "kind"],
            true,
        )
        .await?;

        create(
            m,
            table("outbox")
                .col(big_integer("notice_id"))
                .col(big_integer("merchant_id"))
                .col(text("dedupe_key"))
                // sms | email | webhook
                .col(text("channel"))
                .col(big_integer_null("contact_id"))
                .col(integer("contact_position").default(0))
                .col(text("recipient_enc"))
                .col(text_null("subject"))
                .col(text("body"))
                .col(text_null("html"))
                .col(integer("priority").default(0))
                // pending | sending | accepted | delivered | failed | cancelled | expired
                .col(text("state"))
                .col(integer("attempts").default(0))
                .col(big_integer("next_attempt_at"))
                .col(text_null("claimed_by"))
                .col(big_integer_null("claim_expires_at"))
                .col(integer_null("provider_index"))
                .col(text_null("provider_message_id"))
                .col(text_null("last_error"))
                .col(big_integer("created_at"))
                .col(big_integer("expires_at"))
                .col(big_integer_null("accepted_at"))
                .col(big_integer_null("delivered_at"))
                .col(big_integer_null("fallback_at"))
                .take(),
        )
        .await?;
        index(m, "outbox", "ux_outbox_dedupe", &["dedupe_key"], true).await?;
        index(
            m,
            "outbox",
            "ix_outbox_due",
            &["state", "next_attempt_at"],
            false,
        )
        .await?;
        index(
            m,
            "outbox",
            "ix_outbox_provider_message",
            &["provider_message_id"],
            false,
        )
        .await?;
        index(m, "outbox", "ix_outbox_notice", &["notice_id"], false).await?;

        create(
            m,
            table("delivery_attempts")
                .col(big_integer("outbox_id"))
                .col(big_integer("at"))
                .col(text("provider"))
                .col(text("outcome"))
                .col(text_null("error_code"))
                .col(text_null("detail"))
                .take(),
        )
        .await?;
        index(
            m,
            "delivery_attempts",
            "ix_delivery_attempts_outbox",
            &["outbox_id", "at"],
            false,
        )
        .await?;

        create(
            m,
            table("acknowledgements")
                .col(big_integer("notice_id"))
                .col(big_integer("at"))
                // web | sms | api
                .col(text("via"))
                .col(big_integer_null("contact_id"))
                .take(),
        )
        .await?;
        index(
            m,
            "acknowledgements",
            "ix_acknowledgements_notice",
            &["notice_id"],
            false,
        )
        .await?;

        // Messages of the `log` providers, shown at /dev/outbox in the demo.
        create(
            m,
            table("dev_outbox")
                .col(big_integer("at"))
                .col(text("channel"))
                .col(text("recipient"))
                .col(text_null("subject"))
                .col(text("body"))
                .take(),
        )
        .await?;
        index(m, "dev_outbox", "ix_dev_outbox_at", &["at"], false).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop(
            m,
            &[
                "dev_outbox",
                "acknowledgements",
                "delivery_attempts",
                "outbox",
                "notice_incidents",
                "notices",
            ],
        )
        .await
    }
}

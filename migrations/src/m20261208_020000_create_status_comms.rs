//! Status communication (issue 20): public subscribers with double opt-in, incident updates
//! (a timeline per incident; also what subscribers are told), incident marks (declared by an
//! operator, false alarm) and maintenance windows per dependency.
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
            table("status_subscribers")
                // `email` or `sms`.
                .col(text("channel"))
                .col(text("recipient_enc"))
                // Keyed hash of the normalized address or E.164 number (limits, duplicates).
                .col(text("recipient_hash"))
                // JSON array of dependency ids.
                .col(text("dependency_ids"))
                // Keyed hash of the subscriber's token (confirm link and unsubscribe link).
                .col(text("token_hash"))
                // Keyed hash of `{id}:{code}` for an SMS subscription, until confirmed.
                .col(text_null("code_hash"))
                .col(integer("code_tries"))
                .col(text("locale"))
                .col(big_integer_null("confirmed_at"))
                .col(big_integer_null("unsubscribed_at"))
                // The newest `incident_updates.id` this subscriber has been told (or skipped).
                .col(big_integer("told_through"))
                .col(big_integer("created_at"))
                .take(),
        )
        .await?;
        index(
            m,
            "status_subscribers",
            "ux_status_subscribers_token",
            &["token_hash"],
            true,
        )
        .await?;
        index(
            m,
            "status_subscribers",
            "ix_status_subscribers_recipient",
            &["recipient_hash"],
            false,
        )
        .await?;
        create(
            m,
            table("incident_updates")
                .col(big_integer("dependency_id"))
                .col(big_integer_null("incident_id"))
                .col(big_integer_null("maintenance_id"))
                // investigating | identified | monitoring | resolved | false_alarm |
                // maintenance_scheduled | maintenance_started
                .col(text("status"))
                .col(text("body"))
                .col(big_integer_null("author_user_id"))
                // Unique: one automatic "opened"/"resolved" per incident, one announcement
                // per maintenance window and phase.
                .col(text("dedupe_key"))
                .col(big_integer("created_at"))
                .take(),
        )
        .await?;
        index(
            m,
            "incident_updates",
            "ux_incident_updates_dedupe",
            &["dedupe_key"],
            true,
        )
        .await?;
        index(
            m,
            "incident_updates",
            "ix_incident_updates_incident",
            &["incident_id"],
            false,
        )
        .await?;
        create(
            m,
            table("incident_marks")
                .col(big_integer("incident_id"))
                .col(big_integer_null("declared_by"))
                .col(text_null("declared_text"))
                .col(big_integer_null("false_alarm_at"))
                .col(big_integer_null("false_alarm_by"))
                .col(big_integer_null("resolved_by"))
                .take(),
        )
        .await?;
        index(
            m,
            "incident_marks",
            "ux_incident_marks_incident",
            &["incident_id"],
            true,
        )
        .await?;
        create(
            m,
            table("maintenance_windows")
                .col(big_integer("dependency_id"))
                .col(big_integer("starts_at"))
                .col(big_integer("ends_at"))
                .col(text("title"))
                // `operator`, `api` or `config` (config windows are replaced on start-up).
                .col(text("source"))
                .col(big_integer_null("created_by"))
                .col(big_integer_null("cancelled_at"))
                .col(big_integer("created_at"))
                .take(),
        )
        .await?;
        index(
            m,
            "maintenance_windows",
            "ix_maintenance_windows_dependency",
            &["dependency_id", "starts_at"],
            false,
        )
        .await
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop(
            m,
            &[
                "status_subscribers",
                "incident_updates",
                "incident_marks",
                "maintenance_windows",
            ],
        )
        .await
    }
}

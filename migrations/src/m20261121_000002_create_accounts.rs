//! Merchants, associations, users, subscriptions, contacts, playbooks, tokens, audit log.
use crate::dsl::{create, drop, flag, index, table};
use sea_orm_migration::prelude::*;
use sea_orm_migration::schema::*;

#[derive(DeriveMigrationName)]
pub struct Migration;

#[async_trait::async_trait]
impl MigrationTrait for Migration {
    async fn up(&self, m: &SchemaManager) -> Result<(), DbErr> {
        create(
            m,
            table("associations")
                .col(text("name"))
                .col(big_integer("created_at"))
                .take(),
        )
        .await?;
        index(m, "associations", "ux_associations_name", &["name"], true).await?;

        create(
            m,
            table("merchants")
                .col(text("business_name"))
                .col(text("phone_enc"))
                .col(text("phone_hash"))
                .col(text_null("email_enc"))
                .col(text_null("owner_name_enc"))
                .col(text_null("locale"))
                .col(text_null("region"))
                .col(text_null("trade"))
                .col(text_null("time_zone"))
                .col(text_null("brn_enc"))
                .col(big_integer_null("association_id"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .take(),
        )
        .await?;
        // Same phone + business name is the same merchant (import updates it).
        index(
            m,
            "merchants",
            "ux_merchants_phone_name",
            &["phone_hash", "business_name"],
            true,
        )
        .await?;

        create(
            m,
            table("memberships")
                .col(big_integer("association_id"))
                .col(big_integer("merchant_id"))
                .col(big_integer("created_at"))
                .take(),
        )
        .await?;
        index(
            m,
            "memberships",
            "ux_memberships",
            &["association_id", "merchant_id"],
            true,
        )
        .await?;

        create(
            m,
            table("users")
                .col(text("email_hash"))
                .col(text("email_enc"))
                .col(text("password_hash"))
                // merchant | association | operator
                .col(text("role"))
                .col(big_integer_null("merchant_id"))
                .col(big_integer_null("association_id"))
                .col(text_null("locale"))
                .col(flag("disabled"))
                .col(big_integer("created_at"))
                .col(big_integer_null("last_login_at"))
                .take(),
        )
        .await?;
        index(m, "users", "ux_users_email", &["email_hash"], true).await?;

        create(
            m,
            table("subscriptions")
                .col(big_integer("merchant_id"))
                .col(big_integer("dependency_id"))
                .col(flag("notify_degraded"))
                .col(big_integer("created_at"))
                .take(),
        )
        .await?;
        index(
            m,
            "subscriptions",
            "ux_subscriptions",
            &["merchant_id", "dependency_id"],
            true,
        )
        .await?;
        index(
            m,
            "subscriptions",
            "ix_subscriptions_dependency",
            &["dependency_id"],
            false,
        )
        .await?;

        // Contacts in order: within a contact SMS first, email its fallback; then the next.
        create(
            m,
            table("contacts")
                .col(big_integer("merchant_id"))
                .col(integer("position"))
                .col(text_null("label"))
                .col(text_null("phone_enc"))
                .col(text_null("phone_hash"))
                .col(text_null("email_enc"))
                // The mail domain's platform (kakao, naver, ...) for channel independence.
                .col(text_null("email_platform"))
                .col(flag("phone_verified"))
                .col(flag("email_verified"))
                .col(flag("sms_opted_out"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .take(),
        )
        .await?;
        index(
            m,
            "contacts",
            "ux_contacts_position",
            &["merchant_id", "position"],
            true,
        )
        .await?;
        index(
            m,
            "contacts",
            "ix_contacts_phone_hash",
            &["phone_hash"],
            false,
        )
        .await?;

        create(
            m,
            table("playbooks")
                .col(big_integer("merchant_id"))
                .col(text("category"))
                .col(text("text"))
                .col(big_integer("updated_at"))
                .take(),
        )
        .await?;
        index(
            m,
            "playbooks",
            "ux_playbooks",
            &["merchant_id", "category"],
            true,
        )
        .await?;

        create(
            m,
            table("api_tokens")
                .col(big_integer("user_id"))
                .col(text("name"))
                .col(text("token_hash"))
                // api | agent
                .col(text("scope"))
                .col(big_integer_null("location_id"))
                .col(flag("revoked"))
                .col(big_integer("created_at"))
                .col(big_integer_null("last_used_at"))
                .col(big_integer_null("expires_at"))
                .take(),
        )
        .await?;
        index(m, "api_tokens", "ux_api_tokens_hash", &["token_hash"], true).await?;

        // Single-purpose, expiring tokens: password reset, email verification, SMS codes.
        create(
            m,
            table("one_time_tokens")
                .col(text("purpose"))
                .col(text("token_hash"))
                .col(big_integer_null("user_id"))
                .col(big_integer_null("merchant_id"))
                .col(big_integer_null("contact_id"))
                .col(integer("attempts").default(0))
                .col(big_integer("expires_at"))
                .col(big_integer_null("used_at"))
                .col(big_integer("created_at"))
                .take(),
        )
        .await?;
        index(
            m,
            "one_time_tokens",
            "ux_one_time_tokens_hash",
            &["purpose", "token_hash"],
            true,
        )
        .await?;

        create(
            m,
            table("web_sessions")
                .col(text("session_id"))
                .col(big_integer("user_id"))
                .col(text("csrf_token"))
                .col(big_integer("expires_at"))
                .col(big_integer("created_at"))
                .take(),
        )
        .await?;
        index(
            m,
            "web_sessions",
            "ux_web_sessions_id",
            &["session_id"],
            true,
        )
        .await?;

        create(
            m,
            table("heartbeat_monitors")
                .col(big_integer("merchant_id"))
                .col(text("name"))
                .col(text("token_hash"))
                .col(big_integer("period_ms"))
                .col(big_integer("grace_ms"))
                .col(big_integer_null("last_ping_at"))
                // new | up | down
                .col(text("state"))
                .col(big_integer_null("open_incident_id"))
                .col(big_integer("created_at"))
                .take(),
        )
        .await?;
        index(
            m,
            "heartbeat_monitors",
            "ux_heartbeat_token",
            &["token_hash"],
            true,
        )
        .await?;

        create(
            m,
            table("audit_log")
                .col(big_integer("at"))
                .col(big_integer_null("actor_user_id"))
                .col(text("actor"))
                .col(text("action"))
                .col(text("target_type"))
                .col(big_integer_null("target_id"))
                .col(text("detail"))
                .take(),
        )
        .await?;
        index(m, "audit_log", "ix_audit_log_at", &["at"], false).await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop(
            m,
            &[
                "audit_log",
                "heartbeat_monitors",
                "web_sessions",
                "one_time_tokens",
                "api_tokens",
                "playbooks",
                "contacts",
                "subscriptions",
                "users",
                "memberships",
                "merchants",
                "associations",
            ],
        )
        .await
    }
}

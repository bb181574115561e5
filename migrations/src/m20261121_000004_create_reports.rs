//! Damage reports and their attachments.
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
            table("damage_reports")
                .col(big_integer("incident_id"))
                .col(big_integer_null("merchant_id"))
                .col(big_integer_null("association_id"))
                // received | verified | rejected | forwarded
                .col(text("status"))
                .col(text("business_name"))
                .col(text_null("brn_enc"))
                .col(text_null("contact_enc"))
                .col(text("region_sido"))
                .col(text_null("region_sigungu"))
                .col(text("trade"))
                .col(text("affected_services"))
                .col(text("damage_kinds"))
                .col(big_integer("estimated_loss_krw"))
                .col(integer_null("lost_orders"))
                .col(text("description"))
                .col(big_integer("outage_start"))
                .col(big_integer_null("outage_end"))
                .col(flag("consent"))
                .col(text_null("review_reason"))
                .col(big_integer_null("reviewed_by"))
                .col(big_integer_null("reviewed_at"))
                .col(big_integer_null("forwarded_at"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .take(),
        )
        .await?;
        // One report per merchant per incident; a second submission edits the first.
        index(
            m,
            "damage_reports",
            "ux_damage_reports_merchant_incident",
            &["merchant_id", "incident_id"],
            true,
        )
        .await?;
        index(
            m,
            "damage_reports",
            "ix_damage_reports_association",
            &["association_id", "status"],
            false,
        )
        .await?;
        index(
            m,
            "damage_reports",
            "ix_damage_reports_incident",
            &["incident_id"],
            false,
        )
        .await?;

        create(
            m,
            table("report_attachments")
                .col(big_integer("report_id"))
                .col(text("filename"))
                .col(text("content_type"))
                .col(big_integer("size"))
                .col(blob("data_enc"))
                .col(big_integer("created_at"))
                .take(),
        )
        .await?;
        index(
            m,
            "report_attachments",
            "ix_report_attachments_report",
            &["report_id"],
            false,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop(m, &["report_attachments", "damage_reports"]).await
    }
}

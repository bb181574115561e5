//! Dependencies, checks, probe locations and results, detector state, incidents.
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
            table("dependencies")
                .col(text("slug"))
                .col(text("name"))
                .col(text_null("name_en"))
                .col(text("category"))
                .col(text_null("platform"))
                .col(text_null("description"))
                // config | preset | merchant
                .col(text("source"))
                .col(big_integer_null("owner_merchant_id"))
                .col(boolean("enabled").default(true))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .take(),
        )
        .await?;
        index(m, "dependencies", "ux_dependencies_slug", &["slug"], true).await?;

        create(
            m,
            table("checks")
                .col(big_integer("dependency_id"))
                .col(text("name"))
                .col(text("kind"))
                // The whole CheckSettings as JSON: what the runner executes.
                .col(text("spec"))
                .col(big_integer_null("interval_ms"))
                .col(text_null("schedule"))
                .col(big_integer("timeout_ms"))
                .col(boolean("enabled").default(true))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .take(),
        )
        .await?;
        index(
            m,
            "checks",
            "ux_checks_dependency_name",
            &["dependency_id", "name"],
            true,
        )
        .await?;

        create(
            m,
            table("probe_locations")
                .col(text("name"))
                // local (a server process) | agent (a remote `meoktong agent`)
                .col(text("kind"))
                .col(text_null("token_hash"))
                .col(big_integer_null("last_seen_at"))
                .col(flag("network_suspect"))
                .col(big_integer("created_at"))
                .take(),
        )
        .await?;
        index(
            m,
            "probe_locations",
            "ux_probe_locations_name",
            &["name"],
            true,
        )
        .await?;

        // Raw results: pruned after probe.raw_retention_days; hourly rollups are kept.
        create(
            m,
            table("probe_results")
                .col(big_integer("check_id"))
                .col(big_integer("dependency_id"))
                .col(big_integer("location_id"))
                .col(big_integer("slot_at"))
                .col(big_integer("started_at"))
                .col(text("outcome"))
                .col(text_null("class"))
                .col(integer_null("status"))
                .col(text_null("provider_code"))
                .col(text_null("error"))
                .col(big_integer("duration_us"))
                .col(text_null("timings"))
                .take(),
        )
        .await?;
        index(
            m,
            "probe_results",
            "ix_probe_results_dependency_time",
            &["dependency_id", "started_at"],
            false,
        )
        .await?;
        index(
            m,
            "probe_results",
            "ix_probe_results_check_location_time",
            &["check_id", "location_id", "started_at"],
            false,
        )
        .await?;

        create(
            m,
            table("probe_rollups_hourly")
                .col(big_integer("check_id"))
                .col(big_integer("dependency_id"))
                .col(big_integer("location_id"))
                .col(big_integer("hour_at"))
                .col(big_integer("ok_count").default(0))
                .col(big_integer("degraded_count").default(0))
                .col(big_integer("fail_count").default(0))
                .col(big_integer("config_error_count").default(0))
                .col(big_integer("total_us").default(0))
                .col(big_integer("max_us").default(0))
                .take(),
        )
        .await?;
        index(
            m,
            "probe_rollups_hourly",
            "ux_rollups_check_location_hour",
            &["check_id", "location_id", "hour_at"],
            true,
        )
        .await?;
        index(
            m,
            "probe_rollups_hourly",
            "ix_rollups_dependency_hour",
            &["dependency_id", "hour_at"],
            false,
        )
        .await?;

        // One row per scheduled run among replicas sharing a location: the insert is the claim.
        create(
            m,
            table("check_slots")
                .col(big_integer("check_id"))
                .col(big_integer("location_id"))
                .col(big_integer("slot_at"))
                .col(text("holder"))
                .col(big_integer("claimed_at"))
                .take(),
        )
        .await?;
        index(
            m,
            "check_slots",
            "ux_check_slots",
            &["check_id", "location_id", "slot_at"],
            true,
        )
        .await?;

        // Named leases with expiry (e.g. the writer of one dependency's state).
        create(
            m,
            table("leases")
                .col(text("name"))
                .col(text("holder"))
                .col(big_integer("expires_at"))
                .take(),
        )
        .await?;
        index(m, "leases", "ux_leases_name", &["name"], true).await?;

        // The detector's per (check, location) tracker, stored between probes.
        create(
            m,
            table("detector_states")
                .col(big_integer("check_id"))
                .col(big_integer("location_id"))
                .col(text("state"))
                .col(text("tracker"))
                .col(big_integer("updated_at"))
                .take(),
        )
        .await?;
        index(
            m,
            "detector_states",
            "ux_detector_states",
            &["check_id", "location_id"],
            true,
        )
        .await?;

        create(
            m,
            table("dependency_states")
                .col(big_integer("dependency_id"))
                .col(text("state"))
                .col(big_integer("since"))
                // The incident tracker (JSON) and the open incident it refers to.
                .col(text("tracker"))
                .col(big_integer_null("open_incident_id"))
                .col(big_integer("version").default(0))
                .col(big_integer("updated_at"))
                .take(),
        )
        .await?;
        index(
            m,
            "dependency_states",
            "ux_dependency_states",
            &["dependency_id"],
            true,
        )
        .await?;

        create(
            m,
            table("incidents")
                .col(big_integer("dependency_id"))
                // down | degraded
                .col(text("severity"))
                // First failed probe of the streak; first good probe of the recovery streak.
                .col(big_integer("started_at"))
                .col(big_integer("confirmed_at"))
                .col(big_integer_null("resolved_at"))
                .col(integer("relapse_count").default(0))
                .col(big_integer_null("last_relapse_at"))
                .col(text("evidence"))
                .col(big_integer("created_at"))
                .col(big_integer("updated_at"))
                .take(),
        )
        .await?;
        index(
            m,
            "incidents",
            "ix_incidents_dependency_started",
            &["dependency_id", "started_at"],
            false,
        )
        .await?;
        index(
            m,
            "incidents",
            "ix_incidents_started",
            &["started_at"],
            false,
        )
        .await?;
        // One incident per dependency per start instant, whatever replicas race.
        index(
            m,
            "incidents",
            "ux_incidents_dependency_start",
            &["dependency_id", "severity", "started_at"],
            true,
        )
        .await?;

        // The evidence trail: confirmations, relapses, recoveries, sample errors.
        create(
            m,
            table("incident_events")
                .col(big_integer("incident_id"))
                .col(big_integer("at"))
                .col(text("kind"))
                .col(big_integer_null("location_id"))
                .col(big_integer_null("check_id"))
                .col(text("detail"))
                .take(),
        )
        .await?;
        index(
            m,
            "incident_events",
            "ix_incident_events_incident",
            &["incident_id", "at"],
            false,
        )
        .await?;
        Ok(())
    }

    async fn down(&self, m: &SchemaManager) -> Result<(), DbErr> {
        drop(
            m,
            &[
                "incident_events",
                "incidents",
                "dependency_states",
                "detector_states",
                "leases",
                "check_slots",
                "probe_rollups_hourly",
                "probe_results",
                "probe_locations",
                "checks",
                "dependencies",
            ],
        )
        .await
    }
}

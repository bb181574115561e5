//! Remote probe agents: the wire format of `/api/v1/agent/*` and the server's side of it.
//!
//! An agent (`meoktong agent`) runs on another network under its own probe location. It
//! fetches the enabled checks ([`AgentChecks`]), runs them on their schedules, and posts its
//! results in batches ([`AgentBatch`]). The server records each batch through a [`DetectEngine`]
//! for the agent's location, exactly as a local probe loop's, so the quorum across locations
//! counts the agent; the answer ([`AgentAck`]) carries the confirmation re-checks the detector
//! asks for. Each result first claims its slot in `check_slots`: a batch posted twice (its
//! answer was lost) is recorded once, and agents sharing a location share its slots.
use crate::canary::{record_remote_verdict, stored_health};
use crate::detect::{CheckInfo, DetectEngine, Probed};
use crate::runner::{load_checks, to_outcome};
use meoktong_config::{CheckSettings, Settings};
use meoktong_domain::detector::DetectorPolicy;
use meoktong_domain::incident::IncidentPolicy;
use meoktong_metrics::Metrics;
use meoktong_probe::ProbeReport;
use meoktong_storage::{Db, StorageError, probes};
use serde::{Deserialize, Serialize};
use std::sync::Arc;

/// `GET /api/v1/agent/checks`: what the agent runs.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentChecks {
    /// The location the token reports for.
    pub location: String,
    pub checks: Vec<AgentCheck>,
    /// The service time zone cron schedules are read in (absent from older servers: UTC).
    #[serde(default)]
    pub time_zone: Option<String>,
    /// The own-network guard's canaries (`probe.canaries`): the agent probes them every 30 s
    /// and at once when a check fails, and says in each batch whether its network is suspect.
    #[serde(default)]
    pub canaries: Vec<String>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct AgentCheck {
    pub id: i64,
    pub dependency: String,
    #[serde(default)]
    pub dependency_id: i64,
    /// The check as configured (`${VAR}` already expanded by the server), with its
    /// `interval` or `schedule`.
    pub check: CheckSettings,
    /// Operator-written checks may reach private addresses; merchants' only if the server allows.
    pub allow_private: bool,
}

/// `POST /api/v1/agent/results`: a batch of probe results, oldest first.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct AgentBatch {
    pub results: Vec<AgentResult>,
    /// The agent's canaries' latest verdict: its own network is suspect (its results are then
    /// recorded but set aside). Absent when the agent has no canaries (or is older).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network_suspect: Option<bool>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AgentResult {
    pub check_id: i64,
    /// The scheduled time of the run; for a confirmation re-check, its due time.
    pub slot_at: i64,
    #[serde(default)]
    pub confirmation: bool,
    pub report: ProbeReport,
}

/// The answer to a batch.
#[derive(Debug, Clone, Default, Serialize, Deserialize, PartialEq)]
pub struct AgentAck {
    /// Results recorded.
    pub accepted: usize,
    /// Results already recorded (a batch sent again) or of checks no longer enabled.
    pub ignored: usize,
    /// Confirmation re-checks the detector asks for.
    pub confirm: Vec<ConfirmRequest>,
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq)]
pub struct ConfirmRequest {
    pub check_id: i64,
    pub after_ms: u64,
}

/// Most results accepted in one batch.
pub const MAX_BATCH: usize = 1000;

/// The checks an agent runs: every enabled check.
pub async fn checks_for_agent(
    db: &Db,
    settings: &Settings,
    location: &str,
) -> Result<AgentChecks, StorageError> {
    let (infos, loaded) = load_checks(db, crate::schedule::service_time_zone(settings)).await?;
    let mut checks: Vec<AgentCheck> = loaded
        .into_iter()
        .map(|(id, l)| AgentCheck {
            id,
            dependency: infos
                .get(&id)
                .map(|i| i.dependency_slug.clone())
                .unwrap_or_default(),
            dependency_id: infos.get(&id).map(|i| i.dependency_id).unwrap_or_default(),
            check: l.settings,
            allow_private: l.from_config || settings.probe.allow_private_targets,
        })
        .collect();
    checks.sort_by_key(|c| c.id);
    Ok(AgentChecks {
        location: location.to_string(),
        checks,
        time_zone: Some(settings.notify.time_zone.clone()),
        canaries: settings.probe.canaries.clone(),
    })
}

/// Who the results come from.
pub struct AgentSource<'a> {
    pub location_id: i64,
    pub location_name: &'a str,
    /// The name slot claims are recorded under (e.g. `agent:<token id>`).
    pub holder: &'a str,
}

/// Records a batch from an agent and applies it to detection, at `now`.
pub async fn ingest(
    db: &Db,
    metrics: &Metrics,
    settings: &Settings,
    source: &AgentSource<'_>,
    mut batch: AgentBatch,
    now: i64,
) -> Result<AgentAck, StorageError> {
    let (infos, _) = load_checks(db, crate::schedule::service_time_zone(settings)).await?;
    if let Some(suspect) = batch.network_suspect {
        record_remote_verdict(
            db,
            metrics,
            source.location_id,
            source.location_name,
            suspect,
            now,
        )
        .await?;
    }
    let health = Arc::new(stored_health(db, source.location_id).await?);
    let engine = DetectEngine::new(
        db.clone(),
        metrics.clone(),
        DetectorPolicy {
            confirm_after: settings.detection.confirm_after.clone(),
            recovery_successes: settings.detection.recovery_successes,
        },
        IncidentPolicy {
            reopen_window: settings.detection.reopen_window,
        },
        source.location_id,
        source.location_name.to_string(),
        infos.into_values().collect::<Vec<CheckInfo>>(),
    )
    .with_health(health);
    batch
        .results
        .sort_by_key(|r| (r.report.started_at, r.check_id));
    let mut ack = AgentAck::default();
    // Confirmations are keyed apart from scheduled slots (negative), so a re-check due at a
    // slot's time never collides with it.
    let key = |r: &AgentResult| {
        if r.confirmation {
            -r.slot_at
        } else {
            r.slot_at
        }
    };
    let known: Vec<&AgentResult> = batch
        .results
        .iter()
        .filter(|r| engine.check(r.check_id).is_some())
        .collect();
    ack.ignored += batch.results.len() - known.len();
    let slots: Vec<(i64, i64)> = known.iter().map(|r| (r.check_id, key(r))).collect();
    let mut won = probes::claim_slots(db, source.location_id, &slots, source.holder, now).await?;
    let items: Vec<Probed> = known
        .iter()
        .filter(|r| won.remove(&(r.check_id, key(r)))) // once, even if sent twice in the batch
        .map(|r| Probed {
            check_id: r.check_id,
            slot_at: r.slot_at,
            outcome: to_outcome(&r.report),
        })
        .collect();
    ack.ignored += known.len() - items.len();
    ack.accepted = items.len();
    ack.confirm = engine
        .process_batch(&items, now)
        .await?
        .into_iter()
        .map(|(check_id, after)| ConfirmRequest {
            check_id,
            after_ms: u64::try_from(after.as_millis()).unwrap_or(u64::MAX),
        })
        .collect();
    probes::touch_location(db, source.location_id, now).await?;
    Ok(ack)
}

//! Probe result → stored result → detector → dependency state (quorum) → incidents.
//!
//! The decision logic is the domain crate's; this module loads its state, applies it and
//! stores the effects in one transaction, with an optimistic version check on the
//! dependency's state so replicas never open the same incident twice.
use meoktong_domain::detector::{DetectorPolicy, Effect, Observation, Tracker};
use meoktong_domain::incident::{IncidentPolicy, IncidentTracker};
use meoktong_domain::{DepState, FailureClass, Outcome};
use meoktong_metrics::Metrics;
use meoktong_storage::probes::{self, ResultRow};
use meoktong_storage::{Db, StorageError, incidents};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Notify;

use crate::canary::LocationHealth;

mod decide;
mod views;

/// One probe's verdict as the engine needs it (independent of how it was measured).
#[derive(Debug, Clone, PartialEq)]
pub struct ProbeOutcome {
    pub started_at: i64,
    pub outcome: Outcome,
    pub class: Option<FailureClass>,
    pub status: Option<u16>,
    pub provider_code: Option<String>,
    pub error: Option<String>,
    pub duration: Duration,
    pub timings_json: Option<String>,
}

/// One probe of a check to record: the slot it ran for and its verdict.
#[derive(Debug, Clone, PartialEq)]
pub struct Probed {
    pub check_id: i64,
    pub slot_at: i64,
    pub outcome: ProbeOutcome,
}

/// What the engine knows of a check.
#[derive(Debug, Clone)]
pub struct CheckInfo {
    pub check_id: i64,
    pub check_name: String,
    pub dependency_id: i64,
    pub dependency_slug: String,
    /// The dependency's platform (`kakao`, `naver`, …): a failure re-checks its siblings.
    pub platform: Option<String>,
    pub period: Duration,
}

/// Beyond a check's period, how long its probing may fall silent before the gap guard
/// forgets the streaks in progress ([`Tracker::observe_after_gap`]): slots are run on their
/// phase, so only a stall of ours (process down, database unreachable, a scheduler stall, a
/// network-suspect spell) leaves a silence this long.
pub const GAP_SLACK: Duration = Duration::from_secs(5);

/// A sibling probed this recently is not re-checked again for another's failure.
const CORRELATED_FRESH_MS: i64 = 1_000;

/// The silence after which a check's streaks are forgotten.
pub fn max_gap(period: Duration) -> i64 {
    i64::try_from((period + GAP_SLACK).as_millis()).unwrap_or(i64::MAX)
}

/// The stored state of a dependency: the incident tracker and the ids of its open records.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(default)]
struct StoredDependency {
    tracker: IncidentTracker,
    down_incident_id: Option<i64>,
    degraded_incident_id: Option<i64>,
}

pub struct DetectEngine {
    db: Db,
    metrics: Metrics,
    policy: DetectorPolicy,
    incident_policy: IncidentPolicy,
    location_id: i64,
    location_name: String,
    checks: HashMap<i64, CheckInfo>,
    checks_of_dependency: HashMap<i64, Vec<i64>>,
    /// platform → its checks (of every dependency on it).
    checks_of_platform: HashMap<String, Vec<i64>>,
    location_names: HashMap<i64, String>,
    /// This location's own network (the canaries' verdict): while suspect, results are only
    /// recorded.
    health: Arc<LocationHealth>,
    /// Woken when an incident opens, relapses or resolves (the notification planner waits).
    pub incident_changed: Arc<Notify>,
    /// Woken when a probe fails: the canaries are probed at once.
    pub canaries_wanted: Arc<Notify>,
}

impl DetectEngine {
    pub fn new(
        db: Db,
        metrics: Metrics,
        policy: DetectorPolicy,
        incident_policy: IncidentPolicy,
        location_id: i64,
        location_name: String,
        checks: Vec<CheckInfo>,
    ) -> DetectEngine {
        let mut checks_of_dependency: HashMap<i64, Vec<i64>> = HashMap::new();
        let mut checks_of_platform: HashMap<String, Vec<i64>> = HashMap::new();
        for c in &checks {
            checks_of_dependency
                .entry(c.dependency_id)
                .or_default()
                .push(c.check_id);
            if let Some(platform) = &c.platform {
                checks_of_platform
                    .entry(platform.clone())
                    .or_default()
                    .push(c.check_id);
            }
        }
        let mut location_names = HashMap::new();
        location_names.insert(location_id, location_name.clone());
        DetectEngine {
            db,
            metrics,
            policy,
            incident_policy,
            location_id,
            location_name,
            checks: checks.into_iter().map(|c| (c.check_id, c)).collect(),
            checks_of_dependency,
            checks_of_platform,
            location_names,
            health: Arc::new(LocationHealth::default()),
            incident_changed: Arc::new(Notify::new()),
            canaries_wanted: Arc::new(Notify::new()),
        }
    }

    /// Shares the canaries' verdict on this location's network (see [`crate::canary`]).
    pub fn with_health(mut self, health: Arc<LocationHealth>) -> DetectEngine {
        self.health = health;
        self
    }

    pub fn health(&self) -> Arc<LocationHealth> {
        self.health.clone()
    }

    pub fn metrics(&self) -> &Metrics {
        &self.metrics
    }

    pub fn check(&self, check_id: i64) -> Option<&CheckInfo> {
        self.checks.get(&check_id)
    }

    /// Records one probe and applies its consequences. Returns the delay of the confirmation
    /// re-check the detector asks for, if any.
    pub async fn process(
        &self,
        check_id: i64,
        slot_at: i64,
        p: &ProbeOutcome,
        now: i64,
    ) -> Result<Option<Duration>, StorageError> {
        let item = Probed {
            check_id,
            slot_at,
            outcome: p.clone(),
        };
        Ok(self
            .process_batch(std::slice::from_ref(&item), now)
            .await?
            .into_iter()
            .find(|(c, _)| *c == check_id)
            .map(|(_, after)| after))
    }

    /// Records a batch of probes and applies their consequences: the results, their rollups
    /// and every touched tracker in one transaction (trackers locked on PostgreSQL, so two
    /// writers of one check's tracker at this location take turns), then, for the rare
    /// tracker that changed state, the dependency's decision in its own transaction. Probes
    /// of unknown checks are skipped. Returns the confirmation re-checks asked for (check id,
    /// delay), at most one per check.
    pub async fn process_batch(
        &self,
        items: &[Probed],
        now: i64,
    ) -> Result<Vec<(i64, Duration)>, StorageError> {
        let mut known: Vec<(&CheckInfo, &Probed)> = items
            .iter()
            .filter_map(|i| self.checks.get(&i.check_id).map(|info| (info, i)))
            .collect();
        if known.is_empty() {
            return Ok(Vec::new());
        }
        // A check's probes are observed in the order they ran.
        known.sort_by_key(|(_, i)| (i.outcome.started_at, i.check_id));
        for (info, i) in &known {
            self.observe_metrics(info, &i.outcome);
        }
        let rows: Vec<ResultRow> = known
            .iter()
            .map(|(info, i)| self.row(info, i.slot_at, &i.outcome))
            .collect();
        if known
            .iter()
            .any(|(_, i)| i.outcome.outcome == Outcome::Fail)
        {
            // Is it them or us? The canaries answer before the failure can be confirmed.
            self.canaries_wanted.notify_one();
        }
        if self.health.is_suspect() {
            // Our own network is failing: what we see says nothing about the providers. The
            // results are kept for the record; no tracker moves, so nothing opens or closes.
            probes::record_results(&self.db, &rows).await?;
            return Ok(Vec::new());
        }
        let check_ids: Vec<i64> = known.iter().map(|(info, _)| info.check_id).collect();
        let txn = self.db.begin_write().await?;
        probes::insert_results(&self.db, &txn, &rows).await?;
        let stored =
            probes::trackers_for_update(&self.db, &txn, self.location_id, &check_ids).await?;
        let mut trackers: HashMap<i64, Tracker> = HashMap::with_capacity(check_ids.len());
        let mut after: Vec<(&CheckInfo, &Probed, Tracker, Tracker, Vec<Effect>)> = Vec::new();
        let mut last_confirm: HashMap<i64, Option<Duration>> = HashMap::new();
        // Checks of a down dependency that answered well (see the correlated recovery below).
        let mut recovering: Vec<&CheckInfo> = Vec::new();
        for (info, i) in &known {
            let tracker = trackers.entry(info.check_id).or_insert_with(|| {
                stored
                    .get(&info.check_id)
                    .and_then(|json| serde_json::from_str(json).ok())
                    .unwrap_or_default()
            });
            let obs = Observation {
                at: i.outcome.started_at,
                outcome: i.outcome.outcome,
                class: i.outcome.class,
            };
            let max_gap = max_gap(info.period);
            // A network-suspect spell of this location is a gap too, however short.
            let across_spell = self.health.cleared_at().is_some_and(|cleared| {
                tracker
                    .last_observed_at()
                    .is_some_and(|last| last < cleared)
            });
            if across_spell {
                *tracker = tracker.forget_streaks();
            }
            if across_spell || tracker.gap_before(obs.at, max_gap) {
                tracing::info!(
                    dependency.slug = %info.dependency_slug,
                    check.name = %info.check_name,
                    last_observed_at = ?tracker.last_observed_at(),
                    at = obs.at,
                    "a gap in our own probing: the streaks in progress start again"
                );
            }
            let (next, effects) = tracker.observe_after_gap(&self.policy, &obs, max_gap);
            // A check's latest probe in the batch decides whether it is re-checked.
            let confirm = effects.iter().find_map(|e| match e {
                Effect::ScheduleConfirm { after } => Some(*after),
                _ => None,
            });
            last_confirm.insert(info.check_id, confirm);
            let before = std::mem::replace(tracker, next.clone());
            if before.state() == DepState::Down && i.outcome.outcome == Outcome::Ok {
                recovering.push(*info);
            }
            if !effects.is_empty() || before.state() != next.state() {
                after.push((info, i, before, next, effects));
            }
        }
        let mut to_save = Vec::with_capacity(trackers.len());
        for (check_id, t) in &trackers {
            let json = serde_json::to_string(t).map_err(|e| StorageError::Data(e.to_string()))?;
            to_save.push((*check_id, t.state().as_str().to_string(), json));
        }
        to_save.sort_unstable_by_key(|(c, _, _)| *c);
        probes::save_trackers(&txn, self.location_id, &to_save, now).await?;
        txn.commit().await?;

        let started: Vec<&CheckInfo> = after
            .iter()
            .filter(|(_, i, before, next, _)| {
                starts_a_streak(before, next) && i.outcome.outcome == Outcome::Fail
            })
            .map(|(info, ..)| *info)
            .collect();
        let mut confirms: Vec<(i64, Duration)> = last_confirm
            .into_iter()
            .filter_map(|(check_id, after)| after.map(|a| (check_id, a)))
            .collect();
        for sibling in self.correlated_rechecks(&started, now).await? {
            if !confirms.iter().any(|(c, _)| *c == sibling) {
                confirms.push((sibling, Duration::ZERO));
            }
        }
        // Correlated recovery: a check of a platform back at this location re-checks the
        // platform's checks still down here at once and at the confirmation delays, so a
        // platform that comes back together is told back together (a 5-minute check would
        // otherwise stay down for two of its intervals after the rest).
        let delays = self.recovery_recheck_delays();
        for sibling in self.correlated_recovery_rechecks(&recovering, now).await? {
            for delay in &delays {
                if !confirms.iter().any(|(c, d)| *c == sibling && d == delay) {
                    confirms.push((sibling, *delay));
                }
            }
        }
        confirms.sort_unstable_by_key(|(c, d)| (*c, *d));
        // A check's first verdict, up, on a dependency already up changes nothing: no quorum
        // to recompute (it can only add an up vote) and no location to flag. At start-up every
        // check makes this step once, so it is decided here for the whole batch in one query.
        let first_up = |before: &Tracker, next: &Tracker| {
            before.state() == DepState::Unknown && next.state() == DepState::Up
        };
        let mut deps: Vec<i64> = after
            .iter()
            .filter(|(_, _, before, next, _)| first_up(before, next))
            .map(|(info, ..)| info.dependency_id)
            .collect();
        deps.sort_unstable();
        deps.dedup();
        let dep_states = if deps.is_empty() {
            HashMap::new()
        } else {
            incidents::dependency_states(&self.db.conn, &deps).await?
        };
        for (info, i, before, next, effects) in after {
            if first_up(&before, &next)
                && dep_states.get(&info.dependency_id).map(String::as_str)
                    == Some(DepState::Up.as_str())
            {
                continue;
            }
            let p = &i.outcome;
            let mut changed = before.state() != next.state();
            for e in &effects {
                match e {
                    Effect::ScheduleConfirm { .. } => {}
                    Effect::ConfigProblem { .. } => tracing::error!(
                        dependency.slug = %info.dependency_slug,
                        check.name = %info.check_name,
                        probe.status = ?p.status,
                        probe.provider_code = ?p.provider_code,
                        "configuration problem: the provider refused our credentials or quota (not an outage; merchants are not told)"
                    ),
                    Effect::LocalNetworkProblem { .. } => tracing::warn!(
                        location = %self.location_name,
                        dependency.slug = %info.dependency_slug,
                        "this probe location's own network looks broken"
                    ),
                    Effect::FalseAlarm { .. } => tracing::info!(
                        dependency.slug = %info.dependency_slug,
                        check.name = %info.check_name,
                        "a failure was not confirmed by the re-checks (no incident)"
                    ),
                    Effect::BecameDown { .. }
                    | Effect::BecameDegraded { .. }
                    | Effect::Recovered { .. }
                    | Effect::RecoveredFromDegraded { .. } => changed = true,
                }
            }
            if changed {
                // The evidence time of a recovery is the first good probe of its streak.
                let recovered_since = effects.iter().find_map(|e| match e {
                    Effect::Recovered { since, .. }
                    | Effect::RecoveredFromDegraded { since, .. } => Some(*since),
                    _ => None,
                });
                self.decide_dependency(info, &next, recovered_since, p, now)
                    .await?;
            }
        }
        Ok(confirms)
    }

    /// Correlated confirmation: the checks of every dependency on the platform of a check that
    /// just began failing here are re-checked at once, through the usual confirmation path,
    /// so a platform-wide outage is confirmed within one confirmation cycle whatever each
    /// check's interval. A sibling already down or confirming here, or probed within the last
    /// second, is left alone. Each re-check is a real observation: a failing one begins its
    /// own streak (and its own `confirm_after` re-checks follow); the sibling's regular slots
    /// keep their phase.
    async fn correlated_rechecks(
        &self,
        started: &[&CheckInfo],
        now: i64,
    ) -> Result<Vec<i64>, StorageError> {
        let siblings = self
            .platform_siblings(started, |t| {
                !(t.state() == DepState::Down || t.is_confirming() || fresh(t, now))
            })
            .await?;
        if !siblings.is_empty() {
            tracing::info!(
                checks = ?siblings,
                "a check began failing: re-checking its platform's other checks at once"
            );
        }
        Ok(siblings)
    }

    /// When a correlated recovery re-checks a check: at once, then at each `confirm_after`
    /// delay (each counted from the previous attempt), as many as recovery needs.
    fn recovery_recheck_delays(&self) -> Vec<Duration> {
        let mut out = vec![Duration::ZERO];
        let mut at = Duration::ZERO;
        for d in &self.policy.confirm_after {
            at += *d;
            out.push(at);
        }
        out.truncate(self.policy.recovery_successes.max(1) as usize + 1);
        out
    }

    /// Correlated recovery: the checks of the platforms of `recovering` (checks of a down
    /// dependency that just answered well here) that are still down here and were not probed
    /// within the last second. Their re-checks are real observations: one that still fails
    /// keeps its dependency down.
    async fn correlated_recovery_rechecks(
        &self,
        recovering: &[&CheckInfo],
        now: i64,
    ) -> Result<Vec<i64>, StorageError> {
        let siblings = self
            .platform_siblings(recovering, |t| {
                t.state() == DepState::Down && !fresh(t, now)
            })
            .await?;
        if !siblings.is_empty() {
            tracing::info!(
                checks = ?siblings,
                "a check of a down platform answered again: re-checking the platform's other down checks at once"
            );
        }
        Ok(siblings)
    }

    /// The other checks of the platforms of `of` whose tracker at this location is `wanted`.
    async fn platform_siblings(
        &self,
        of: &[&CheckInfo],
        wanted: impl Fn(&Tracker) -> bool,
    ) -> Result<Vec<i64>, StorageError> {
        let mut siblings: Vec<i64> = of
            .iter()
            .filter_map(|info| info.platform.as_ref())
            .filter_map(|p| self.checks_of_platform.get(p))
            .flatten()
            .copied()
            .filter(|c| !of.iter().any(|s| s.check_id == *c))
            .collect();
        siblings.sort_unstable();
        siblings.dedup();
        if siblings.is_empty() {
            return Ok(siblings);
        }
        let stored = probes::trackers_of_checks(&self.db.conn, &siblings).await?;
        // A sibling never probed here has a fresh tracker (unknown state).
        let here: HashMap<i64, Tracker> = stored
            .iter()
            .filter(|row| row.location_id == self.location_id)
            .map(|row| {
                let t = serde_json::from_str(&row.tracker).unwrap_or_default();
                (row.check_id, t)
            })
            .collect();
        siblings.retain(|c| wanted(&here.get(c).cloned().unwrap_or_default()));
        Ok(siblings)
    }

    fn observe_metrics(&self, info: &CheckInfo, p: &ProbeOutcome) {
        self.metrics.probes.observe(
            &info.dependency_slug,
            &info.check_name,
            &self.location_name,
            p.duration.as_secs_f64(),
            p.outcome.as_str(),
        );
    }

    fn row(&self, info: &CheckInfo, slot_at: i64, p: &ProbeOutcome) -> ResultRow {
        ResultRow {
            check_id: info.check_id,
            dependency_id: info.dependency_id,
            location_id: self.location_id,
            slot_at,
            started_at: p.started_at,
            outcome: p.outcome.as_str().to_string(),
            class: p.class.map(|c| format!("{c:?}").to_lowercase()),
            status: p.status.map(i32::from),
            provider_code: p.provider_code.clone(),
            error: p.error.clone(),
            duration_us: p.duration.as_micros() as i64,
            timings: p.timings_json.clone(),
        }
    }
}

/// Whether an observation began a failure streak (a confirmation, or straight to down when no
/// re-checks are configured).
/// Probed at this location within the last second: a re-check now would tell nothing new.
fn fresh(t: &Tracker, now: i64) -> bool {
    t.last_observed_at()
        .is_some_and(|at| now.saturating_sub(at) < CORRELATED_FRESH_MS)
}

fn starts_a_streak(before: &Tracker, next: &Tracker) -> bool {
    !before.is_confirming()
        && before.state() != DepState::Down
        && (next.is_confirming() || next.state() == DepState::Down)
}

//! A dependency's decision: every location's view → quorum → incident effects → stored state.
//!
//! [`DetectEngine::decide_dependency`] reads as its steps: gather each location's view of the
//! dependency, take the quorum (flagging locations that disagree), date the change, let the
//! pure incident tracker say what to do, and write its effects and the new state in one
//! transaction guarded by the state row's version (a replica that lost the race looks again).
use super::views::{LocationState, Views, evidence_time, worst};
use super::{CheckInfo, DetectEngine, ProbeOutcome, StoredDependency};
use meoktong_domain::DepState;
use meoktong_domain::detector::Tracker;
use meoktong_domain::incident::IncidentEffect;
use meoktong_domain::quorum::{self, LocationView, QuorumDecision};
use meoktong_storage::entity::dependency_states;
use meoktong_storage::sea_orm::DatabaseTransaction;
use meoktong_storage::{StorageError, incidents, probes};
use std::collections::HashMap;
use std::time::Duration;

/// The first failed probe of an incident, as its evidence.
struct FirstFailure {
    location_id: i64,
    check_id: i64,
    sample: serde_json::Value,
}

/// Attempts before giving up when other replicas keep changing the dependency's state.
const DECIDE_ATTEMPTS: usize = 5;

/// What a change of state is about: the dependency, the probe that caused the decision and
/// every location's view behind it.
struct Change<'a> {
    info: &'a CheckInfo,
    probe: &'a ProbeOutcome,
    views: &'a Views,
    state: DepState,
    now: i64,
}

impl DetectEngine {
    /// Recomputes the dependency's state across its checks and locations and applies the
    /// incident effects. Retries when another replica changed the state meanwhile.
    pub(super) async fn decide_dependency(
        &self,
        info: &CheckInfo,
        this_tracker: &Tracker,
        recovered_since: Option<i64>,
        p: &ProbeOutcome,
        now: i64,
    ) -> Result<(), StorageError> {
        let (check_ids, period) = self.dependency_checks(info);
        for _attempt in 0..DECIDE_ATTEMPTS {
            let views = self.location_views(&check_ids).await?;
            let decision = quorum::decide(&views.views, now, period);
            self.flag_dissenters(info, &views, &decision).await?;
            let Some(row) = incidents::dependency_state(&self.db.conn, info.dependency_id).await?
            else {
                return Ok(());
            };
            let current = DepState::parse(&row.state).unwrap_or_default();
            if decision.state == current || decision.state == DepState::Unknown {
                return Ok(());
            }
            let evidence_at =
                evidence_time(&views, decision.state, recovered_since, this_tracker, p);
            let change = Change {
                info,
                probe: p,
                views: &views,
                state: decision.state,
                now,
            };
            if self
                .apply_decision(&change, &row, decision.state, evidence_at)
                .await?
            {
                tracing::info!(
                    dependency.slug = %info.dependency_slug,
                    from = %current,
                    to = %decision.state,
                    at = evidence_at,
                    "dependency state changed"
                );
                return Ok(());
            }
            // Another replica decided first; look again.
        }
        Err(StorageError::Conflict(format!(
            "dependency {} state kept changing under us",
            info.dependency_slug
        )))
    }

    /// The dependency's checks, and the longest of their periods (the quorum's freshness).
    fn dependency_checks(&self, info: &CheckInfo) -> (Vec<i64>, Duration) {
        let check_ids = self
            .checks_of_dependency
            .get(&info.dependency_id)
            .cloned()
            .unwrap_or_default();
        let period = check_ids
            .iter()
            .filter_map(|c| self.checks.get(c))
            .map(|c| c.period)
            .max()
            .unwrap_or(info.period);
        (check_ids, period)
    }

    /// Each location's view of the dependency, from the stored trackers of its checks. A
    /// location whose canaries do not answer is left out: the quorum is taken among the
    /// healthy ones.
    async fn location_views(&self, check_ids: &[i64]) -> Result<Views, StorageError> {
        let trackers = probes::trackers_of_checks(&self.db.conn, check_ids).await?;
        let suspect = probes::network_suspect_locations(&self.db.conn).await?;
        let mut per_location: HashMap<i64, LocationState> = HashMap::new();
        for t in &trackers {
            let tr: Tracker = serde_json::from_str(&t.tracker).unwrap_or_default();
            let e = per_location.entry(t.location_id).or_insert(LocationState {
                state: DepState::Unknown,
                reported_at: 0,
                troubled_since: None,
                set_aside: suspect.contains(&t.location_id),
            });
            e.state = worst(e.state, tr.state());
            e.reported_at = e.reported_at.max(t.updated_at);
            if matches!(tr.state(), DepState::Down | DepState::Degraded)
                && let Some(since) = tr.since()
            {
                e.troubled_since = match e.troubled_since {
                    Some(earlier) if earlier.0 <= since => Some(earlier),
                    _ => Some((since, t.check_id)),
                };
            }
        }
        let names: HashMap<i64, String> = if per_location.len() > 1 {
            probes::locations(&self.db)
                .await?
                .into_iter()
                .map(|l| (l.id, l.name))
                .collect()
        } else {
            self.location_names.clone()
        };
        let views = per_location
            .iter()
            .filter(|(_, s)| !s.set_aside)
            .map(|(loc, s)| LocationView {
                location: names
                    .get(loc)
                    .cloned()
                    .unwrap_or_else(|| format!("location-{loc}")),
                state: s.state,
                reported_at: s.reported_at,
            })
            .collect();
        Ok(Views {
            per_location,
            names,
            views,
        })
    }

    /// With several locations, one that calls the dependency down while the others see it up
    /// is flagged for operators: its own network may be the one failing.
    async fn flag_dissenters(
        &self,
        info: &CheckInfo,
        views: &Views,
        decision: &QuorumDecision,
    ) -> Result<(), StorageError> {
        if views.per_location.len() > 1 {
            for (id, name) in &views.names {
                if views.per_location.contains_key(id) {
                    let suspect = decision.dissenting.contains(name);
                    probes::set_network_suspect(&self.db, *id, suspect).await?;
                }
            }
        }
        if !decision.dissenting.is_empty() {
            tracing::warn!(
                dependency.slug = %info.dependency_slug,
                locations = ?decision.dissenting,
                "locations disagree with the quorum; their own network may be failing"
            );
        }
        Ok(())
    }

    /// Feeds the new state to the dependency's incident tracker and writes what it says, with
    /// the new state, in one transaction. `false` when another replica wrote first.
    async fn apply_decision(
        &self,
        change: &Change<'_>,
        row: &dependency_states::Model,
        state: DepState,
        evidence_at: i64,
    ) -> Result<bool, StorageError> {
        let stored: StoredDependency = serde_json::from_str(&row.tracker).unwrap_or_default();
        let (next_tracker, effects) =
            stored
                .tracker
                .observe(&self.incident_policy, state, evidence_at, change.now);
        let mut next = StoredDependency {
            tracker: next_tracker,
            ..stored
        };
        let txn = self.db.begin_write().await?;
        let mut opened = false;
        for e in &effects {
            match *e {
                IncidentEffect::Open { started_at } => {
                    next.down_incident_id = Some(self.open_down(&txn, change, started_at).await?);
                    opened = true;
                }
                IncidentEffect::Relapse {
                    relapsed_at,
                    notify,
                    ..
                } => {
                    if let Some(id) = next.down_incident_id {
                        self.relapse(&txn, change, id, relapsed_at, notify).await?;
                    }
                }
                IncidentEffect::Resolve { ended_at, .. } => {
                    if let Some(id) = next.down_incident_id {
                        self.resolve_down(&txn, change, id, ended_at).await?;
                    }
                }
                IncidentEffect::DegradedOpen { started_at } => {
                    next.degraded_incident_id =
                        Some(self.open_degraded(&txn, change, started_at).await?);
                }
                IncidentEffect::DegradedResolve {
                    ended_at,
                    superseded,
                } => {
                    if let Some(id) = next.degraded_incident_id.take() {
                        self.resolve_degraded(&txn, change, id, ended_at, superseded)
                            .await?;
                    }
                }
            }
        }
        let json = serde_json::to_string(&next).map_err(|e| StorageError::Data(e.to_string()))?;
        let open_id = next.tracker.open_incident().and(next.down_incident_id);
        let written = incidents::update_dependency_state(
            &txn,
            change.info.dependency_id,
            row.version,
            state.as_str(),
            evidence_at,
            &json,
            open_id,
            change.now,
        )
        .await?;
        if !written {
            txn.rollback().await?;
            return Ok(false);
        }
        txn.commit().await?;
        let slug = change.info.dependency_slug.as_str();
        self.metrics
            .dependency_state
            .with_label_values(&[slug])
            .set(state.gauge_value());
        if opened {
            self.metrics
                .incidents_opened
                .with_label_values(&[slug])
                .inc();
        }
        if !effects.is_empty() {
            self.incident_changed.notify_waiters();
        }
        Ok(true)
    }

    /// A new outage record, with its first failure (the first failed probe's own time,
    /// error and location) and its confirmation (every location's view).
    async fn open_down(
        &self,
        txn: &DatabaseTransaction,
        c: &Change<'_>,
        started_at: i64,
    ) -> Result<i64, StorageError> {
        let first = self.first_failure(txn, c).await?;
        let mut evidence = self.evidence(c, &first);
        // Additive (issue 20): an outage that opens inside a scheduled maintenance window
        // is told and counted as maintenance.
        if meoktong_storage::status_comms::maintenance::active_at(
            txn,
            c.info.dependency_id,
            started_at,
        )
        .await?
        {
            evidence["maintenance"] = serde_json::Value::Bool(true);
        }
        let id = incidents::open(
            txn,
            c.info.dependency_id,
            "down",
            started_at,
            c.now,
            &evidence,
        )
        .await?;
        incidents::add_event(
            txn,
            id,
            started_at,
            "first_failure",
            Some(first.location_id),
            Some(first.check_id),
            &first.sample,
        )
        .await?;
        let confirmed = serde_json::json!({
            "locations": c.views.to_json(c.state),
            "agreed": c.views.agreeing(c.state),
        });
        self.event(txn, c, id, c.now, "confirmed_down", &confirmed)
            .await?;
        Ok(id)
    }

    /// The first failed probe behind the decision, as stored when it was made; the probe at
    /// hand when that row is gone (pruned) or the decision has no failure behind it.
    async fn first_failure(
        &self,
        txn: &DatabaseTransaction,
        c: &Change<'_>,
    ) -> Result<FirstFailure, StorageError> {
        if let Some((location_id, check_id, at)) = c.views.first_failure(c.state)
            && let Some(row) = probes::result_at(txn, check_id, location_id, at).await?
        {
            let check = self
                .checks
                .get(&check_id)
                .map(|i| i.check_name.clone())
                .unwrap_or_else(|| format!("check-{check_id}"));
            return Ok(FirstFailure {
                location_id,
                check_id,
                sample: serde_json::json!({
                    "check": check,
                    "location": c.views.name(location_id),
                    "at": row.started_at,
                    "outcome": row.outcome,
                    "status": row.status,
                    "provider_code": row.provider_code,
                    "error": row.error,
                    "latency_ms": row.duration_us / 1000,
                }),
            });
        }
        Ok(FirstFailure {
            location_id: self.location_id,
            check_id: c.info.check_id,
            sample: self.sample(c.info, c.probe),
        })
    }

    /// The last outage came back within the reopen window: the same record reopens.
    async fn relapse(
        &self,
        txn: &DatabaseTransaction,
        c: &Change<'_>,
        id: i64,
        relapsed_at: i64,
        notify: bool,
    ) -> Result<(), StorageError> {
        incidents::relapse(txn, id, relapsed_at).await?;
        let detail = serde_json::json!({
            "notify": notify,
            "sample": self.sample(c.info, c.probe),
            "locations": c.views.to_json(c.state),
            "agreed": c.views.agreeing(c.state),
        });
        self.event(txn, c, id, relapsed_at, "relapsed", &detail)
            .await
    }

    /// The outage is over at its first good probe.
    async fn resolve_down(
        &self,
        txn: &DatabaseTransaction,
        c: &Change<'_>,
        id: i64,
        ended_at: i64,
    ) -> Result<(), StorageError> {
        incidents::resolve(txn, id, ended_at, c.now).await?;
        let detail = serde_json::json!({
            "first_good_probe": ended_at,
            "locations": c.views.to_json(c.state),
            "agreed": c.views.agreeing(c.state),
        });
        self.event(txn, c, id, ended_at, "recovered", &detail).await
    }

    /// A new degraded episode.
    async fn open_degraded(
        &self,
        txn: &DatabaseTransaction,
        c: &Change<'_>,
        started_at: i64,
    ) -> Result<i64, StorageError> {
        let first = self.first_failure(txn, c).await?;
        let evidence = self.evidence(c, &first);
        let id = incidents::open(
            txn,
            c.info.dependency_id,
            "degraded",
            started_at,
            c.now,
            &evidence,
        )
        .await?;
        self.event(txn, c, id, started_at, "degraded", &first.sample)
            .await?;
        Ok(id)
    }

    /// The degraded episode ended: recovered, or superseded by an outage.
    async fn resolve_degraded(
        &self,
        txn: &DatabaseTransaction,
        c: &Change<'_>,
        id: i64,
        ended_at: i64,
        superseded: bool,
    ) -> Result<(), StorageError> {
        incidents::resolve(txn, id, ended_at, c.now).await?;
        let kind = if superseded {
            "superseded_by_down"
        } else {
            "recovered"
        };
        self.event(txn, c, id, ended_at, kind, &serde_json::json!({}))
            .await
    }

    /// One event of an incident's trail, attributed to this location and the deciding check.
    async fn event(
        &self,
        txn: &DatabaseTransaction,
        c: &Change<'_>,
        id: i64,
        at: i64,
        kind: &str,
        detail: &serde_json::Value,
    ) -> Result<(), StorageError> {
        incidents::add_event(
            txn,
            id,
            at,
            kind,
            Some(self.location_id),
            Some(c.info.check_id),
            detail,
        )
        .await
    }

    /// An incident's evidence at its opening: the locations that agreed, every location's
    /// view, and the first failed probe.
    fn evidence(&self, c: &Change<'_>, first: &FirstFailure) -> serde_json::Value {
        serde_json::json!({
            "failing_checks": [c.info.check_name],
            "locations": c.views.agreeing(c.state),
            "views": c.views.to_json(c.state),
            "sample": first.sample,
        })
    }

    /// One probe of this location, as evidence.
    fn sample(&self, info: &CheckInfo, p: &ProbeOutcome) -> serde_json::Value {
        serde_json::json!({
            "check": info.check_name,
            "location": self.location_name,
            "at": p.started_at,
            "outcome": p.outcome.as_str(),
            "status": p.status,
            "provider_code": p.provider_code,
            "error": p.error,
            "latency_ms": p.duration.as_millis() as u64,
        })
    }
}

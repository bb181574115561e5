//! Every location's view of one dependency, as the decision and its evidence see it.
use super::ProbeOutcome;
use meoktong_domain::DepState;
use meoktong_domain::detector::Tracker;
use meoktong_domain::quorum::LocationView;
use std::collections::HashMap;

/// One location's view of a dependency: the worst state among its checks there.
#[derive(Debug, Clone, Copy)]
pub(super) struct LocationState {
    pub(super) state: DepState,
    /// Latest update of any of the dependency's trackers there.
    pub(super) reported_at: i64,
    /// Earliest start of a down or degraded state among its checks there, and that check.
    pub(super) troubled_since: Option<(i64, i64)>,
    /// Network-suspect (its canaries do not answer): shown, never counted.
    pub(super) set_aside: bool,
}

/// Every location's view of one dependency, named.
pub(super) struct Views {
    pub(super) per_location: HashMap<i64, LocationState>,
    pub(super) names: HashMap<i64, String>,
    /// The views the quorum counts (network-suspect locations left out).
    pub(super) views: Vec<LocationView>,
}

impl Views {
    pub(super) fn name(&self, location_id: i64) -> String {
        self.names
            .get(&location_id)
            .cloned()
            .unwrap_or_else(|| format!("location-{location_id}"))
    }

    /// Every location's view, for the evidence: name, state, when, whether it was counted and
    /// whether it agreed with the decision.
    pub(super) fn to_json(&self, decided: DepState) -> serde_json::Value {
        let mut ids: Vec<&i64> = self.per_location.keys().collect();
        ids.sort_unstable();
        serde_json::Value::Array(
            ids.into_iter()
                .map(|id| {
                    let s = &self.per_location[id];
                    serde_json::json!({
                        "location": self.name(*id),
                        "state": s.state.as_str(),
                        "reported_at": s.reported_at,
                        "counted": !s.set_aside,
                        "network_suspect": s.set_aside,
                        "agreed": !s.set_aside && agrees(s.state, decided),
                    })
                })
                .collect(),
        )
    }

    /// Names of the counted locations that agreed with the decision.
    pub(super) fn agreeing(&self, decided: DepState) -> Vec<String> {
        let mut ids: Vec<&i64> = self
            .per_location
            .iter()
            .filter(|(_, s)| !s.set_aside && agrees(s.state, decided))
            .map(|(id, _)| id)
            .collect();
        ids.sort_unstable();
        ids.into_iter().map(|id| self.name(*id)).collect()
    }

    /// The first failed probe behind a down or degraded decision: (location, check, time).
    pub(super) fn first_failure(&self, decided: DepState) -> Option<(i64, i64, i64)> {
        self.per_location
            .iter()
            .filter(|(_, s)| !s.set_aside && agrees(s.state, decided))
            .filter_map(|(loc, s)| s.troubled_since.map(|(at, check)| (*loc, check, at)))
            .min_by_key(|(loc, _, at)| (*at, *loc))
    }
}

/// Whether a location's state supports a decision (a down location supports degraded too).
fn agrees(state: DepState, decided: DepState) -> bool {
    match decided {
        DepState::Down => state == DepState::Down,
        DepState::Degraded => matches!(state, DepState::Down | DepState::Degraded),
        other => state == other,
    }
}

/// The worse of two states (down is worst).
pub(super) fn worst(a: DepState, b: DepState) -> DepState {
    let rank = |s: DepState| match s {
        DepState::Unknown => 0,
        DepState::Up => 1,
        DepState::Degraded => 2,
        DepState::Down => 3,
    };
    if rank(b) > rank(a) { b } else { a }
}

/// The evidence time of a change: for down or degraded, the earliest start of trouble among
/// the locations that agree; for a recovery, the first good probe of its streak.
pub(super) fn evidence_time(
    views: &Views,
    state: DepState,
    recovered_since: Option<i64>,
    this_tracker: &Tracker,
    p: &ProbeOutcome,
) -> i64 {
    match state {
        DepState::Down | DepState::Degraded => views
            .per_location
            .values()
            .filter(|s| !s.set_aside && (s.state == state || s.state == DepState::Down))
            .filter_map(|s| s.troubled_since.map(|(since, _)| since))
            .min()
            .unwrap_or(p.started_at),
        _ => recovered_since
            .or(this_tracker.since())
            .unwrap_or(p.started_at),
    }
}

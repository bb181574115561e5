//! Combining the verdicts of several probe locations into one state per dependency.
//!
//! A location sees the internet through its own network; when that network fails, every
//! dependency looks down from there. Merchants must only hear about outages that a majority of
//! the locations that are actually reporting agree on.
//!
//! Rules decided here:
//! - A location counts when it reported within the last two intervals (one late probe is
//!   tolerated, a location that stopped probing is not) and its own state is known. Callers
//!   should stamp `reported_at` only with probes that carry evidence about the provider, so a
//!   location whose own network fails goes stale and drops out instead of freezing its last state.
//! - `Unknown` views (a location that just started or is still confirming its first streak)
//!   are not votes: they are neither counted nor in the majority's denominator.
//! - Down needs a strict majority of counted locations saying down. Otherwise, a strict majority
//!   saying down or degraded makes it degraded. Otherwise it is up. One counted location decides
//!   alone; none gives unknown.
//! - If several views share a location name, only its newest one counts.
//! - A location whose canaries do not answer is left out before this is called: see
//!   [`canaries_suspect`].
use std::collections::HashMap;
use std::time::Duration;

use crate::{DepState, Millis};

/// One location's latest verdict about one dependency.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct LocationView {
    /// The `probe.location` name.
    pub location: String,
    /// That location's own confirmed state (see [`crate::detector::Tracker::state`]).
    pub state: DepState,
    /// When that location last probed this dependency with a provider verdict.
    pub reported_at: Millis,
}

/// The dependency's state across locations, and who disagreed.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct QuorumDecision {
    /// The state merchants, dashboards and metrics see.
    pub state: DepState,
    /// Fresh locations saying down or degraded while the decision is up: their own network may
    /// be the problem, so operators are told about them.
    pub dissenting: Vec<String>,
    /// How many locations voted (fresh, known state).
    pub counted: usize,
}

/// Decides the state of one dependency from every location's view at time `now`.
///
/// `interval` is the check's probing interval; views older than two intervals are ignored.
pub fn decide(views: &[LocationView], now: Millis, interval: Duration) -> QuorumDecision {
    let max_age = Millis::try_from(interval.as_millis().saturating_mul(2)).unwrap_or(Millis::MAX);
    let mut newest: HashMap<&str, &LocationView> = HashMap::new();
    for view in views {
        let entry = newest.entry(view.location.as_str()).or_insert(view);
        if view.reported_at > entry.reported_at {
            *entry = view;
        }
    }
    // Keep the caller's order so `dissenting` is stable.
    let voters: Vec<&LocationView> = views
        .iter()
        .filter(|v| {
            newest
                .get(v.location.as_str())
                .is_some_and(|n| std::ptr::eq(*n, *v))
        })
        .filter(|v| now.saturating_sub(v.reported_at) <= max_age)
        .filter(|v| v.state != DepState::Unknown)
        .collect();
    let counted = voters.len();
    let down = voters.iter().filter(|v| v.state == DepState::Down).count();
    let troubled = voters
        .iter()
        .filter(|v| matches!(v.state, DepState::Down | DepState::Degraded))
        .count();
    let state = if counted == 0 {
        DepState::Unknown
    } else if down * 2 > counted {
        DepState::Down
    } else if troubled * 2 > counted {
        DepState::Degraded
    } else {
        DepState::Up
    };
    let dissenting = if state == DepState::Up {
        voters
            .iter()
            .filter(|v| matches!(v.state, DepState::Down | DepState::Degraded))
            .map(|v| v.location.clone())
            .collect()
    } else {
        Vec::new()
    };
    QuorumDecision {
        state,
        dissenting,
        counted,
    }
}

/// The own-network guard's verdict: a location is network-suspect when at least half of its
/// canaries (unrelated, well-known endpoints) gave no HTTP answer. With no canaries the guard
/// is off and nothing is suspect.
///
/// Independent, well-run endpoints failing together from one place says the place's network
/// (its resolver, its uplink) is what failed; then every dependency looks down from there,
/// and those failures must never reach merchants. Half, not all: one canary blocked or moved
/// must not hide a real outage, and two of three failing is already no coincidence.
pub fn canaries_suspect(unreachable: usize, total: usize) -> bool {
    total > 0 && unreachable * 2 >= total
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const NOW: Millis = 1_000_000;
    const INTERVAL: Duration = Duration::from_secs(30);

    fn view(location: &str, state: DepState, age_ms: Millis) -> LocationView {
        LocationView {
            location: location.to_owned(),
            state,
            reported_at: NOW - age_ms,
        }
    }

    fn decision(views: &[LocationView]) -> (DepState, Vec<String>, usize) {
        let d = decide(views, NOW, INTERVAL);
        (d.state, d.dissenting, d.counted)
    }

    #[test]
    fn no_fresh_location_is_unknown() {
        assert_eq!(decision(&[]), (DepState::Unknown, vec![], 0));
        assert_eq!(
            decision(&[view("seoul", DepState::Down, 60_001)]),
            (DepState::Unknown, vec![], 0)
        );
    }

    #[test]
    fn a_single_fresh_location_decides_alone() {
        let views = [
            view("seoul", DepState::Down, 60_000),
            view("busan", DepState::Up, 60_001),
        ];
        assert_eq!(decision(&views), (DepState::Down, vec![], 1));
    }

    #[test]
    fn one_of_three_down_is_up_with_a_dissenter() {
        let views = [
            view("a", DepState::Up, 0),
            view("b", DepState::Down, 0),
            view("c", DepState::Up, 0),
        ];
        assert_eq!(decision(&views), (DepState::Up, vec!["b".to_owned()], 3));
    }

    #[test]
    fn two_of_three_down_is_down() {
        let views = [
            view("a", DepState::Down, 0),
            view("b", DepState::Down, 0),
            view("c", DepState::Up, 0),
        ];
        assert_eq!(decision(&views).0, DepState::Down);
    }

    #[test]
    fn a_tie_is_not_a_majority() {
        let views = [view("a", DepState::Down, 0), view("b", DepState::Up, 0)];
        assert_eq!(decision(&views), (DepState::Up, vec!["a".to_owned()], 2));
    }

    #[test]
    fn down_and_degraded_together_make_degraded() {
        let views = [
            view("a", DepState::Down, 0),
            view("b", DepState::Degraded, 0),
            view("c", DepState::Up, 0),
        ];
        assert_eq!(decision(&views), (DepState::Degraded, vec![], 3));
    }

    #[test]
    fn unknown_locations_do_not_vote() {
        let views = [
            view("a", DepState::Down, 0),
            view("b", DepState::Unknown, 0),
        ];
        assert_eq!(decision(&views), (DepState::Down, vec![], 1));
    }

    #[test]
    fn only_the_newest_view_of_a_location_counts() {
        let views = [
            view("a", DepState::Down, 0),
            view("a", DepState::Up, 5_000),
            view("b", DepState::Down, 0),
        ];
        assert_eq!(decision(&views), (DepState::Down, vec![], 2));
    }

    #[test]
    fn at_least_half_the_canaries_silent_makes_the_location_suspect() {
        assert!(!canaries_suspect(0, 0), "no canaries: the guard is off");
        assert!(!canaries_suspect(0, 3));
        assert!(!canaries_suspect(1, 3));
        assert!(canaries_suspect(2, 3));
        assert!(canaries_suspect(1, 2));
        assert!(canaries_suspect(1, 1));
        assert!(!canaries_suspect(1, 4));
        assert!(canaries_suspect(2, 4));
    }

    fn state() -> impl Strategy<Value = DepState> {
        prop_oneof![
            Just(DepState::Unknown),
            Just(DepState::Up),
            Just(DepState::Degraded),
            Just(DepState::Down)
        ]
    }

    /// Views named `{prefix}{i}` from (state, age) pairs.
    fn views(prefix: &str, specs: &[(DepState, Millis)]) -> Vec<LocationView> {
        specs
            .iter()
            .enumerate()
            .map(|(i, (s, age))| view(&format!("{prefix}{i}"), *s, *age))
            .collect()
    }

    const FRESH: std::ops::RangeInclusive<Millis> = 0..=60_000;

    proptest! {
        #[test]
        fn one_of_three_fresh_locations_down_is_up(
            which in 0usize..3,
            ages in prop::array::uniform3(FRESH),
        ) {
            let specs: Vec<_> = (0..3)
                .map(|i| (if i == which { DepState::Down } else { DepState::Up }, ages[i]))
                .collect();
            let expected = (DepState::Up, vec![format!("loc{which}")], 3);
            prop_assert_eq!(decision(&views("loc", &specs)), expected);
        }

        #[test]
        fn stale_locations_are_ignored(
            fresh in prop::collection::vec((state(), FRESH), 0..5),
            stale in prop::collection::vec((state(), 60_001i64..10_000_000), 0..5),
        ) {
            let fresh = views("f", &fresh);
            let all: Vec<_> = fresh.iter().cloned().chain(views("s", &stale)).collect();
            prop_assert_eq!(decide(&all, NOW, INTERVAL), decide(&fresh, NOW, INTERVAL));
        }

        #[test]
        fn down_means_a_strict_majority_of_voters(
            specs in prop::collection::vec((state(), FRESH), 0..7),
        ) {
            let views = views("l", &specs);
            let voters = views.iter().filter(|v| v.state != DepState::Unknown).count();
            let down = views.iter().filter(|v| v.state == DepState::Down).count();
            let d = decide(&views, NOW, INTERVAL);
            prop_assert_eq!(d.counted, voters);
            prop_assert_eq!(d.state == DepState::Down, down * 2 > voters);
        }
    }
}

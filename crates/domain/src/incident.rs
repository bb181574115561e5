//! The incident lifecycle of one dependency, fed by its quorum state.
//!
//! Merchants must never get the same notice twice, and a dependency that flaps (down, up for a
//! minute, down again) must not look like a string of separate outages: a down that comes back
//! within `reopen_window` of the last resolution continues the same incident record, and the
//! merchant hears about such relapses at most once per `reopen_window`.
//!
//! The tracker is a value stored beside the dependency (JSON). An incident's identity is its
//! `started_at` (the first failed probe); the caller keeps its database id next to that key and
//! finds it again through `IncidentEffect::Relapse { incident_started_at, .. }`.
//!
//! Rules decided here:
//! - `Unknown` changes nothing: not knowing is not a recovery (and not an outage).
//! - Degraded episodes have no reopen window; every new one opens. A degraded episode that turns
//!   into an outage is closed with `superseded: true` (record keeping, no "recovered" notice).
//! - Down → degraded resolves the outage and opens a degraded episode at the same time.
//! - Repeated observations of the current state produce nothing (idempotent under retries).
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{DepState, Millis};

/// How incidents are grouped over time.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct IncidentPolicy {
    /// A down within this long after a resolution continues the same incident, and relapse
    /// notices are sent at most once per this long.
    pub reopen_window: Duration,
}

impl Default for IncidentPolicy {
    /// The documented default: an incident that re-opens within 10 minutes is the same one.
    fn default() -> Self {
        IncidentPolicy {
            reopen_window: Duration::from_secs(600),
        }
    }
}

/// The outage currently open.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OpenIncident {
    /// First failed probe of the first outage of this incident: its key.
    pub started_at: Millis,
    /// How many times it came back after being resolved.
    pub relapses: u32,
}

/// The last outage that ended, kept to recognise a relapse.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ResolvedIncident {
    /// The incident's key (see [`OpenIncident::started_at`]).
    pub started_at: Millis,
    /// First good probe of the recovery streak.
    pub ended_at: Millis,
    /// Relapses so far, carried over if it comes back.
    pub relapses: u32,
}

/// What the caller must record or tell merchants.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum IncidentEffect {
    /// A new outage: create the incident record, send down notices.
    Open { started_at: Millis },
    /// The last outage came back within `reopen_window`: reopen that record (found by
    /// `incident_started_at`). Send a relapse notice only if `notify`.
    Relapse {
        incident_started_at: Millis,
        relapsed_at: Millis,
        notify: bool,
    },
    /// The outage is over: close the record, send recovery notices.
    Resolve {
        started_at: Millis,
        ended_at: Millis,
    },
    /// The dependency became slow: degraded notices to merchants who opted in.
    DegradedOpen { started_at: Millis },
    /// The degraded episode ended. `superseded` means it ended because the dependency went
    /// down: close the record but send no "recovered" notice.
    DegradedResolve { ended_at: Millis, superseded: bool },
}

/// Incident state of one dependency, stored as JSON between decisions.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct IncidentTracker {
    open: Option<OpenIncident>,
    last_resolved: Option<ResolvedIncident>,
    /// When the current incident last produced a notifying relapse.
    last_relapse_notice_at: Option<Millis>,
    /// Start of the open degraded episode.
    degraded_since: Option<Millis>,
}

impl IncidentTracker {
    /// The open outage, if any.
    pub fn open_incident(&self) -> Option<OpenIncident> {
        self.open
    }

    /// The last resolved outage, if any (whether or not it can still relapse).
    pub fn last_resolved(&self) -> Option<ResolvedIncident> {
        self.last_resolved
    }

    /// Start of the open degraded episode, if any.
    pub fn degraded_since(&self) -> Option<Millis> {
        self.degraded_since
    }

    /// Applies the dependency's new quorum state.
    ///
    /// `started_or_ended_at` is the evidence time of the change: `BecameDown.since` /
    /// `BecameDegraded.since` for down and degraded, `Recovered.since` (or
    /// `RecoveredFromDegraded.since`) for up, and `Recovered.since` for a recovery that ends
    /// degraded. `now` is the wall clock, used only to pace relapse notices.
    pub fn observe(
        &self,
        policy: &IncidentPolicy,
        new_state: DepState,
        started_or_ended_at: Millis,
        now: Millis,
    ) -> (IncidentTracker, Vec<IncidentEffect>) {
        let at = started_or_ended_at;
        let mut next = self.clone();
        let mut effects = Vec::new();
        match new_state {
            DepState::Unknown => {}
            DepState::Down => {
                if self.open.is_none() {
                    if next.degraded_since.take().is_some() {
                        effects.push(IncidentEffect::DegradedResolve {
                            ended_at: at,
                            superseded: true,
                        });
                    }
                    effects.push(next.open_or_relapse(policy, at, now));
                }
            }
            DepState::Degraded => {
                next.resolve(at, &mut effects);
                if self.degraded_since.is_none() {
                    next.degraded_since = Some(at);
                    effects.push(IncidentEffect::DegradedOpen { started_at: at });
                }
            }
            DepState::Up => {
                next.resolve(at, &mut effects);
                if next.degraded_since.take().is_some() {
                    effects.push(IncidentEffect::DegradedResolve {
                        ended_at: at,
                        superseded: false,
                    });
                }
            }
        }
        (next, effects)
    }

    fn open_or_relapse(
        &mut self,
        policy: &IncidentPolicy,
        at: Millis,
        now: Millis,
    ) -> IncidentEffect {
        let window = window_ms(policy);
        match self.last_resolved {
            Some(last) if at.saturating_sub(last.ended_at) <= window => {
                let notify = self
                    .last_relapse_notice_at
                    .is_none_or(|sent| now.saturating_sub(sent) >= window);
                if notify {
                    self.last_relapse_notice_at = Some(now);
                }
                self.open = Some(OpenIncident {
                    started_at: last.started_at,
                    relapses: last.relapses.saturating_add(1),
                });
                IncidentEffect::Relapse {
                    incident_started_at: last.started_at,
                    relapsed_at: at,
                    notify,
                }
            }
            _ => {
                self.open = Some(OpenIncident {
                    started_at: at,
                    relapses: 0,
                });
                self.last_relapse_notice_at = None;
                IncidentEffect::Open { started_at: at }
            }
        }
    }

    fn resolve(&mut self, at: Millis, effects: &mut Vec<IncidentEffect>) {
        if let Some(open) = self.open.take() {
            self.last_resolved = Some(ResolvedIncident {
                started_at: open.started_at,
                ended_at: at,
                relapses: open.relapses,
            });
            effects.push(IncidentEffect::Resolve {
                started_at: open.started_at,
                ended_at: at,
            });
        }
    }
}

fn window_ms(policy: &IncidentPolicy) -> Millis {
    Millis::try_from(policy.reopen_window.as_millis()).unwrap_or(Millis::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const MIN: Millis = 60_000;

    fn policy() -> IncidentPolicy {
        IncidentPolicy::default()
    }

    /// Feeds (state, evidence time) pairs, with `now` equal to the evidence time.
    fn run(
        start: &IncidentTracker,
        steps: &[(DepState, Millis)],
    ) -> (IncidentTracker, Vec<Vec<IncidentEffect>>) {
        let mut tracker = start.clone();
        let mut all = Vec::new();
        for &(state, at) in steps {
            let (next, effects) = tracker.observe(&policy(), state, at, at);
            tracker = next;
            all.push(effects);
        }
        (tracker, all)
    }

    use DepState::{Degraded, Down, Up};
    use IncidentEffect as E;

    #[test]
    fn down_opens_and_up_resolves() {
        let (tr, effects) = run(
            &IncidentTracker::default(),
            &[(Down, 0), (Down, MIN), (Up, 5 * MIN)],
        );
        assert_eq!(
            effects,
            vec![
                vec![E::Open { started_at: 0 }],
                vec![],
                vec![E::Resolve {
                    started_at: 0,
                    ended_at: 5 * MIN
                }]
            ]
        );
        assert_eq!(tr.open_incident(), None);
    }

    #[test]
    fn a_down_within_the_window_is_a_notified_relapse_of_the_same_incident() {
        let (tr, effects) = run(
            &IncidentTracker::default(),
            &[(Down, 0), (Up, 5 * MIN), (Down, 15 * MIN)],
        );
        assert_eq!(
            effects[2],
            vec![E::Relapse {
                incident_started_at: 0,
                relapsed_at: 15 * MIN,
                notify: true
            }]
        );
        assert_eq!(
            tr.open_incident(),
            Some(OpenIncident {
                started_at: 0,
                relapses: 1
            })
        );
    }

    #[test]
    fn later_flaps_in_the_window_are_not_notified() {
        let steps = [
            (Down, 0),
            (Up, 5 * MIN),
            (Down, 6 * MIN),
            (Up, 7 * MIN),
            (Down, 8 * MIN),
        ];
        let (_, effects) = run(&IncidentTracker::default(), &steps);
        assert_eq!(
            effects[2],
            vec![E::Relapse {
                incident_started_at: 0,
                relapsed_at: 6 * MIN,
                notify: true
            }]
        );
        assert_eq!(
            effects[4],
            vec![E::Relapse {
                incident_started_at: 0,
                relapsed_at: 8 * MIN,
                notify: false
            }]
        );
        let more = [(Up, 9 * MIN), (Down, 16 * MIN)];
        let (_, effects) = run(&run(&IncidentTracker::default(), &steps).0, &more);
        assert_eq!(
            effects[1],
            vec![E::Relapse {
                incident_started_at: 0,
                relapsed_at: 16 * MIN,
                notify: true
            }]
        );
    }

    #[test]
    fn a_down_after_the_window_is_a_new_incident() {
        let (tr, effects) = run(
            &IncidentTracker::default(),
            &[(Down, 0), (Up, 5 * MIN), (Down, 15 * MIN + 1)],
        );
        assert_eq!(
            effects[2],
            vec![E::Open {
                started_at: 15 * MIN + 1
            }]
        );
        assert_eq!(
            tr.open_incident(),
            Some(OpenIncident {
                started_at: 15 * MIN + 1,
                relapses: 0
            })
        );
    }

    #[test]
    fn degraded_opens_and_resolves_separately() {
        let (_, effects) = run(
            &IncidentTracker::default(),
            &[(Degraded, 0), (Degraded, MIN), (Up, 2 * MIN)],
        );
        let ended = E::DegradedResolve {
            ended_at: 2 * MIN,
            superseded: false,
        };
        assert_eq!(
            effects,
            vec![vec![E::DegradedOpen { started_at: 0 }], vec![], vec![ended]]
        );
    }

    #[test]
    fn degraded_turning_down_supersedes_the_degraded_episode() {
        let (_, effects) = run(&IncidentTracker::default(), &[(Degraded, 0), (Down, MIN)]);
        let superseded = E::DegradedResolve {
            ended_at: MIN,
            superseded: true,
        };
        assert_eq!(effects[1], vec![superseded, E::Open { started_at: MIN }]);
    }

    #[test]
    fn down_to_degraded_resolves_and_opens_degraded() {
        let (tr, effects) = run(&IncidentTracker::default(), &[(Down, 0), (Degraded, MIN)]);
        let expected = vec![
            E::Resolve {
                started_at: 0,
                ended_at: MIN,
            },
            E::DegradedOpen { started_at: MIN },
        ];
        assert_eq!(effects[1], expected);
        assert_eq!(tr.degraded_since(), Some(MIN));
    }

    #[test]
    fn unknown_changes_nothing() {
        let open = run(&IncidentTracker::default(), &[(Down, 0)]).0;
        let (tr, effects) = open.observe(&policy(), DepState::Unknown, MIN, MIN);
        assert_eq!((tr, effects), (open, vec![]));
    }

    #[test]
    fn tracker_round_trips_through_json() {
        let tr = run(
            &IncidentTracker::default(),
            &[(Down, 0), (Up, MIN), (Down, 2 * MIN)],
        )
        .0;
        let json = serde_json::to_string(&tr).expect("serialise");
        assert_eq!(
            serde_json::from_str::<IncidentTracker>(&json).expect("parse"),
            tr
        );
        assert_eq!(
            serde_json::from_str::<IncidentTracker>("{}").expect("parse"),
            IncidentTracker::default()
        );
    }

    proptest! {
        #[test]
        fn relapse_notices_are_one_per_window_and_keep_the_incident_key(
            steps in prop::collection::vec((0u8..4, 1i64..(20 * MIN)), 0..60),
        ) {
            let window = window_ms(&policy());
            let mut tracker = IncidentTracker::default();
            let mut t = 0;
            let mut last_notice: Option<Millis> = None;
            let mut last_resolve: Option<(Millis, Millis)> = None;
            for (kind, gap) in steps {
                t += gap;
                let state = [DepState::Unknown, Up, Degraded, Down][usize::from(kind)];
                let was_open = tracker.open_incident();
                let (next, effects) = tracker.observe(&policy(), state, t, t);
                for e in &effects {
                    match *e {
                        E::Relapse { incident_started_at, relapsed_at, notify } => {
                            let (key, ended) = last_resolve.expect("relapse after resolve");
                            prop_assert_eq!(incident_started_at, key);
                            prop_assert!(relapsed_at - ended <= window);
                            if notify {
                                prop_assert!(last_notice.is_none_or(|n| t - n >= window));
                                last_notice = Some(t);
                            }
                        }
                        E::Open { .. } => last_notice = None,
                        E::Resolve { started_at, ended_at } => {
                            prop_assert_eq!(was_open.map(|o| o.started_at), Some(started_at));
                            last_resolve = Some((started_at, ended_at));
                        }
                        _ => {}
                    }
                }
                let stays_open = state == DepState::Unknown && was_open.is_some();
                prop_assert_eq!(next.open_incident().is_some(), state == Down || stays_open);
                tracker = next;
            }
        }
    }
}

//! Outage detection for one check at one probe location.
//!
//! A false "down" sends an SMS to every subscribed merchant, so bad news is believed only after
//! it has been re-checked (`confirm_after`), and good news only after a streak of good probes
//! (`recovery_successes`) so that a flapping dependency does not produce a recovery notice
//! followed by a new outage notice a minute later.
//!
//! The tracker is a value: [`Tracker::observe`] returns the next tracker and what the caller has
//! to do, so it can be stored as JSON between probes and replayed in tests without a clock.
//!
//! Rules decided here (beyond the defaults in the README's key table):
//! - Only probes that tell us something about the provider count ("evidence"): `ok`, `degraded`
//!   (slow) and `fail` of class `Provider` (or without a class: an unexplained failure must never
//!   silently disable an alert). Configuration errors and local-network failures only produce
//!   [`Effect::ConfigProblem`] / [`Effect::LocalNetworkProblem`]; they neither break nor extend a
//!   streak, and they do not re-schedule a pending confirmation (the next regular probe goes on).
//! - `down` needs `1 + confirm_after.len()` consecutive provider failures; `degraded` needs as
//!   many consecutive probes that are slow or failing (so "slow, fail, fail" is degraded, and one
//!   more failure makes it down, since the three failures are consecutive).
//! - While down, a slow probe counts as answering: it leaves the outage (merchants can take orders
//!   again), but if the probe completing the recovery streak was slow the state becomes
//!   `degraded` (since the first good probe) rather than `up`.
//! - Leaving `degraded` for `up` needs `recovery_successes` consecutive `ok` probes.
//! - `recovery_successes = 0` is treated as 1.
use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::{DepState, FailureClass, Millis, Outcome};

/// How much evidence the tracker wants before it believes bad and good news.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct DetectorPolicy {
    /// Delays of the re-checks after a first failure, each counted from the previous attempt.
    /// Empty means the first failure is believed at once.
    pub confirm_after: Vec<Duration>,
    /// Consecutive good probes (at the normal interval) needed to leave down or degraded.
    pub recovery_successes: u32,
}

impl Default for DetectorPolicy {
    /// The documented defaults: re-check after 2 s and 4 s, recover after 2 good probes.
    fn default() -> Self {
        DetectorPolicy {
            confirm_after: vec![Duration::from_secs(2), Duration::from_secs(4)],
            recovery_successes: 2,
        }
    }
}

impl DetectorPolicy {
    /// Consecutive bad probes that make a state change: the first one plus every re-check.
    fn attempts_to_confirm(&self) -> u32 {
        u32::try_from(self.confirm_after.len())
            .unwrap_or(u32::MAX)
            .saturating_add(1)
    }

    fn successes_to_recover(&self) -> u32 {
        self.recovery_successes.max(1)
    }
}

/// One probe result as the detector sees it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Observation {
    /// When the probe was made (its start), so reported times are when the evidence was taken.
    pub at: Millis,
    /// The probe's verdict.
    pub outcome: Outcome,
    /// Who is to blame; meaningful only when `outcome` is `Fail` (ignored otherwise).
    pub class: Option<FailureClass>,
}

/// What the caller must do or record after an observation. Several may come from one probe.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Effect {
    /// Probe this check again after `after` (counted from the end of this attempt) to confirm.
    ScheduleConfirm { after: Duration },
    /// Confirmed down; `since` is the first failed probe of the streak (the incident start).
    BecameDown { since: Millis },
    /// Confirmed degraded; `since` is the first slow-or-failing probe of the streak, or the first
    /// good probe when a recovery from down ended slow.
    BecameDegraded { since: Millis },
    /// Down is over: `since` is the first good probe of the recovery streak (the incident end),
    /// `down_since` the start of the outage. The state is now up or degraded.
    Recovered { since: Millis, down_since: Millis },
    /// Degraded is over (not an outage recovery): `since` is the first `ok` probe of the
    /// streak, `degraded_since` when degradation started. The state is now up.
    RecoveredFromDegraded {
        since: Millis,
        degraded_since: Millis,
    },
    /// Our own configuration is wrong (bad key, quota): operators only, never merchants.
    ConfigProblem { at: Millis },
    /// This location's own network failed: operators only, never merchants.
    LocalNetworkProblem { at: Millis },
    /// A pending confirmation ended with the dependency answering, without confirming. Kept so
    /// that operators can see how often confirmation saved merchants from a false alarm.
    FalseAlarm { first_fail_at: Millis },
}

/// A run of consecutive probes of one kind.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default)]
struct Streak {
    count: u32,
    first_at: Option<Millis>,
}

impl Streak {
    fn extend(&mut self, at: Millis) {
        if self.count == 0 {
            self.first_at = Some(at);
        }
        self.count = self.count.saturating_add(1);
    }

    fn reset(&mut self) {
        *self = Streak::default();
    }

    fn start(&self) -> Option<Millis> {
        if self.count > 0 { self.first_at } else { None }
    }
}

/// What a probe says about the provider, once blame is settled.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Evidence {
    Ok,
    Slow,
    Fail,
}

/// Detection state of one (check, location), stored as JSON between probes.
///
/// The public state ([`Tracker::state`]) changes only on confirmed evidence; while a
/// confirmation is pending ("confirming") it stays what it was, so dashboards never show a
/// down that was not confirmed.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize, Default)]
#[serde(default)]
pub struct Tracker {
    /// Confirmed state.
    state: DepState,
    /// When the current down or degraded state began.
    since: Option<Millis>,
    /// Consecutive provider failures (not kept while down: nothing to confirm there).
    fails: Streak,
    /// Consecutive slow-or-failing probes (only used on the way to degraded).
    bads: Streak,
    /// Consecutive good probes toward leaving down or degraded.
    goods: Streak,
    /// When the latest probe with evidence about the provider was made (the gap guard).
    last_at: Option<Millis>,
}

impl Tracker {
    /// The confirmed state of this check at this location.
    pub fn state(&self) -> DepState {
        self.state
    }

    /// When the current down or degraded state began (`None` when up or unknown).
    pub fn since(&self) -> Option<Millis> {
        self.since
    }

    /// First probe of the streak a pending confirmation is about, if one is pending.
    pub fn first_fail_at(&self) -> Option<Millis> {
        match self.state {
            DepState::Down => None,
            DepState::Degraded => self.fails.start(),
            DepState::Unknown | DepState::Up => self.bads.start(),
        }
    }

    /// Whether a confirmation is pending (the internal "confirming" phase).
    pub fn is_confirming(&self) -> bool {
        self.first_fail_at().is_some()
    }

    /// Bad probes seen so far in the pending confirmation (0 when none is pending).
    pub fn confirm_attempts(&self) -> u32 {
        match self.state {
            DepState::Down => 0,
            DepState::Degraded => self.fails.count,
            DepState::Unknown | DepState::Up => self.bads.count,
        }
    }

    /// Good probes so far in the current recovery streak.
    pub fn recovery_streak(&self) -> u32 {
        self.goods.count
    }

    /// First good probe of the current recovery streak: the incident end, if it holds.
    pub fn first_good_at(&self) -> Option<Millis> {
        self.goods.start()
    }

    /// When the latest probe with evidence about the provider was made.
    pub fn last_observed_at(&self) -> Option<Millis> {
        self.last_at
    }

    /// The gap guard: whether this location stopped probing the check for longer than
    /// `max_gap` before `at` (the process was down, the database unreachable, the scheduler
    /// stalled, or the location's results were set aside as network-suspect).
    pub fn gap_before(&self, at: Millis, max_gap: Millis) -> bool {
        self.last_at
            .is_some_and(|last| at.saturating_sub(last) > max_gap)
    }

    /// Forgets every streak in progress, keeping the confirmed state: what was seen before a
    /// gap in our own probing does not combine with what is seen after it, so neither an
    /// outage nor a recovery is decided across the gap. The probes after it must make a
    /// streak of their own (a down needs its failure and every re-check, a recovery its
    /// `recovery_successes` good probes). No effect: a confirmation cut by the gap is neither
    /// confirmed nor a false alarm.
    pub fn forget_streaks(&self) -> Tracker {
        Tracker {
            state: self.state,
            since: self.since,
            last_at: self.last_at,
            ..Tracker::default()
        }
    }

    /// [`Tracker::observe`] behind the gap guard: after a gap longer than `max_gap`, the
    /// streaks in progress are forgotten first ([`Tracker::forget_streaks`]).
    pub fn observe_after_gap(
        &self,
        policy: &DetectorPolicy,
        obs: &Observation,
        max_gap: Millis,
    ) -> (Tracker, Vec<Effect>) {
        if self.gap_before(obs.at, max_gap) {
            self.forget_streaks().observe(policy, obs)
        } else {
            self.observe(policy, obs)
        }
    }

    /// Applies one probe result. Observations must come in time order.
    pub fn observe(&self, policy: &DetectorPolicy, obs: &Observation) -> (Tracker, Vec<Effect>) {
        let evidence = match (obs.outcome, obs.class) {
            (Outcome::ConfigError, _) | (Outcome::Fail, Some(FailureClass::Config)) => {
                return (self.clone(), vec![Effect::ConfigProblem { at: obs.at }]);
            }
            (Outcome::Fail, Some(FailureClass::LocalNetwork)) => {
                return (
                    self.clone(),
                    vec![Effect::LocalNetworkProblem { at: obs.at }],
                );
            }
            (Outcome::Fail, Some(FailureClass::Provider) | None) => Evidence::Fail,
            (Outcome::Degraded, _) => Evidence::Slow,
            (Outcome::Ok, _) => Evidence::Ok,
        };
        let mut next = self.clone();
        let mut effects = Vec::new();
        if self.state == DepState::Down {
            next.while_down(policy, evidence, obs.at, &mut effects);
        } else {
            next.while_answering(policy, evidence, obs.at, &mut effects);
        }
        next.last_at = Some(obs.at);
        let confirmed = effects
            .iter()
            .any(|e| matches!(e, Effect::BecameDown { .. } | Effect::BecameDegraded { .. }));
        if let Some(first_fail_at) = self.first_fail_at()
            && !confirmed
            && !next.is_confirming()
        {
            effects.push(Effect::FalseAlarm { first_fail_at });
        }
        (next, effects)
    }

    /// Unknown, up or degraded: confirm bad news, count good news when degraded.
    fn while_answering(
        &mut self,
        policy: &DetectorPolicy,
        evidence: Evidence,
        at: Millis,
        effects: &mut Vec<Effect>,
    ) {
        let needed = policy.attempts_to_confirm();
        match evidence {
            Evidence::Ok => {
                self.fails.reset();
                self.bads.reset();
                if self.state == DepState::Degraded {
                    self.goods.extend(at);
                    if self.goods.count >= policy.successes_to_recover() {
                        effects.push(Effect::RecoveredFromDegraded {
                            since: self.goods.first_at.unwrap_or(at),
                            degraded_since: self.since.unwrap_or(at),
                        });
                        self.enter(DepState::Up, None);
                    }
                } else {
                    self.state = DepState::Up;
                }
            }
            Evidence::Slow => {
                self.fails.reset();
                if self.state == DepState::Degraded {
                    self.goods.reset();
                    return;
                }
                self.bads.extend(at);
                if self.bads.count >= needed {
                    self.become_degraded(effects);
                } else {
                    schedule(policy, self.bads.count, effects);
                }
            }
            Evidence::Fail => {
                self.fails.extend(at);
                if self.state != DepState::Degraded {
                    self.bads.extend(at);
                }
                self.goods.reset();
                if self.fails.count >= needed {
                    let since = self.fails.first_at.unwrap_or(at);
                    effects.push(Effect::BecameDown { since });
                    self.enter(DepState::Down, Some(since));
                    return;
                }
                if self.state != DepState::Degraded && self.bads.count >= needed {
                    self.become_degraded(effects);
                }
                schedule(policy, self.fails.count, effects);
            }
        }
    }

    /// Down: only a streak of answering probes gets out; a failure restarts the streak.
    fn while_down(
        &mut self,
        policy: &DetectorPolicy,
        evidence: Evidence,
        at: Millis,
        effects: &mut Vec<Effect>,
    ) {
        if evidence == Evidence::Fail {
            self.goods.reset();
            return;
        }
        self.goods.extend(at);
        if self.goods.count < policy.successes_to_recover() {
            return;
        }
        let first_good = self.goods.first_at.unwrap_or(at);
        effects.push(Effect::Recovered {
            since: first_good,
            down_since: self.since.unwrap_or(first_good),
        });
        if evidence == Evidence::Slow {
            effects.push(Effect::BecameDegraded { since: first_good });
            self.enter(DepState::Degraded, Some(first_good));
        } else {
            self.enter(DepState::Up, None);
        }
    }

    fn become_degraded(&mut self, effects: &mut Vec<Effect>) {
        let since = self.bads.first_at.unwrap_or_default();
        effects.push(Effect::BecameDegraded { since });
        let fails = self.fails;
        self.enter(DepState::Degraded, Some(since));
        // A failure streak in progress goes on toward down.
        self.fails = fails;
    }

    /// Switches state and forgets every streak of the previous state.
    fn enter(&mut self, state: DepState, since: Option<Millis>) {
        *self = Tracker {
            state,
            since,
            ..Tracker::default()
        };
    }
}

/// Asks for the re-check that follows the `attempts`-th bad probe of a streak.
fn schedule(policy: &DetectorPolicy, attempts: u32, effects: &mut Vec<Effect>) {
    let index = usize::try_from(attempts.saturating_sub(1)).unwrap_or(usize::MAX);
    if let Some(&after) = policy.confirm_after.get(index) {
        effects.push(Effect::ScheduleConfirm { after });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const S: Millis = 1_000;

    fn at(at: Millis, outcome: Outcome, class: Option<FailureClass>) -> Observation {
        Observation { at, outcome, class }
    }
    fn ok(t: Millis) -> Observation {
        at(t, Outcome::Ok, None)
    }
    fn slow(t: Millis) -> Observation {
        at(t, Outcome::Degraded, None)
    }
    fn fail(t: Millis) -> Observation {
        at(t, Outcome::Fail, Some(FailureClass::Provider))
    }

    /// Feeds observations in order, returning the final tracker and each step's effects.
    fn run(
        policy: &DetectorPolicy,
        start: &Tracker,
        seq: &[Observation],
    ) -> (Tracker, Vec<Vec<Effect>>) {
        let mut tracker = start.clone();
        let mut all = Vec::new();
        for o in seq {
            let (next, effects) = tracker.observe(policy, o);
            tracker = next;
            all.push(effects);
        }
        (tracker, all)
    }

    fn sc(secs: u64) -> Effect {
        Effect::ScheduleConfirm {
            after: Duration::from_secs(secs),
        }
    }

    fn up() -> Tracker {
        run(&DetectorPolicy::default(), &Tracker::default(), &[ok(0)]).0
    }

    fn down_since(t: Millis) -> Tracker {
        let (tr, _) = run(
            &DetectorPolicy::default(),
            &up(),
            &[fail(t), fail(t + 2 * S), fail(t + 6 * S)],
        );
        assert_eq!(tr.state(), DepState::Down);
        tr
    }

    #[test]
    fn default_policy_is_two_and_four_seconds_then_two_successes() {
        let p = DetectorPolicy::default();
        assert_eq!(
            p.confirm_after,
            vec![Duration::from_secs(2), Duration::from_secs(4)]
        );
        assert_eq!(p.recovery_successes, 2);
    }

    #[test]
    fn first_ok_makes_unknown_up_without_effects() {
        let (tr, effects) = run(&DetectorPolicy::default(), &Tracker::default(), &[ok(0)]);
        assert_eq!((tr.state(), effects), (DepState::Up, vec![vec![]]));
    }

    #[test]
    fn three_consecutive_failures_make_down_since_the_first() {
        let (tr, effects) = run(
            &DetectorPolicy::default(),
            &up(),
            &[fail(10 * S), fail(12 * S), fail(16 * S)],
        );
        assert_eq!(
            effects,
            vec![
                vec![sc(2)],
                vec![sc(4)],
                vec![Effect::BecameDown { since: 10 * S }]
            ]
        );
        assert_eq!(
            (tr.state(), tr.since(), tr.is_confirming()),
            (DepState::Down, Some(10 * S), false)
        );
    }

    #[test]
    fn state_stays_up_while_confirming() {
        let (tr, _) = run(
            &DetectorPolicy::default(),
            &up(),
            &[fail(10 * S), fail(12 * S)],
        );
        assert_eq!(tr.state(), DepState::Up);
        assert_eq!(
            (tr.first_fail_at(), tr.confirm_attempts()),
            (Some(10 * S), 2)
        );
    }

    #[test]
    fn unknown_needs_confirmation_too() {
        let (tr, effects) = run(
            &DetectorPolicy::default(),
            &Tracker::default(),
            &[fail(0), fail(2 * S)],
        );
        assert_eq!(
            (tr.state(), effects),
            (DepState::Unknown, vec![vec![sc(2)], vec![sc(4)]])
        );
    }

    #[test]
    fn empty_confirm_after_means_down_on_first_failure() {
        let policy = DetectorPolicy {
            confirm_after: vec![],
            recovery_successes: 1,
        };
        let (tr, effects) = run(&policy, &up(), &[fail(5)]);
        assert_eq!(
            (tr.state(), effects),
            (DepState::Down, vec![vec![Effect::BecameDown { since: 5 }]])
        );
    }

    #[test]
    fn success_while_confirming_is_a_false_alarm() {
        let (tr, effects) = run(
            &DetectorPolicy::default(),
            &up(),
            &[fail(10 * S), fail(12 * S), ok(16 * S)],
        );
        assert_eq!(
            effects[2],
            vec![Effect::FalseAlarm {
                first_fail_at: 10 * S
            }]
        );
        assert_eq!((tr.state(), tr.is_confirming()), (DepState::Up, false));
    }

    #[test]
    fn failures_while_down_need_no_confirmation() {
        let (tr, effects) = run(&DetectorPolicy::default(), &down_since(0), &[fail(60 * S)]);
        assert_eq!((tr.state(), effects), (DepState::Down, vec![vec![]]));
    }

    #[test]
    fn recovery_needs_consecutive_successes_and_starts_at_the_first_good_probe() {
        let seq = [ok(30 * S), fail(40 * S), ok(50 * S), ok(60 * S)];
        let (tr, effects) = run(&DetectorPolicy::default(), &down_since(0), &seq);
        assert_eq!(effects[..3], [vec![], vec![], vec![]]);
        assert_eq!(
            effects[3],
            vec![Effect::Recovered {
                since: 50 * S,
                down_since: 0
            }]
        );
        assert_eq!((tr.state(), tr.since()), (DepState::Up, None));
    }

    #[test]
    fn recovery_successes_zero_means_one() {
        let policy = DetectorPolicy {
            confirm_after: vec![],
            recovery_successes: 0,
        };
        let (tr, effects) = run(&policy, &up(), &[fail(1), ok(2)]);
        assert_eq!(
            effects[1],
            vec![Effect::Recovered {
                since: 2,
                down_since: 1
            }]
        );
        assert_eq!(tr.state(), DepState::Up);
    }

    #[test]
    fn slow_probes_confirm_degraded() {
        let (tr, effects) = run(
            &DetectorPolicy::default(),
            &up(),
            &[slow(10 * S), slow(12 * S), slow(16 * S)],
        );
        assert_eq!(
            effects,
            vec![
                vec![sc(2)],
                vec![sc(4)],
                vec![Effect::BecameDegraded { since: 10 * S }]
            ]
        );
        assert_eq!((tr.state(), tr.since()), (DepState::Degraded, Some(10 * S)));
    }

    #[test]
    fn slow_then_failures_is_degraded_then_down_since_the_first_failure() {
        let seq = [slow(0), fail(2 * S), fail(6 * S), fail(16 * S)];
        let (tr, effects) = run(&DetectorPolicy::default(), &up(), &seq);
        assert_eq!(effects[2], vec![Effect::BecameDegraded { since: 0 }, sc(4)]);
        assert_eq!(effects[3], vec![Effect::BecameDown { since: 2 * S }]);
        assert_eq!(tr.state(), DepState::Down);
    }

    #[test]
    fn degraded_recovers_after_consecutive_ok_probes_only() {
        let degraded = run(
            &DetectorPolicy::default(),
            &up(),
            &[slow(0), slow(2 * S), slow(6 * S)],
        )
        .0;
        let seq = [ok(20 * S), slow(30 * S), ok(40 * S), ok(50 * S)];
        let (tr, effects) = run(&DetectorPolicy::default(), &degraded, &seq);
        assert_eq!(effects[..3], [vec![], vec![], vec![]]);
        assert_eq!(
            effects[3],
            vec![Effect::RecoveredFromDegraded {
                since: 40 * S,
                degraded_since: 0
            }]
        );
        assert_eq!(tr.state(), DepState::Up);
    }

    #[test]
    fn answering_slowly_ends_the_outage_but_leaves_it_degraded() {
        let (tr, effects) = run(
            &DetectorPolicy::default(),
            &down_since(0),
            &[ok(30 * S), slow(40 * S)],
        );
        let expected = vec![
            Effect::Recovered {
                since: 30 * S,
                down_since: 0,
            },
            Effect::BecameDegraded { since: 30 * S },
        ];
        assert_eq!(effects[1], expected);
        assert_eq!((tr.state(), tr.since()), (DepState::Degraded, Some(30 * S)));
        let (tr, effects) = run(
            &DetectorPolicy::default(),
            &down_since(0),
            &[slow(30 * S), ok(40 * S)],
        );
        assert_eq!(
            effects[1],
            vec![Effect::Recovered {
                since: 30 * S,
                down_since: 0
            }]
        );
        assert_eq!(tr.state(), DepState::Up);
    }

    #[test]
    fn answering_while_degraded_and_confirming_down_is_a_false_alarm() {
        let degraded = run(
            &DetectorPolicy::default(),
            &up(),
            &[slow(0), slow(2 * S), slow(6 * S)],
        )
        .0;
        let (tr, effects) = run(
            &DetectorPolicy::default(),
            &degraded,
            &[fail(20 * S), slow(22 * S)],
        );
        assert_eq!(
            effects,
            vec![
                vec![sc(2)],
                vec![Effect::FalseAlarm {
                    first_fail_at: 20 * S
                }]
            ]
        );
        assert_eq!(tr.state(), DepState::Degraded);
    }

    #[test]
    fn config_and_local_network_failures_never_change_anything() {
        let confirming = run(&DetectorPolicy::default(), &up(), &[fail(0)]).0;
        for tracker in [Tracker::default(), up(), confirming, down_since(0)] {
            for o in [
                at(7, Outcome::ConfigError, None),
                at(7, Outcome::Fail, Some(FailureClass::Config)),
            ] {
                let (next, effects) = tracker.observe(&DetectorPolicy::default(), &o);
                assert_eq!(
                    (next, effects),
                    (tracker.clone(), vec![Effect::ConfigProblem { at: 7 }])
                );
            }
            let o = at(7, Outcome::Fail, Some(FailureClass::LocalNetwork));
            let (next, effects) = tracker.observe(&DetectorPolicy::default(), &o);
            assert_eq!(
                (next, effects),
                (tracker.clone(), vec![Effect::LocalNetworkProblem { at: 7 }])
            );
        }
    }

    #[test]
    fn local_network_failure_does_not_break_a_confirmation_streak() {
        let local = at(S, Outcome::Fail, Some(FailureClass::LocalNetwork));
        let (tr, effects) = run(
            &DetectorPolicy::default(),
            &up(),
            &[fail(0), local, fail(10 * S), fail(14 * S)],
        );
        assert_eq!(effects[3], vec![Effect::BecameDown { since: 0 }]);
        assert_eq!(tr.state(), DepState::Down);
    }

    #[test]
    fn a_failure_without_class_counts_as_a_provider_failure() {
        let bare = |t| at(t, Outcome::Fail, None);
        let (tr, _) = run(
            &DetectorPolicy::default(),
            &up(),
            &[bare(0), bare(2 * S), bare(6 * S)],
        );
        assert_eq!(tr.state(), DepState::Down);
    }

    #[test]
    fn tracker_round_trips_through_json_and_tolerates_missing_fields() {
        let confirming = run(&DetectorPolicy::default(), &down_since(0), &[ok(30 * S)]).0;
        let json = serde_json::to_string(&confirming).expect("serialise");
        assert_eq!(
            serde_json::from_str::<Tracker>(&json).expect("parse"),
            confirming
        );
        assert_eq!(
            serde_json::from_str::<Tracker>("{}").expect("parse"),
            Tracker::default()
        );
    }

    fn policy_strategy() -> impl Strategy<Value = DetectorPolicy> {
        (prop::collection::vec(1u64..5_000, 0..4), 0u32..5).prop_map(
            |(delays, recovery_successes)| DetectorPolicy {
                confirm_after: delays.into_iter().map(Duration::from_millis).collect(),
                recovery_successes,
            },
        )
    }

    /// Random observations at strictly increasing times, all outcomes and classes mixed.
    fn observations(max: usize) -> impl Strategy<Value = Vec<Observation>> {
        prop::collection::vec((1i64..20_000, 0u8..7), 0..max).prop_map(|steps| {
            let mut t = 0;
            steps
                .into_iter()
                .map(|(gap, kind)| {
                    t += gap;
                    match kind {
                        0 => ok(t),
                        1 => slow(t),
                        2 => fail(t),
                        3 => at(t, Outcome::Fail, None),
                        4 => at(t, Outcome::ConfigError, None),
                        5 => at(t, Outcome::Fail, Some(FailureClass::Config)),
                        _ => at(t, Outcome::Fail, Some(FailureClass::LocalNetwork)),
                    }
                })
                .collect()
        })
    }

    /// The provider evidence of an observation, `None` for config and local-network problems.
    fn evidence(o: &Observation) -> Option<bool /* failed */> {
        match (o.outcome, o.class) {
            (Outcome::Ok | Outcome::Degraded, _)
            | (Outcome::Fail, Some(FailureClass::Provider) | None) => {
                Some(o.outcome == Outcome::Fail)
            }
            _ => None,
        }
    }

    /// Length and start of the trailing run of evidence whose "failed" flag is `failed`.
    fn trailing_run(history: &[(Millis, bool)], failed: bool) -> (u32, Option<Millis>) {
        let run: Vec<_> = history
            .iter()
            .rev()
            .take_while(|(_, f)| *f == failed)
            .collect();
        (run.len() as u32, run.last().map(|(t, _)| *t))
    }

    fn became_down(effects: &[Effect]) -> Option<Millis> {
        effects.iter().find_map(|e| match e {
            Effect::BecameDown { since } => Some(*since),
            _ => None,
        })
    }

    fn recovered(effects: &[Effect]) -> Option<(Millis, Millis)> {
        effects.iter().find_map(|e| match e {
            Effect::Recovered { since, down_since } => Some((*since, *down_since)),
            _ => None,
        })
    }

    fn schedules(effects: &[Effect]) -> Vec<Duration> {
        effects
            .iter()
            .filter_map(|e| match e {
                Effect::ScheduleConfirm { after } => Some(*after),
                _ => None,
            })
            .collect()
    }

    proptest! {
        #[test]
        fn transitions_follow_the_evidence(policy in policy_strategy(), seq in observations(80)) {
            let need_down = policy.confirm_after.len() as u32 + 1;
            let need_up = policy.recovery_successes.max(1);
            let mut tracker = Tracker::default();
            let mut history = Vec::new();
            let mut last_down_since = None;
            for o in &seq {
                let (next, effects) = tracker.observe(&policy, o);
                let json = serde_json::to_string(&next).expect("serialise");
                prop_assert_eq!(&serde_json::from_str::<Tracker>(&json).expect("parse"), &next);
                let Some(failed) = evidence(o) else {
                    prop_assert_eq!(&next, &tracker);
                    prop_assert_eq!(effects.len(), 1);
                    tracker = next;
                    continue;
                };
                history.push((o.at, failed));
                let was_down = tracker.state() == DepState::Down;
                let is_down = next.state() == DepState::Down;
                let fail_run = trailing_run(&history, true);
                let good_run = trailing_run(&history, false);

                // Down exactly when the failure run reaches 1 + len(confirm_after).
                prop_assert_eq!(became_down(&effects).is_some(), !was_down && is_down);
                prop_assert_eq!(!was_down && is_down, !was_down && fail_run.0 >= need_down);
                if let Some(since) = became_down(&effects) {
                    prop_assert_eq!(fail_run, (need_down, Some(since)));
                    last_down_since = Some(since);
                }

                // Up (or degraded) exactly when the answering run reaches recovery_successes.
                prop_assert_eq!(recovered(&effects).is_some(), was_down && !is_down);
                prop_assert_eq!(was_down && !is_down, was_down && good_run.0 >= need_up);
                if let Some((since, down_since)) = recovered(&effects) {
                    prop_assert_eq!(good_run, (need_up, Some(since)));
                    prop_assert_eq!(Some(down_since), last_down_since);
                }

                let scheduled = schedules(&effects);
                prop_assert!(scheduled.len() <= 1);
                for after in scheduled {
                    prop_assert!(policy.confirm_after.contains(&after) && next.is_confirming());
                }
                tracker = next;
            }
        }

        #[test]
        fn an_isolated_failure_never_makes_down(
            policy in policy_strategy().prop_filter("confirming", |p| !p.confirm_after.is_empty()),
            prefix in observations(40),
        ) {
            let t = prefix.last().map_or(0, |o| o.at);
            let tail = [ok(t + 1), fail(t + 2), ok(t + 3)];
            let seq: Vec<_> = prefix.iter().copied().chain(tail).collect();
            let (_, effects) = run(&policy, &Tracker::default(), &seq);
            for step in &effects[prefix.len()..] {
                prop_assert_eq!(became_down(step), None);
            }
        }

        #[test]
        fn nothing_is_decided_across_a_gap_in_our_own_probing(
            prefix in observations(40),
            after in proptest::collection::vec(any::<bool>(), 1..6),
        ) {
            // Default policy: a down needs 3 failures in a row, a recovery 2 good probes.
            let policy = DetectorPolicy::default();
            let gap: Millis = 60_000;
            let (before, _) = run(&policy, &Tracker::default(), &prefix);
            let resume = prefix.last().map_or(0, |o| o.at) + gap + 1;
            let mut tracker = before.clone();
            let mut run_len = 0u32;
            let mut run_kind = None;
            for (k, failed) in after.iter().enumerate() {
                let t = resume + k as Millis * 1_000;
                let o = if *failed { fail(t) } else { ok(t) };
                let (next, effects) = tracker.observe_after_gap(&policy, &o, gap);
                if run_kind == Some(*failed) { run_len += 1 } else { run_kind = Some(*failed); run_len = 1 }
                // Every change of state is made of probes after the gap alone.
                if let Some(since) = became_down(&effects) {
                    prop_assert!(since >= resume && run_len >= 3, "down from {since} after {run_len}");
                }
                if let Some((since, _)) = recovered(&effects) {
                    prop_assert!(since >= resume && run_len >= 2, "up from {since} after {run_len}");
                }
                tracker = next;
            }
        }
    }

    #[test]
    fn a_streak_cut_by_a_gap_starts_again() {
        let p = DetectorPolicy::default();
        let gap = 30_000;
        // Two failures, then our probing stops for a minute: the third failure starts afresh.
        let (tr, _) = run(&p, &up(), &[fail(10 * S), fail(12 * S)]);
        let (tr, effects) = tr.observe_after_gap(&p, &fail(72 * S), gap);
        assert_eq!(effects, vec![sc(2)], "a fresh confirmation, not a down");
        assert_eq!(tr.first_fail_at(), Some(72 * S));
        // Down, one good probe, a gap: the next good probe is the first of a new streak.
        let (tr, _) = down_since(0).observe(&p, &ok(100 * S));
        let (tr, effects) = tr.observe_after_gap(&p, &ok(200 * S), gap);
        assert!(effects.is_empty(), "{effects:?}");
        assert_eq!(tr.state(), DepState::Down);
        let (tr, effects) = tr.observe_after_gap(&p, &ok(210 * S), gap);
        assert_eq!(
            effects,
            vec![Effect::Recovered {
                since: 200 * S,
                down_since: 0
            }]
        );
        assert_eq!(tr.state(), DepState::Up);
        // Without a gap nothing is forgotten.
        assert!(!tr.gap_before(240 * S, gap));
        assert!(tr.gap_before(240 * S + 1, gap));
    }
}

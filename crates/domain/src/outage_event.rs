//! Which notices a merchant is due, given the incidents of what they subscribe to and what
//! they have already been told: one *outage event* per merchant.
//!
//! Incidents a merchant is told about that overlap in time form one outage event (the 2022
//! fire: Talk, Login, Pay and Map). For each event the merchant hears:
//! 1. one first notice (`Down`), naming everything confirmed by the end of the group window
//!    opened by the first confirmation ([`crate::grouping`]);
//! 2. at most one merged follow-up (`FollowUp`, "also down: …") per group-window-spaced batch
//!    for what is confirmed later in the event, never one text per dependency;
//! 3. one `Recovery` when everything the merchant was told about is back (a group window
//!    after the last of it came back, so a straggler is not a second text), naming all of it
//!    with the event's length;
//! 4. a `PartialRecovery` ("login is back, pay is still down") only when something has been
//!    back for `partial_recovery_after` while the rest is still down; what it names is not
//!    named again by the final recovery;
//! 5. a `Relapse` for an incident that went down again within `reopen_window` of its recovery
//!    (same incident record), at most one per reopen window, as before.
//!
//! Each incident a notice tells records a key per merchant (`down`, `relapse:{bucket}`,
//! `recovery:{relapse count}`), unique in the database, so whatever restarts or replicas
//! happen, the same thing is never told twice. This module only decides; the planner reads
//! and writes.
use std::time::Duration;

use crate::Millis;
use crate::grouping::{group_window_closes, next_window_start, partition_for_notice};
use crate::message::NoticeKind;

/// What the planner knows of one incident, for one merchant.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IncidentView {
    pub id: i64,
    pub confirmed_at: Millis,
    pub resolved_at: Option<Millis>,
    pub relapse_count: i32,
    pub last_relapse_at: Option<Millis>,
    /// The merchant is to hear about it: a `down` incident, or a `degraded` one they opted
    /// into.
    pub told_to_merchant: bool,
}

/// The windows of the rules above.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct EventPolicy {
    pub group_window: Duration,
    pub reopen_window: Duration,
    pub partial_recovery_after: Duration,
}

/// One notice due: its kind, the incidents it tells with the key each records, and (for a
/// partial recovery) those still down.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DueNotice {
    pub kind: NoticeKind,
    pub incidents: Vec<(i64, String)>,
    pub still_down: Vec<i64>,
}

/// The key a recovery of `incident` records.
pub fn recovery_key(incident: &IncidentView) -> String {
    format!("recovery:{}", incident.relapse_count)
}

/// The key a relapse notice of `incident` records: one per reopen window.
pub fn relapse_key(incident: &IncidentView, policy: &EventPolicy, now: Millis) -> String {
    let window = i64::try_from(policy.reopen_window.as_millis())
        .unwrap_or(i64::MAX)
        .max(1);
    format!(
        "relapse:{}",
        incident.last_relapse_at.unwrap_or(now) / window
    )
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// The notices due at `now` for one merchant. `told(incident, key)` says whether that key was
/// recorded for this merchant already.
pub fn due_notices(
    incidents: &[IncidentView],
    told: impl Fn(i64, &str) -> bool,
    policy: &EventPolicy,
    now: Millis,
) -> Vec<DueNotice> {
    let ours: Vec<&IncidentView> = incidents.iter().filter(|i| i.told_to_merchant).collect();
    let open: Vec<&IncidentView> = ours
        .iter()
        .copied()
        .filter(|i| i.resolved_at.is_none())
        .collect();
    let mut due = Vec::new();
    due.extend(first_or_follow_up(&open, &told, policy, now));
    due.extend(relapses(&open, &told, policy, now));
    due.extend(recovery(&ours, &open, &told, policy, now));
    due
}

/// Rules 1 and 2: what is open and untold, in the window it falls into.
fn first_or_follow_up(
    open: &[&IncidentView],
    told: &impl Fn(i64, &str) -> bool,
    policy: &EventPolicy,
    now: Millis,
) -> Option<DueNotice> {
    let already: Vec<i64> = open
        .iter()
        .filter(|i| told(i.id, "down"))
        .map(|i| i.id)
        .collect();
    let confirmed: Vec<(i64, Millis)> = open.iter().map(|i| (i.id, i.confirmed_at)).collect();
    let start = next_window_start(&already, &confirmed)?;
    if now < group_window_closes(start, policy.group_window) {
        return None;
    }
    let (now_ids, _later) = partition_for_notice(&already, &confirmed, start, policy.group_window);
    if now_ids.is_empty() {
        return None;
    }
    Some(DueNotice {
        // Something of this event was told already: the rest is "also down".
        kind: if already.is_empty() {
            NoticeKind::Down
        } else {
            NoticeKind::FollowUp
        },
        incidents: now_ids.into_iter().map(|id| (id, "down".into())).collect(),
        still_down: Vec::new(),
    })
}

/// Rule 5: an incident told before that went down again.
fn relapses(
    open: &[&IncidentView],
    told: &impl Fn(i64, &str) -> bool,
    policy: &EventPolicy,
    now: Millis,
) -> Vec<DueNotice> {
    open.iter()
        .filter(|i| i.relapse_count > 0 && told(i.id, "down"))
        .filter_map(|i| {
            let key = relapse_key(i, policy, now);
            let settled =
                now >= group_window_closes(i.last_relapse_at.unwrap_or(now), policy.group_window);
            (!told(i.id, &key) && settled).then(|| DueNotice {
                kind: NoticeKind::Relapse,
                incidents: vec![(i.id, key)],
                still_down: Vec::new(),
            })
        })
        .collect()
}

/// Rules 3 and 4: what was told down and is back, told once the whole event is back, or in
/// part once it has been back long enough while the rest is not.
fn recovery(
    ours: &[&IncidentView],
    open: &[&IncidentView],
    told: &impl Fn(i64, &str) -> bool,
    policy: &EventPolicy,
    now: Millis,
) -> Option<DueNotice> {
    let back: Vec<&IncidentView> = ours
        .iter()
        .copied()
        .filter(|i| i.resolved_at.is_some() && told(i.id, "down"))
        .filter(|i| !told(i.id, &recovery_key(i)))
        .collect();
    let first_back = back.iter().filter_map(|i| i.resolved_at).min()?;
    let last_back = back.iter().filter_map(|i| i.resolved_at).max()?;
    let keys = || {
        let mut v: Vec<(i64, String)> = back.iter().map(|i| (i.id, recovery_key(i))).collect();
        v.sort_unstable();
        v
    };
    if open.is_empty() {
        return (now >= group_window_closes(last_back, policy.group_window)).then(|| DueNotice {
            kind: NoticeKind::Recovery,
            incidents: keys(),
            still_down: Vec::new(),
        });
    }
    (now >= first_back.saturating_add(ms(policy.partial_recovery_after))).then(|| {
        let mut still: Vec<i64> = open.iter().map(|i| i.id).collect();
        still.sort_unstable();
        DueNotice {
            kind: NoticeKind::PartialRecovery,
            incidents: keys(),
            still_down: still,
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;
    use std::cell::RefCell;
    use std::collections::HashSet;

    const S: i64 = 1000;
    const M: i64 = 60 * S;
    const POLICY: EventPolicy = EventPolicy {
        group_window: Duration::from_secs(5),
        reopen_window: Duration::from_secs(600),
        partial_recovery_after: Duration::from_secs(900),
    };

    fn inc(id: i64, confirmed_at: i64, resolved_at: Option<i64>) -> IncidentView {
        IncidentView {
            id,
            confirmed_at,
            resolved_at,
            relapse_count: 0,
            last_relapse_at: None,
            told_to_merchant: true,
        }
    }

    /// Plays the planner: a pass every second from `from` to `to`, each due notice recorded
    /// as told, the incidents' state at each instant given by `at`.
    fn run(at: impl Fn(i64) -> Vec<IncidentView>, from: i64, to: i64) -> Vec<(i64, DueNotice)> {
        let told: RefCell<HashSet<(i64, String)>> = RefCell::new(HashSet::new());
        let mut out = Vec::new();
        let mut now = from;
        while now <= to {
            let incs = at(now);
            let due = due_notices(
                &incs,
                |id, key| told.borrow().contains(&(id, key.to_string())),
                &POLICY,
                now,
            );
            for d in due {
                for (id, key) in &d.incidents {
                    told.borrow_mut().insert((*id, key.clone()));
                }
                out.push((now, d));
            }
            now += S;
        }
        out
    }

    fn kinds(notices: &[(i64, DueNotice)]) -> Vec<NoticeKind> {
        notices.iter().map(|(_, d)| d.kind).collect()
    }

    /// Kakao's four dependencies confirmed within one confirmation cycle, back at different
    /// times because their intervals differ (10 s, 30 s, 5 min): one down, one recovery.
    #[test]
    fn the_fire_is_one_down_and_one_recovery() {
        let confirmed = [6 * S, 7 * S, 8 * S, 9 * S];
        let resolved = [3600 * S, 3620 * S, 3650 * S, 4200 * S];
        let at = |now: i64| {
            (0..4)
                .filter(|i| confirmed[*i] <= now)
                .map(|i| {
                    inc(
                        i as i64 + 1,
                        confirmed[i],
                        Some(resolved[i]).filter(|r| *r <= now),
                    )
                })
                .collect()
        };
        let notices = run(at, 0, 5000 * S);
        assert_eq!(
            kinds(&notices),
            vec![NoticeKind::Down, NoticeKind::Recovery],
            "{notices:?}"
        );
        assert_eq!(
            notices[0].1.incidents.len(),
            4,
            "the first notice names all four"
        );
        assert_eq!(
            notices[0].0,
            11 * S,
            "a group window after the first confirmation"
        );
        assert_eq!(
            notices[1].1.incidents.len(),
            4,
            "the recovery names all four"
        );
        assert_eq!(notices[1].0, 4205 * S, "after the last came back");
    }

    #[test]
    fn something_back_long_before_the_rest_gets_one_partial_notice() {
        let at = |now: i64| {
            vec![
                inc(1, 6 * S, Some(40 * M).filter(|r| *r <= now)),
                inc(2, 6 * S, Some(60 * M).filter(|r| *r <= now)),
                inc(3, 7 * S, Some(61 * M).filter(|r| *r <= now)),
            ]
        };
        let notices = run(at, 6 * S, 90 * M);
        assert_eq!(
            kinds(&notices),
            vec![
                NoticeKind::Down,
                NoticeKind::PartialRecovery,
                NoticeKind::Recovery
            ],
            "{notices:?}"
        );
        let partial = &notices[1];
        assert_eq!(partial.0, 55 * M, "15 minutes after the first came back");
        assert_eq!(partial.1.incidents, vec![(1, "recovery:0".to_string())]);
        assert_eq!(partial.1.still_down, vec![2, 3]);
        let last = &notices[2].1;
        assert_eq!(
            last.incidents.iter().map(|(id, _)| *id).collect::<Vec<_>>(),
            vec![2, 3],
            "what the partial named is not named again"
        );
    }

    #[test]
    fn a_short_stagger_gets_no_partial_notice() {
        let at = |now: i64| {
            vec![
                inc(1, 6 * S, Some(40 * M).filter(|r| *r <= now)),
                inc(2, 6 * S, Some(54 * M).filter(|r| *r <= now)),
            ]
        };
        assert_eq!(
            kinds(&run(at, 6 * S, 90 * M)),
            vec![NoticeKind::Down, NoticeKind::Recovery]
        );
    }

    #[test]
    fn later_confirmations_are_merged_into_one_follow_up_per_window() {
        // Told at 11 s; then three more confirmed at 30, 31 and 33 s: one follow-up.
        let confirmed = [6 * S, 30 * S, 31 * S, 33 * S];
        let at = |now: i64| {
            (0..4)
                .filter(|i| confirmed[*i] <= now)
                .map(|i| inc(i as i64 + 1, confirmed[i], None))
                .collect()
        };
        let notices = run(at, 0, 120 * S);
        assert_eq!(
            kinds(&notices),
            vec![NoticeKind::Down, NoticeKind::FollowUp]
        );
        assert_eq!(notices[1].1.incidents.len(), 3);
    }

    #[test]
    fn what_the_merchant_is_not_told_about_is_ignored() {
        let mut degraded = inc(2, 6 * S, None);
        degraded.told_to_merchant = false;
        let at = |now: i64| {
            vec![
                inc(1, 6 * S, Some(30 * M).filter(|r| *r <= now)),
                degraded.clone(),
            ]
        };
        let notices = run(at, 0, 40 * M);
        assert_eq!(
            kinds(&notices),
            vec![NoticeKind::Down, NoticeKind::Recovery]
        );
        assert_eq!(notices[0].1.incidents, vec![(1, "down".to_string())]);
    }

    #[test]
    fn a_relapse_is_told_once_per_reopen_window_and_recovers_again() {
        let at = |now: i64| {
            let mut i = inc(1, 6 * S, Some(5 * M).filter(|r| *r <= now));
            if now >= 8 * M {
                i.resolved_at = (now >= 12 * M).then_some(12 * M);
                i.relapse_count = 1;
                i.last_relapse_at = Some(8 * M);
            }
            vec![i]
        };
        let notices = run(at, 0, 20 * M);
        assert_eq!(
            kinds(&notices),
            vec![
                NoticeKind::Down,
                NoticeKind::Recovery,
                NoticeKind::Relapse,
                NoticeKind::Recovery
            ]
        );
    }

    proptest! {
        /// Whatever the confirmation and recovery times of up to six incidents that overlap,
        /// the merchant hears one first notice, one final recovery, and never a key twice.
        #[test]
        fn one_first_notice_and_one_recovery_per_event(
            confirm in proptest::collection::vec(0i64..60, 1..6),
            back_after in proptest::collection::vec(1i64..120, 6),
        ) {
            let n = confirm.len();
            let confirmed: Vec<i64> = confirm.iter().map(|c| 6 * S + c * S).collect();
            // Every incident stays down at least until the last confirmation: they overlap.
            let last_confirmed = *confirmed.iter().max().unwrap_or(&0);
            let resolved: Vec<i64> = (0..n).map(|i| last_confirmed + back_after[i] * M).collect();
            let at = |now: i64| {
                (0..n)
                    .filter(|i| confirmed[*i] <= now)
                    .map(|i| inc(i as i64 + 1, confirmed[i], Some(resolved[i]).filter(|r| *r <= now)))
                    .collect()
            };
            let end = resolved.iter().max().copied().unwrap_or(0) + M;
            let notices = run(at, 0, end);
            let k = kinds(&notices);
            prop_assert_eq!(k.iter().filter(|k| **k == NoticeKind::Down).count(), 1);
            prop_assert_eq!(k.iter().filter(|k| **k == NoticeKind::Recovery).count(), 1);
            prop_assert_eq!(k.last().copied(), Some(NoticeKind::Recovery));
            let mut keys = HashSet::new();
            for (_, d) in &notices {
                for key in &d.incidents {
                    prop_assert!(keys.insert(key.clone()), "told twice: {:?}", key);
                }
            }
            // Every incident is told down once and back once.
            prop_assert_eq!(keys.len(), 2 * n);
        }
    }
}

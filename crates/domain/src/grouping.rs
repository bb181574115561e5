//! Which confirmed-down dependencies go into a merchant's next notice.
//!
//! Rules (the README's design notes, "One outage event per merchant"; the event rules are
//! in [`crate::outage_event`]):
//!
//! 1. A merchant's first notice waits `group_window` (default 5 s) after the first confirmed
//!    failure among the dependencies they have not been told about, and names every one
//!    confirmed down by the time the window closes. In the 2022 fire, Talk, Login, Pay and Map
//!    fell within seconds of each other: one SMS naming four, not four SMS.
//! 2. A dependency is never told twice: anything in the merchant's already-notified set is left
//!    out of both the notice and the follow-up.
//! 3. A dependency confirmed after the window closed waits for a follow-up notice
//!    ("also down: …"), which is grouped in its own window starting at that dependency's
//!    confirmation ([`next_window_start`] on what remains).
//! 4. A dependency confirmed before the window started but not yet told (a merchant who
//!    subscribes or is imported while an incident is open) goes into the notice at once.
//!
//! Recoveries are not grouped by window: one recovery per outage event (`outage_event`).
//! The window includes its closing instant.
use std::time::Duration;

use crate::Millis;

/// The instant the grouping window opened at `first_confirmed_at` closes, when the notice
/// is built and queued. Saturates instead of overflowing on absurd inputs.
pub fn group_window_closes(first_confirmed_at: Millis, group_window: Duration) -> Millis {
    let window = i64::try_from(group_window.as_millis()).unwrap_or(i64::MAX);
    first_confirmed_at.saturating_add(window)
}

/// Where the next window opens: the earliest confirmation among dependencies not yet told,
/// or `None` when there is nothing left to tell.
pub fn next_window_start(already_notified: &[i64], confirmed: &[(i64, Millis)]) -> Option<Millis> {
    confirmed
        .iter()
        .filter(|(id, _)| !already_notified.contains(id))
        .map(|&(_, at)| at)
        .min()
}

/// Splits the confirmed-down dependencies (`(dep id, confirmed at)`) into those named in the
/// notice of the window `[window_start, window_start + window]` and those confirmed later,
/// which wait for a follow-up. Already-notified ids appear in neither.
///
/// Both lists are in the order the dependencies went down (ties by id), which is the order a
/// notice names them; an id listed twice counts once, at its earliest confirmation.
pub fn partition_for_notice(
    already_notified: &[i64],
    confirmed: &[(i64, Millis)],
    window_start: Millis,
    window: Duration,
) -> (Vec<i64>, Vec<i64>) {
    let closes = group_window_closes(window_start, window);
    let mut pending: Vec<(Millis, i64)> = Vec::with_capacity(confirmed.len());
    for &(id, at) in confirmed {
        if already_notified.contains(&id) {
            continue;
        }
        match pending.iter_mut().find(|(_, seen)| *seen == id) {
            Some(entry) => entry.0 = entry.0.min(at),
            None => pending.push((at, id)),
        }
    }
    pending.sort_unstable();
    let (now, later): (Vec<_>, Vec<_>) = pending.into_iter().partition(|&(at, _)| at <= closes);
    (
        now.into_iter().map(|(_, id)| id).collect(),
        later.into_iter().map(|(_, id)| id).collect(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const W: Duration = Duration::from_secs(5);

    #[test]
    fn window_closes_after_group_window() {
        assert_eq!(group_window_closes(1_000, W), 6_000);
        assert_eq!(group_window_closes(i64::MAX - 1, W), i64::MAX);
        assert_eq!(group_window_closes(0, Duration::MAX), i64::MAX);
    }

    #[test]
    fn fire_four_deps_within_window_make_one_notice() {
        let confirmed = [(3, 1_400), (1, 1_000), (4, 6_000), (2, 1_200)];
        let start = next_window_start(&[], &confirmed);
        assert_eq!(start, Some(1_000));
        let (now, later) = partition_for_notice(&[], &confirmed, 1_000, W);
        assert_eq!(
            now,
            vec![1, 2, 3, 4],
            "6 000 is the closing instant, still inside"
        );
        assert!(later.is_empty());
    }

    #[test]
    fn late_confirmation_waits_for_a_follow_up() {
        let confirmed = [(1, 1_000), (2, 6_001), (3, 9_000)];
        let (now, later) = partition_for_notice(&[], &confirmed, 1_000, W);
        assert_eq!((now, later), (vec![1], vec![2, 3]));
        // After the first notice went out, the follow-up window starts at dep 2.
        let told = [1];
        assert_eq!(next_window_start(&told, &confirmed), Some(6_001));
        let (now, later) = partition_for_notice(&told, &confirmed, 6_001, W);
        assert_eq!((now, later), (vec![2, 3], vec![]));
        assert_eq!(next_window_start(&[1, 2, 3], &confirmed), None);
    }

    #[test]
    fn already_notified_is_never_repeated() {
        let confirmed = [(1, 1_000), (2, 2_000)];
        let (now, later) = partition_for_notice(&[1, 2], &confirmed, 1_000, W);
        assert!(now.is_empty() && later.is_empty());
    }

    #[test]
    fn confirmed_before_the_window_is_told_at_once() {
        // A merchant imported mid-incident: everything already down is in their first notice.
        let confirmed = [(7, 1_000), (8, 50_000)];
        let (now, later) = partition_for_notice(&[], &confirmed, 60_000, W);
        assert_eq!((now, later), (vec![7, 8], vec![]));
    }

    #[test]
    fn duplicates_count_once_at_their_earliest() {
        let confirmed = [(1, 9_000), (2, 1_000), (1, 2_000)];
        let (now, later) = partition_for_notice(&[], &confirmed, 1_000, W);
        assert_eq!((now, later), (vec![2, 1], vec![]));
    }

    proptest! {
        #[test]
        fn partition_is_exact(
            confirmed in proptest::collection::vec((0i64..20, 0i64..20_000), 0..30),
            told in proptest::collection::vec(0i64..20, 0..10),
            start in 0i64..20_000,
        ) {
            let (now, later) = partition_for_notice(&told, &confirmed, start, W);
            let mut all: Vec<i64> = now.iter().chain(&later).copied().collect();
            all.sort_unstable();
            let mut expected: Vec<i64> = confirmed.iter().map(|&(id, _)| id)
                .filter(|id| !told.contains(id)).collect();
            expected.sort_unstable();
            expected.dedup();
            prop_assert_eq!(all, expected);
            let earliest = |id: i64| confirmed.iter().filter(|c| c.0 == id).map(|c| c.1).min();
            for id in &now {
                prop_assert!(earliest(*id).is_some_and(|at| at <= start + 5_000));
            }
            for id in &later {
                prop_assert!(earliest(*id).is_some_and(|at| at > start + 5_000));
            }
        }
    }
}

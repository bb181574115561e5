//! Reporting an outage for a compensation claim: which incidents are one *outage event* for a
//! report, whether an outage crossed the legal two-hour line, and the estimated compensation
//! tier of a claimed loss.
//!
//! - Incidents whose probe-measured windows overlap (directly or through each other) are one
//!   event: the 2022 fire took down Talk, Login, Pay and Map at once, and a merchant files
//!   one report for all four. The event is named by its *anchor*: the incident that started
//!   first (ties: the lower id), so every merchant's report on the fire lands on the same key.
//! - Since 2025-03-28 a platform whose service stops for two hours or more must tell its users
//!   and publish compensation criteria within 30 days: [`TWO_HOURS_MS`].
//! - The tiers are configuration (`[compensation]`); the 2022 tiers are the default. What
//!   [`estimate`] returns is an estimate for the merchant's orientation, never a promise.
use crate::Millis;

/// The legal line (전기통신사업법, from 2025-03-28): a stop of two hours or more.
pub const TWO_HOURS_MS: i64 = 2 * 3_600_000;

/// True when a measured outage of `ms` reaches the two-hour line.
pub fn reaches_two_hours(ms: i64) -> bool {
    ms >= TWO_HOURS_MS
}

/// One incident's measured window; an open incident (`end: None`) runs until now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Window {
    pub id: i64,
    pub start: Millis,
    pub end: Option<Millis>,
}

impl Window {
    fn end_or(&self, now: Millis) -> Millis {
        self.end.unwrap_or(now).max(self.start)
    }
}

/// The incidents of `all` connected to `seed` through overlapping windows, ordered by start
/// (then id). Empty when `seed` is not in `all`.
pub fn event_group(all: &[Window], seed: i64, now: Millis) -> Vec<Window> {
    let Some(first) = all.iter().find(|w| w.id == seed) else {
        return Vec::new();
    };
    let (mut lo, mut hi) = (first.start, first.end_or(now));
    // The union of overlapping windows is one interval: grow it until nothing new touches it.
    loop {
        let (mut nlo, mut nhi) = (lo, hi);
        for w in all {
            if w.start <= hi && w.end_or(now) >= lo {
                nlo = nlo.min(w.start);
                nhi = nhi.max(w.end_or(now));
            }
        }
        if (nlo, nhi) == (lo, hi) {
            break;
        }
        (lo, hi) = (nlo, nhi);
    }
    let mut group: Vec<Window> = all
        .iter()
        .copied()
        .filter(|w| w.start <= hi && w.end_or(now) >= lo)
        .collect();
    group.sort_by_key(|w| (w.start, w.id));
    group.dedup_by_key(|w| w.id);
    group
}

/// The key of an event: its first incident.
pub fn anchor(group: &[Window]) -> Option<i64> {
    group.iter().min_by_key(|w| (w.start, w.id)).map(|w| w.id)
}

/// The event's span: first start to last end (`None` while any incident is open).
pub fn span(group: &[Window]) -> Option<(Millis, Option<Millis>)> {
    let start = group.iter().map(|w| w.start).min()?;
    let end = if group.iter().any(|w| w.end.is_none()) {
        None
    } else {
        group.iter().filter_map(|w| w.end).max()
    };
    Some((start, end))
}

/// One tier: a loss up to `up_to_krw` (inclusive) is estimated at `estimate_krw`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tier {
    pub up_to_krw: i64,
    pub estimate_krw: i64,
}

/// The 2022 tiers (Kakao's compensation for small businesses after the fire).
pub const TIERS_2022: [Tier; 2] = [
    Tier {
        up_to_krw: 300_000,
        estimate_krw: 30_000,
    },
    Tier {
        up_to_krw: 500_000,
        estimate_krw: 50_000,
    },
];

/// What a claimed loss may bring, as estimated from the tiers.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Estimate {
    /// A fixed amount of the tier the loss falls into.
    Amount(i64),
    /// Above the last tier: the claim is judged on proof.
    ProofRequired,
}

/// The estimate for `loss_krw`; `None` for no loss. `tiers` ascend by `up_to_krw`.
pub fn estimate(tiers: &[Tier], loss_krw: i64) -> Option<Estimate> {
    if loss_krw <= 0 {
        return None;
    }
    Some(
        tiers
            .iter()
            .find(|t| loss_krw <= t.up_to_krw)
            .map(|t| Estimate::Amount(t.estimate_krw))
            .unwrap_or(Estimate::ProofRequired),
    )
}

/// The loss a claim states: sales in a comparable period minus sales in the outage period
/// (never below zero).
pub fn loss_from_sales(outage_period_krw: i64, comparable_krw: i64) -> i64 {
    comparable_krw.saturating_sub(outage_period_krw).max(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    const H: i64 = 3_600_000;

    fn w(id: i64, start: i64, end: Option<i64>) -> Window {
        Window { id, start, end }
    }

    #[test]
    fn the_fire_is_one_event_whatever_incident_it_is_seen_from() {
        // Talk, Login, Pay, Map overlap; a KakaoPay blip a day later is its own event.
        let all = [
            w(11, 10 * H, Some(18 * H)),
            w(12, 10 * H + 60_000, Some(15 * H)),
            w(13, 14 * H, Some(20 * H)),
            w(14, 19 * H, Some(22 * H)),
            w(15, 40 * H, Some(41 * H)),
        ];
        for seed in [11, 12, 13, 14] {
            let g = event_group(&all, seed, 50 * H);
            assert_eq!(
                g.iter().map(|w| w.id).collect::<Vec<_>>(),
                vec![11, 12, 13, 14],
                "seen from {seed}"
            );
            assert_eq!(anchor(&g), Some(11));
            assert_eq!(span(&g), Some((10 * H, Some(22 * H))));
        }
        assert_eq!(anchor(&event_group(&all, 15, 50 * H)), Some(15));
        assert!(event_group(&all, 99, 50 * H).is_empty());
    }

    #[test]
    fn an_open_incident_runs_until_now() {
        let all = [w(1, 0, None), w(2, 5 * H, Some(6 * H))];
        assert_eq!(event_group(&all, 2, 7 * H).len(), 2);
        assert_eq!(event_group(&all, 2, 4 * H).len(), 1, "not yet reached");
        assert_eq!(span(&event_group(&all, 1, 7 * H)), Some((0, None)));
    }

    #[test]
    fn the_2022_tiers() {
        let t = &TIERS_2022;
        assert_eq!(estimate(t, 0), None);
        assert_eq!(estimate(t, 1), Some(Estimate::Amount(30_000)));
        assert_eq!(estimate(t, 300_000), Some(Estimate::Amount(30_000)));
        assert_eq!(estimate(t, 300_001), Some(Estimate::Amount(50_000)));
        assert_eq!(estimate(t, 500_000), Some(Estimate::Amount(50_000)));
        assert_eq!(estimate(t, 500_001), Some(Estimate::ProofRequired));
        assert_eq!(estimate(&[], 10), Some(Estimate::ProofRequired));
    }

    #[test]
    fn two_hours_is_the_line_and_loss_is_the_difference() {
        assert!(!reaches_two_hours(TWO_HOURS_MS - 1));
        assert!(reaches_two_hours(TWO_HOURS_MS));
        assert_eq!(loss_from_sales(400_000, 1_000_000), 600_000);
        assert_eq!(loss_from_sales(1_000_000, 400_000), 0);
    }
}

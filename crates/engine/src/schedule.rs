//! When each check runs: pure bookkeeping over a min-heap, time passed in.
//!
//! An `interval` check's slots are `phase + k × interval`, with the phase spread
//! deterministically (by check id) within the first interval so thousands of checks do not
//! fire in the same millisecond, and kept afterwards with no added delay. A cron `schedule`'s
//! slots are its fire times plus a small deterministic offset (< 1 s), read in the service
//! time zone (`notify.time_zone`, Asia/Seoul by default: `0 0 9 * * *` is 09:00 there, and a
//! zone with daylight saving keeps 09:00 local across the change). A slot missed by more
//! than one period is skipped, never piled up. Confirmation re-checks are one-off runs.
use chrono::TimeZone;
use chrono_tz::Tz;
use meoktong_config::{CheckSettings, Settings};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, HashMap};
use std::str::FromStr;

#[derive(Debug, Clone)]
pub enum Cadence {
    Every {
        interval_ms: i64,
    },
    /// A cron schedule and the time zone it is read in.
    Cron(Box<cron::Schedule>, Tz),
}

/// The service time zone cron schedules are read in (`notify.time_zone`, validated when the
/// configuration is loaded; Asia/Seoul if it is somehow not a zone).
pub fn service_time_zone(settings: &Settings) -> Tz {
    Tz::from_str(&settings.notify.time_zone).unwrap_or(chrono_tz::Asia::Seoul)
}

impl Cadence {
    /// A check's cadence: its `schedule` (cron, in `tz`) if it has one, else its `interval`
    /// (30 s when neither is given).
    pub fn of_check(c: &CheckSettings, tz: Tz) -> Result<Cadence, String> {
        let interval = c.interval.or(if c.schedule.is_none() {
            Some(CheckSettings::DEFAULT_INTERVAL)
        } else {
            None
        });
        Cadence::parse(
            interval.map(|d| d.as_millis() as i64),
            c.schedule.as_deref(),
            tz,
        )
    }

    pub fn parse(
        interval_ms: Option<i64>,
        schedule: Option<&str>,
        tz: Tz,
    ) -> Result<Cadence, String> {
        match (interval_ms, schedule) {
            (_, Some(expr)) => {
                let normalized = meoktong_config::normalize_cron(expr);
                cron::Schedule::from_str(&normalized)
                    .map(|s| Cadence::Cron(Box::new(s), tz))
                    .map_err(|e| format!("`{expr}`: {e}"))
            }
            (Some(ms), None) if ms >= 1000 => Ok(Cadence::Every { interval_ms: ms }),
            (Some(ms), None) => Err(format!("interval {ms} ms is under 1 s")),
            (None, None) => Err("neither interval nor schedule".into()),
        }
    }

    /// The nominal period, for skipping missed slots and for quorum freshness.
    pub fn period_ms(&self, around: i64) -> i64 {
        match self {
            Cadence::Every { interval_ms } => *interval_ms,
            Cadence::Cron(s, tz) => {
                let a = next_cron(s, *tz, around, 0);
                let b = a.and_then(|a| next_cron(s, *tz, a, 0));
                match (a, b) {
                    (Some(a), Some(b)) => (b - a).max(1000),
                    _ => 60_000,
                }
            }
        }
    }
}

fn next_cron(s: &cron::Schedule, tz: Tz, after_ms: i64, offset_ms: i64) -> Option<i64> {
    let after = tz.timestamp_millis_opt(after_ms - offset_ms).single()?;
    s.after(&after)
        .next()
        .map(|t| t.timestamp_millis() + offset_ms)
}

/// Deterministic spread in `[0, span)` from an id (a multiplicative hash).
pub fn spread(id: i64, span: i64) -> i64 {
    if span <= 1 {
        return 0;
    }
    let h = (id as u64)
        .wrapping_mul(0x9E37_79B9_7F4A_7C15)
        .rotate_left(17);
    (h % span as u64) as i64
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Run {
    pub check_id: i64,
    /// The scheduled time (the slot); confirmations use their own due time.
    pub slot_at: i64,
    pub confirmation: bool,
}

struct Entry {
    cadence: Cadence,
    offset_ms: i64,
}

/// The schedule of every check this process probes.
#[derive(Default)]
pub struct Scheduler {
    entries: HashMap<i64, Entry>,
    heap: BinaryHeap<Reverse<(i64, i64, bool)>>,
    /// Slots skipped because the process was too far behind.
    pub skipped: u64,
}

impl Scheduler {
    pub fn new() -> Scheduler {
        Scheduler::default()
    }

    /// Adds (or replaces) a check; its first slot is after `now`.
    pub fn insert(&mut self, check_id: i64, cadence: Cadence, now: i64) {
        let offset_ms = match &cadence {
            Cadence::Every { interval_ms } => spread(check_id, *interval_ms),
            Cadence::Cron(..) => spread(check_id, 1000),
        };
        let entry = Entry { cadence, offset_ms };
        let first = next_slot(&entry, now);
        self.entries.insert(check_id, entry);
        if let Some(first) = first {
            self.heap.push(Reverse((first, check_id, false)));
        }
    }

    pub fn remove(&mut self, check_id: i64) {
        self.entries.remove(&check_id);
    }

    pub fn len(&self) -> usize {
        self.entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.entries.is_empty()
    }

    /// A one-off re-check at `at` (from `confirm_after`).
    pub fn confirm_at(&mut self, check_id: i64, at: i64) {
        self.heap.push(Reverse((at, check_id, true)));
    }

    /// When the next run is due, if any.
    pub fn next_due(&self) -> Option<i64> {
        self.heap.peek().map(|Reverse((t, _, _))| *t)
    }

    /// Every run due at or before `now`. Slots later than one period behind are skipped.
    pub fn due(&mut self, now: i64) -> Vec<Run> {
        let mut out = Vec::new();
        while let Some(Reverse((at, check_id, confirmation))) = self.heap.peek().copied() {
            if at > now {
                break;
            }
            self.heap.pop();
            let Some(entry) = self.entries.get(&check_id) else {
                continue;
            };
            if confirmation {
                out.push(Run {
                    check_id,
                    slot_at: at,
                    confirmation: true,
                });
                continue;
            }
            let period = entry.cadence.period_ms(at);
            if now - at <= period {
                out.push(Run {
                    check_id,
                    slot_at: at,
                    confirmation: false,
                });
            } else {
                self.skipped += 1;
            }
            // The next slot keeps the phase: strictly after max(at, now - period).
            if let Some(next) = next_slot(entry, at.max(now - period)) {
                self.heap.push(Reverse((next, check_id, false)));
            }
        }
        out
    }
}

fn next_slot(entry: &Entry, after: i64) -> Option<i64> {
    match &entry.cadence {
        Cadence::Every { interval_ms } => {
            let k = (after - entry.offset_ms).div_euclid(*interval_ms) + 1;
            Some(entry.offset_ms + k * interval_ms)
        }
        Cadence::Cron(s, tz) => next_cron(s, *tz, after, entry.offset_ms),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn interval_slots_keep_their_phase_and_are_spread() {
        let mut s = Scheduler::new();
        s.insert(
            1,
            Cadence::Every {
                interval_ms: 10_000,
            },
            0,
        );
        s.insert(
            2,
            Cadence::Every {
                interval_ms: 10_000,
            },
            0,
        );
        let first: Vec<i64> = {
            let mut v = Vec::new();
            let mut t = 0;
            while v.len() < 2 {
                t += 1;
                v.extend(s.due(t).into_iter().map(|r| r.slot_at));
            }
            v
        };
        assert!(first.iter().all(|t| *t > 0 && *t <= 10_000), "{first:?}");
        assert_ne!(first[0], first[1], "spread within the first interval");
        let phase = first[0] % 10_000;
        let runs = s.due(first[0] + 10_000);
        assert!(
            runs.iter().any(|r| r.slot_at == first[0] + 10_000),
            "{runs:?} phase {phase}"
        );
    }

    #[test]
    fn missed_ticks_are_skipped_not_piled_up() {
        let mut s = Scheduler::new();
        s.insert(7, Cadence::Every { interval_ms: 1000 }, 0);
        // Asleep for 60 s: at most one overdue run comes out, the rest are skipped.
        let runs = s.due(60_000);
        assert!(runs.len() <= 1, "{runs:?}");
        assert!(
            s.next_due()
                .is_some_and(|t| t > 60_000 - 1000 && t <= 61_000)
        );
    }

    #[test]
    fn confirmations_are_one_off_runs() {
        let mut s = Scheduler::new();
        s.insert(
            3,
            Cadence::Every {
                interval_ms: 60_000,
            },
            0,
        );
        s.confirm_at(3, 2_000);
        let runs = s.due(2_000);
        assert_eq!(
            runs,
            vec![Run {
                check_id: 3,
                slot_at: 2_000,
                confirmation: true
            }]
        );
    }

    #[test]
    fn cron_schedules_fire_on_their_seconds() {
        let mut s = Scheduler::new();
        let c = Cadence::parse(None, Some("*/10 * * * * *"), chrono_tz::UTC).expect("cron");
        assert_eq!(c.period_ms(0), 10_000);
        s.insert(4, c, 0);
        let t = s.next_due().expect("due");
        assert!(t > 0, "{t}");
        assert_eq!(
            (t - spread(4, 1000)) % 10_000,
            0,
            "on a 10 s boundary plus the spread: {t}"
        );
    }

    #[test]
    fn intervals_under_a_second_are_refused() {
        assert!(Cadence::parse(Some(500), None, chrono_tz::UTC).is_err());
    }

    /// The first slot at or after `from` of a cron check, without the sub-second spread.
    fn first_fire(expr: &str, tz: Tz, from: chrono::DateTime<chrono::Utc>) -> String {
        let mut s = Scheduler::new();
        s.insert(
            9,
            Cadence::parse(None, Some(expr), tz).expect("cron"),
            from.timestamp_millis(),
        );
        let t = s.next_due().expect("due") - spread(9, 1000);
        chrono::DateTime::<chrono::Utc>::from_timestamp_millis(t)
            .expect("time")
            .to_rfc3339()
    }

    #[test]
    fn cron_schedules_are_read_in_the_service_time_zone() {
        let at = |s: &str| {
            chrono::DateTime::parse_from_rfc3339(s)
                .expect("time")
                .with_timezone(&chrono::Utc)
        };
        // 09:00 in Seoul (UTC+9, no daylight saving) is midnight UTC, all year round.
        let seoul = chrono_tz::Asia::Seoul;
        assert_eq!(
            first_fire("0 0 9 * * *", seoul, at("2026-12-07T12:00:00Z")),
            "2026-12-08T00:00:00+00:00"
        );
        assert_eq!(
            first_fire("0 0 9 * * *", seoul, at("2026-07-01T12:00:00Z")),
            "2026-07-02T00:00:00+00:00"
        );
        // Weekdays are Seoul's: Monday 09:00 there is Monday 00:00 UTC, not Sunday.
        assert_eq!(
            first_fire("0 0 9 * * Mon", seoul, at("2026-12-05T00:00:00Z")),
            "2026-12-07T00:00:00+00:00"
        );
        // Berlin keeps 09:00 local across daylight saving (29 March 2026): 08:00 UTC before,
        // 07:00 UTC after.
        let berlin = chrono_tz::Europe::Berlin;
        assert_eq!(
            first_fire("0 0 9 * * *", berlin, at("2026-03-27T12:00:00Z")),
            "2026-03-28T08:00:00+00:00"
        );
        assert_eq!(
            first_fire("0 0 9 * * *", berlin, at("2026-03-28T12:00:00Z")),
            "2026-03-29T07:00:00+00:00"
        );
        // The same expression in UTC fires at 09:00 UTC.
        assert_eq!(
            first_fire("0 0 9 * * *", chrono_tz::UTC, at("2026-12-07T12:00:00Z")),
            "2026-12-08T09:00:00+00:00"
        );
    }
}

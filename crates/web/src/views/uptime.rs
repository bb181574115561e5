//! 90-day uptime per calendar day (in the service's time zone), computed from incidents:
//! the time each day overlaps a `down` incident is downtime, a `degraded` one is slowness.
//! Only measured time counts: a dependency watched for three days gets a figure over those
//! three days, labelled so ("측정 3일"), never one that claims 90.
use crate::i18n::Lang;
use crate::views::duration_words;
use chrono::{Days, TimeZone};
use meoktong_storage::entity::incidents;

pub const DAYS: usize = 90;

/// One day's bar.
#[derive(Debug, Clone, PartialEq)]
pub struct DayBar {
    pub class: &'static str,
    pub label: String,
}

/// The start of each of the last `DAYS` days and the end of today, in `tz`.
pub fn day_bounds(tz: chrono_tz::Tz, now: i64) -> Vec<i64> {
    let Some(today) = tz
        .timestamp_millis_opt(now)
        .single()
        .map(|t| t.date_naive())
    else {
        return Vec::new();
    };
    let midnight = |back: i64| {
        let day = if back >= 0 {
            today.checked_sub_days(Days::new(back as u64))
        } else {
            today.checked_add_days(Days::new(1))
        }?;
        tz.from_local_datetime(&day.and_hms_opt(0, 0, 0)?)
            .earliest()
            .map(|t| t.timestamp_millis())
    };
    (-1..DAYS as i64).rev().filter_map(midnight).collect()
}

fn overlap(a: (i64, i64), b: (i64, i64)) -> i64 {
    (a.1.min(b.1) - a.0.max(b.0)).max(0)
}

/// Milliseconds of (down, degraded) within `[from, to)`.
pub fn outage_ms(list: &[incidents::Model], from: i64, to: i64, now: i64) -> (i64, i64) {
    list.iter().fold((0, 0), |(down, slow), i| {
        let o = overlap((i.started_at, i.resolved_at.unwrap_or(now)), (from, to));
        if i.severity == "down" {
            (down + o, slow)
        } else {
            (down, slow + o)
        }
    })
}

/// Bars for one dependency, oldest first; days before `known_since` have no data.
/// `bounds` are `DAYS + 1` instants (each day's start, then the end of today).
pub fn bars(
    lang: Lang,
    tz: chrono_tz::Tz,
    list: &[incidents::Model],
    bounds: &[i64],
    known_since: i64,
    now: i64,
) -> Vec<DayBar> {
    bounds
        .windows(2)
        .map(|w| {
            let (from, to) = (w[0], w[1].min(now));
            let date = tz
                .timestamp_millis_opt(from)
                .single()
                .map(|t| t.format("%Y-%m-%d").to_string())
                .unwrap_or_default();
            if to <= known_since {
                return DayBar {
                    class: "nodata",
                    label: format!("{date}: {}", lang.t("기록 없음", "no data")),
                };
            }
            let (down, slow) = outage_ms(list, from, to, now);
            let span = (to - from.max(known_since)).max(1);
            let pct = 100.0 * (1.0 - down as f64 / span as f64).max(0.0);
            let (class, words) = match (down, slow) {
                (d, _) if d > 0 => (
                    "down",
                    format!("{} {}", lang.t("장애", "down"), duration_words(lang, d)),
                ),
                (_, s) if s > 0 => (
                    "degraded",
                    format!("{} {}", lang.t("느림", "slow"), duration_words(lang, s)),
                ),
                _ => ("up", lang.t("정상", "no incidents").to_string()),
            };
            DayBar {
                class,
                label: format!("{date}: {pct:.2}% · {words}"),
            }
        })
        .collect()
}

/// Uptime over the time measured within the window, and how long that is.
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Uptime {
    pub percent: f64,
    /// From the window's start, or from when we began watching if that is later, to now.
    pub measured_ms: i64,
    /// The measurement covers the whole window (we watched for all of it).
    pub whole_window: bool,
}

impl Uptime {
    /// `from` is the window's start; `known_since` when we began watching.
    pub fn of(list: &[incidents::Model], from: i64, known_since: i64, now: i64) -> Uptime {
        Uptime {
            percent: uptime_percent(list, from, known_since, now),
            measured_ms: (now - from.max(known_since)).max(0),
            whole_window: known_since <= from,
        }
    }

    /// `90일 가용률`, or over what was measured: `가용률(측정 3일)` (a no-break space keeps
    /// `측정 3일` on one line).
    pub fn label(&self, lang: Lang) -> String {
        if self.whole_window {
            return lang.t("90일 가용률", "90-day uptime").to_string();
        }
        let span = measured_words(lang, self.measured_ms);
        match lang {
            Lang::Ko => format!("가용률(측정\u{a0}{span})"),
            Lang::En => format!("Uptime ({span}\u{a0}measured)"),
        }
    }

    /// `99.95%`.
    pub fn percent_text(&self) -> String {
        format!("{:.2}%", self.percent)
    }
}

/// How long we measured, in its largest whole unit (`3일`, `5시간`, `12분`; at least a minute).
fn measured_words(lang: Lang, ms: i64) -> String {
    const MINUTE: i64 = 60_000;
    const HOUR: i64 = 60 * MINUTE;
    let unit = match ms {
        m if m >= DAY_MS => DAY_MS,
        m if m >= HOUR => HOUR,
        _ => MINUTE,
    };
    duration_words(lang, (ms / unit).max(1) * unit)
}

const DAY_MS: i64 = 86_400_000;

/// Uptime over the whole window, in percent.
pub fn uptime_percent(list: &[incidents::Model], from: i64, known_since: i64, now: i64) -> f64 {
    let start = from.max(known_since);
    let (down, _) = outage_ms(list, start, now, now);
    100.0 * (1.0 - down as f64 / (now - start).max(1) as f64).max(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(severity: &str, started_at: i64, resolved_at: Option<i64>) -> incidents::Model {
        incidents::Model {
            id: 1,
            dependency_id: 1,
            severity: severity.into(),
            started_at,
            confirmed_at: started_at,
            resolved_at,
            relapse_count: 0,
            last_relapse_at: None,
            evidence: "{}".into(),
            created_at: started_at,
            updated_at: started_at,
        }
    }

    const DAY: i64 = 86_400_000;

    #[test]
    fn ninety_one_bounds_a_day_apart_ending_tomorrow_midnight() {
        let tz = chrono_tz::Asia::Seoul;
        let now = 1_763_900_000_000; // 2025-11-23 21:13 KST
        let b = day_bounds(tz, now);
        assert_eq!(b.len(), DAYS + 1);
        assert!(b.windows(2).all(|w| w[1] - w[0] == DAY));
        assert!(b[DAYS - 1] <= now && now < b[DAYS]);
    }

    #[test]
    fn a_day_with_an_outage_is_down_and_says_how_long() {
        let tz = chrono_tz::Asia::Seoul;
        let now = 1_763_900_000_000;
        let b = day_bounds(tz, now);
        let start = b[DAYS - 1] + 3_600_000;
        let list = [incident(
            "down",
            start,
            Some(start + 2 * 3_600_000 + 5 * 60_000),
        )];
        let bars = bars(Lang::Ko, tz, &list, &b, 0, now);
        assert_eq!(bars.len(), DAYS);
        assert_eq!(bars[DAYS - 1].class, "down");
        assert!(
            bars[DAYS - 1].label.contains("2시간 5분"),
            "{}",
            bars[DAYS - 1].label
        );
        assert_eq!(bars[DAYS - 2].class, "up");
        let early = super::bars(Lang::En, tz, &[], &b, b[DAYS - 1] + 1, now);
        assert_eq!(early[0].class, "nodata");
        let pct = uptime_percent(&list, b[0], 0, now);
        assert!(pct < 100.0 && pct > 99.0, "{pct}");
    }

    #[test]
    fn uptime_counts_only_measured_time_and_says_how_long() {
        let now = 1_763_900_000_000;
        let from = now - 89 * DAY;
        let added = now - 3 * DAY - 4 * 3_600_000;
        let list = [incident(
            "down",
            now - 3_600_000,
            Some(now - 3_600_000 + 180_000),
        )];
        let u = Uptime::of(&list, from, added, now);
        assert!(!u.whole_window);
        assert_eq!(u.label(Lang::Ko), "가용률(측정\u{a0}3일)");
        assert_eq!(u.label(Lang::En), "Uptime (3d\u{a0}measured)");
        let measured = (3 * DAY + 4 * 3_600_000) as f64;
        let expected = 100.0 * (1.0 - 180_000.0 / measured);
        assert!((u.percent - expected).abs() < 1e-9, "{u:?}");
        let morning = Uptime::of(&list, from, now - 12 * 60_000, now);
        assert_eq!(morning.label(Lang::Ko), "가용률(측정\u{a0}12분)");
        let old = Uptime::of(&[], from, from - DAY, now);
        assert!(old.whole_window);
        assert_eq!(old.label(Lang::Ko), "90일 가용률");
        assert_eq!(old.percent_text(), "100.00%");
    }

    #[test]
    fn an_open_incident_runs_until_now_and_degraded_is_not_downtime() {
        let list = [
            incident("down", 1_000, None),
            incident("degraded", 0, Some(500)),
        ];
        assert_eq!(outage_ms(&list, 0, 10_000, 4_000), (3_000, 500));
    }
}

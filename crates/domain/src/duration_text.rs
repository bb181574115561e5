//! Durations and times as a merchant reads them: `2시간 5분` / `2h 5m`, `15:20` in their own
//! time zone.
//!
//! SMS space is scarce (two segments), so texts are short and drop the unit that no longer
//! matters: minutes within a day, hours and minutes beyond it.
use std::time::Duration;

use chrono::{DateTime, Datelike, TimeZone, Utc};
use chrono_tz::Tz;
use serde::{Deserialize, Serialize};

use crate::Millis;

/// The language of a merchant's notices and pages. Korean first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Locale {
    #[default]
    Ko,
    En,
}

impl Locale {
    /// `"ko"` or `"en"`, as stored and as in `?lang=`.
    pub fn as_str(self) -> &'static str {
        match self {
            Locale::Ko => "ko",
            Locale::En => "en",
        }
    }

    /// Parses `ko` or `en` (any case, surrounding spaces ignored). Anything else, the empty
    /// string included, is `None`, so the caller decides the default (`notify.default_locale`).
    pub fn parse(s: &str) -> Option<Self> {
        let s = s.trim();
        if s.eq_ignore_ascii_case("ko") {
            Some(Locale::Ko)
        } else if s.eq_ignore_ascii_case("en") {
            Some(Locale::En)
        } else {
            None
        }
    }
}

impl std::fmt::Display for Locale {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A duration in whole units, rounded down: `1분 미만`/`<1m`, `45분`/`45m`,
/// `2시간 5분`/`2h 5m`, `2시간`/`2h`, `1일 3시간`/`1d 3h`, `5일`/`5d`.
///
/// Rounding down keeps a measured outage from reading longer than it was.
pub fn format_duration(locale: Locale, d: Duration) -> String {
    let minutes = d.as_secs() / 60;
    let (days, hours, mins) = (minutes / 1440, minutes / 60 % 24, minutes % 60);
    let (day, hour, min, under) = match locale {
        Locale::Ko => ("일", "시간", "분", "1분 미만"),
        Locale::En => ("d", "h", "m", "<1m"),
    };
    let sep = " ";
    if minutes == 0 {
        under.to_owned()
    } else if days > 0 {
        match hours {
            0 => format!("{days}{day}"),
            h => format!("{days}{day}{sep}{h}{hour}"),
        }
    } else if hours > 0 {
        match mins {
            0 => format!("{hours}{hour}"),
            m => format!("{hours}{hour}{sep}{m}{min}"),
        }
    } else {
        format!("{mins}{min}")
    }
}

/// When something started, for "since …": `15:20` if `at` falls on the same local day as
/// `now` in `tz`, else with the date (`10/15 15:20`, en `Oct 15 15:20`), and with the year
/// when that differs too (`2022/10/15 15:20`, `Oct 15 2022 15:20`).
pub fn format_since(locale: Locale, at: Millis, now: Millis, tz: Tz) -> String {
    let at = local(at, tz);
    let now = local(now, tz);
    let time = at.format("%H:%M");
    if at.date_naive() == now.date_naive() {
        return time.to_string();
    }
    let same_year = at.year() == now.year();
    match (locale, same_year) {
        (Locale::Ko, true) => format!("{} {time}", at.format("%-m/%-d")),
        (Locale::Ko, false) => format!("{} {time}", at.format("%Y/%-m/%-d")),
        (Locale::En, true) => format!("{} {time}", at.format("%b %-d")),
        (Locale::En, false) => format!("{} {time}", at.format("%b %-d %Y")),
    }
}

/// `at` in `tz`; an out-of-range instant (never produced by a clock) reads as the epoch.
fn local(at: Millis, tz: Tz) -> DateTime<Tz> {
    let utc = DateTime::<Utc>::from_timestamp_millis(at).unwrap_or_default();
    tz.from_utc_datetime(&utc.naive_utc())
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    const SEOUL: Tz = chrono_tz::Asia::Seoul;

    fn secs(s: u64) -> Duration {
        Duration::from_secs(s)
    }

    /// 2022-10-15 15:20:00 KST (06:20 UTC), the minute of the fire's first alerts.
    const FIRE: Millis = 1_665_814_800_000;

    #[test]
    fn locale_parse() {
        assert_eq!(Locale::parse("ko"), Some(Locale::Ko));
        assert_eq!(Locale::parse(" EN "), Some(Locale::En));
        assert_eq!(Locale::parse(""), None);
        assert_eq!(Locale::parse("fr"), None);
        assert_eq!(Locale::default(), Locale::Ko);
        assert_eq!(Locale::En.as_str(), "en");
        assert_eq!(serde_json::to_string(&Locale::Ko).expect("ser"), "\"ko\"");
    }

    #[test]
    fn durations_ko() {
        let ko = |s| format_duration(Locale::Ko, secs(s));
        assert_eq!(ko(0), "1분 미만");
        assert_eq!(ko(59), "1분 미만");
        assert_eq!(ko(60), "1분");
        assert_eq!(ko(45 * 60 + 59), "45분");
        assert_eq!(ko(3600), "1시간");
        assert_eq!(ko(2 * 3600 + 5 * 60), "2시간 5분");
        assert_eq!(ko(86_400), "1일");
        assert_eq!(ko(27 * 3600 + 59 * 60), "1일 3시간");
        assert_eq!(ko(127 * 3600), "5일 7시간");
    }

    #[test]
    fn durations_en() {
        let en = |s| format_duration(Locale::En, secs(s));
        assert_eq!(en(30), "<1m");
        assert_eq!(en(45 * 60), "45m");
        assert_eq!(en(2 * 3600 + 5 * 60), "2h 5m");
        assert_eq!(en(2 * 3600), "2h");
        assert_eq!(en(27 * 3600), "1d 3h");
        assert_eq!(en(48 * 3600 + 59), "2d");
    }

    #[test]
    fn since_same_day_is_just_the_time() {
        assert_eq!(
            format_since(Locale::Ko, FIRE, FIRE + 3_600_000, SEOUL),
            "15:20"
        );
        assert_eq!(format_since(Locale::En, FIRE, FIRE, SEOUL), "15:20");
    }

    #[test]
    fn since_uses_the_merchants_day_not_utc() {
        // 23:30 KST on the 15th is 14:30 UTC, the same UTC day as 00:30 KST on the 16th
        // (15:30 UTC): a different day in Seoul.
        let late = FIRE + (8 * 60 + 10) * 60_000;
        let after_midnight = late + 3_600_000;
        assert_eq!(
            format_since(Locale::Ko, late, after_midnight, SEOUL),
            "10/15 23:30"
        );
        assert_eq!(
            format_since(Locale::En, late, after_midnight, SEOUL),
            "Oct 15 23:30"
        );
        assert_eq!(
            format_since(Locale::Ko, late, after_midnight, chrono_tz::UTC),
            "14:30"
        );
    }

    #[test]
    fn since_days_and_years_ago() {
        let five_days = FIRE + 5 * 86_400_000;
        assert_eq!(
            format_since(Locale::Ko, FIRE, five_days, SEOUL),
            "10/15 15:20"
        );
        let next_year = FIRE + 100 * 86_400_000;
        assert_eq!(
            format_since(Locale::Ko, FIRE, next_year, SEOUL),
            "2022/10/15 15:20"
        );
        assert_eq!(
            format_since(Locale::En, FIRE, next_year, SEOUL),
            "Oct 15 2022 15:20"
        );
        assert_eq!(
            format_since(Locale::En, 1_662_000_000_000, FIRE, SEOUL),
            "Sep 1 11:40"
        );
    }

    #[test]
    fn since_survives_absurd_instants() {
        assert_eq!(format_since(Locale::En, i64::MAX, i64::MAX, SEOUL), "09:00");
    }

    proptest! {
        #[test]
        fn duration_text_is_short(s in 0u64..10_000_000, en in any::<bool>()) {
            let locale = if en { Locale::En } else { Locale::Ko };
            let text = format_duration(locale, secs(s));
            prop_assert!(text.chars().count() <= 12, "{}", text);
            prop_assert!(!text.contains(" 0"));
        }

        #[test]
        fn since_ends_with_the_local_time(at in 0i64..4_000_000_000_000, gap in 0i64..100_000_000_000) {
            let text = format_since(Locale::Ko, at, at + gap, SEOUL);
            let local = local(at, SEOUL).format("%H:%M").to_string();
            prop_assert!(text.ends_with(&local[..]));
        }
    }
}

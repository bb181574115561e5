//! `meoktong_probe_duration_seconds` and `meoktong_probe_results_total`, kept compactly.
//!
//! These two families have one series per (dependency, check, location): 100,000 checks are
//! 100,000 label sets. prometheus-rs keeps each series as its own object (label pairs as
//! protobuf messages, a hot and a cold shard of buckets, a `Desc`), about 1 KB apiece for the
//! histogram and again for the counter, and builds protobuf messages for every bucket on each
//! scrape. Here a series is one key string and a block of atomics (about 200 bytes), and the
//! text exposition is written straight from them, a few thousand series at a time.
use std::collections::HashMap;
use std::fmt::Write as _;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, RwLock};

/// Upper bounds of the duration buckets, in seconds (`+Inf` is implied).
pub const DURATION_BUCKETS: [f64; 11] = [
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];

/// The outcomes counted by `meoktong_probe_results_total`, in exposition order.
pub const OUTCOMES: [&str; 4] = ["ok", "degraded", "fail", "config_error"];

/// Series written per chunk of [`ProbeSeries::render_chunks`].
const SERIES_PER_CHUNK: usize = 2_000;

#[derive(Default)]
struct Cell {
    /// Observations per bucket (not cumulative; summed when written).
    buckets: [AtomicU64; DURATION_BUCKETS.len() + 1],
    /// Sum of the observed durations, as `f64` bits.
    sum: AtomicU64,
    outcomes: [AtomicU64; OUTCOMES.len()],
}

/// Key: `dependency \u{1f} check \u{1f} location` (the unit separator never occurs in slugs,
/// check names or location names, which are validated identifiers).
type Key = Box<str>;

fn key(dependency: &str, check: &str, location: &str) -> String {
    let mut k = String::with_capacity(dependency.len() + check.len() + location.len() + 2);
    k.push_str(dependency);
    k.push('\u{1f}');
    k.push_str(check);
    k.push('\u{1f}');
    k.push_str(location);
    k
}

/// The per-check probe series of one registry.
#[derive(Clone, Default)]
pub struct ProbeSeries {
    series: Arc<RwLock<HashMap<Key, Arc<Cell>>>>,
}

impl ProbeSeries {
    /// Counts one probe: its duration in the histogram, its outcome in the counter. An
    /// outcome not in [`OUTCOMES`] is counted in the histogram only.
    pub fn observe(
        &self,
        dependency: &str,
        check: &str,
        location: &str,
        seconds: f64,
        outcome: &str,
    ) {
        let k = key(dependency, check, location);
        let cell = {
            let read = self.series.read().unwrap_or_else(|e| e.into_inner());
            read.get(k.as_str()).cloned()
        };
        let cell = match cell {
            Some(c) => c,
            None => {
                let mut write = self.series.write().unwrap_or_else(|e| e.into_inner());
                write.entry(k.into_boxed_str()).or_default().clone()
            }
        };
        let bucket = DURATION_BUCKETS
            .iter()
            .position(|b| seconds <= *b)
            .unwrap_or(DURATION_BUCKETS.len());
        cell.buckets[bucket].fetch_add(1, Ordering::Relaxed);
        let _ = cell
            .sum
            .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |bits| {
                Some((f64::from_bits(bits) + seconds).to_bits())
            });
        if let Some(i) = OUTCOMES.iter().position(|o| *o == outcome) {
            cell.outcomes[i].fetch_add(1, Ordering::Relaxed);
        }
    }

    /// How many label sets exist.
    pub fn len(&self) -> usize {
        self.series.read().unwrap_or_else(|e| e.into_inner()).len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// The two families in the text exposition format, in chunks of a few thousand series
    /// (sorted by label set), so a scrape of 100,000 checks never holds all its text at once.
    pub fn render_chunks(&self) -> impl Iterator<Item = String> + Send + 'static {
        let mut cells: Vec<(Key, Arc<Cell>)> = self
            .series
            .read()
            .unwrap_or_else(|e| e.into_inner())
            .iter()
            .map(|(k, c)| (k.clone(), c.clone()))
            .collect();
        cells.sort_unstable_by(|a, b| a.0.cmp(&b.0));
        let cells = Arc::new(cells);
        family(
            cells.clone(),
            "# HELP meoktong_probe_duration_seconds Duration of one probe.\n\
             # TYPE meoktong_probe_duration_seconds histogram\n",
            write_histogram,
        )
        .chain(family(
            cells,
            "# HELP meoktong_probe_results_total Probe results by outcome.\n\
             # TYPE meoktong_probe_results_total counter\n",
            write_counters,
        ))
    }
}

/// One family's text: `header`, then `write` for every series, in chunks.
fn family(
    cells: Arc<Vec<(Key, Arc<Cell>)>>,
    header: &'static str,
    write: fn(&mut String, &str, &Cell),
) -> impl Iterator<Item = String> + Send + 'static {
    let n = cells.len();
    (0..n).step_by(SERIES_PER_CHUNK).map(move |start| {
        let mut out = String::new();
        if start == 0 {
            out.push_str(header);
        }
        for (k, c) in &cells[start..(start + SERIES_PER_CHUNK).min(n)] {
            write(&mut out, k, c);
        }
        out
    })
}

/// `dependency="…",check="…",location="…"`, escaped as the text format requires.
fn labels(out: &mut String, key: &str) {
    for (name, value) in ["dependency", "check", "location"]
        .into_iter()
        .zip(key.split('\u{1f}'))
    {
        if name != "dependency" {
            out.push(',');
        }
        out.push_str(name);
        out.push_str("=\"");
        for ch in value.chars() {
            match ch {
                '\\' => out.push_str("\\\\"),
                '"' => out.push_str("\\\""),
                '\n' => out.push_str("\\n"),
                c => out.push(c),
            }
        }
        out.push('"');
    }
}

fn write_histogram(out: &mut String, key: &str, c: &Cell) {
    let mut label_text = String::new();
    labels(&mut label_text, key);
    let mut cumulative = 0u64;
    for (i, bound) in DURATION_BUCKETS.iter().enumerate() {
        cumulative += c.buckets[i].load(Ordering::Relaxed);
        let _ = writeln!(
            out,
            "meoktong_probe_duration_seconds_bucket{{{label_text},le=\"{bound}\"}} {cumulative}"
        );
    }
    cumulative += c.buckets[DURATION_BUCKETS.len()].load(Ordering::Relaxed);
    let _ = writeln!(
        out,
        "meoktong_probe_duration_seconds_bucket{{{label_text},le=\"+Inf\"}} {cumulative}"
    );
    let sum = f64::from_bits(c.sum.load(Ordering::Relaxed));
    let _ = writeln!(
        out,
        "meoktong_probe_duration_seconds_sum{{{label_text}}} {sum}"
    );
    let _ = writeln!(
        out,
        "meoktong_probe_duration_seconds_count{{{label_text}}} {cumulative}"
    );
}

fn write_counters(out: &mut String, key: &str, c: &Cell) {
    let mut label_text = String::new();
    labels(&mut label_text, key);
    for (i, outcome) in OUTCOMES.iter().enumerate() {
        let v = c.outcomes[i].load(Ordering::Relaxed);
        // Only outcomes that happened, as a counter vector would show them.
        if v > 0 {
            let _ = writeln!(
                out,
                "meoktong_probe_results_total{{{label_text},outcome=\"{outcome}\"}} {v}"
            );
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(s: &ProbeSeries) -> String {
        s.render_chunks().collect()
    }

    #[test]
    fn buckets_are_cumulative_and_count_equals_the_inf_bucket() {
        let s = ProbeSeries::default();
        s.observe("kakao-login", "oidc", "seoul", 0.003, "ok");
        s.observe("kakao-login", "oidc", "seoul", 0.2, "ok");
        s.observe("kakao-login", "oidc", "seoul", 30.0, "fail");
        let t = text(&s);
        let l = r#"dependency="kakao-login",check="oidc",location="seoul""#;
        for (le, n) in [
            ("0.005", 1),
            ("0.1", 1),
            ("0.25", 2),
            ("10", 2),
            ("+Inf", 3),
        ] {
            let line = format!("meoktong_probe_duration_seconds_bucket{{{l},le=\"{le}\"}} {n}\n");
            assert!(t.contains(&line), "{line} missing from\n{t}");
        }
        assert!(t.contains(&format!("meoktong_probe_duration_seconds_count{{{l}}} 3\n")));
        let sum_line = format!("meoktong_probe_duration_seconds_sum{{{l}}} ");
        let sum: f64 = t
            .lines()
            .find_map(|line| line.strip_prefix(sum_line.as_str()))
            .and_then(|v| v.parse().ok())
            .unwrap_or(f64::NAN);
        assert!((sum - 30.203).abs() < 1e-9, "sum {sum} in\n{t}");
        assert!(t.contains(&format!(
            "meoktong_probe_results_total{{{l},outcome=\"ok\"}} 2\n"
        )));
        assert!(t.contains(&format!(
            "meoktong_probe_results_total{{{l},outcome=\"fail\"}} 1\n"
        )));
        assert!(!t.contains("outcome=\"degraded\""), "{t}");
    }

    #[test]
    fn each_family_is_declared_once_and_its_lines_are_contiguous_across_chunks() {
        let s = ProbeSeries::default();
        for i in 0..(SERIES_PER_CHUNK * 2 + 7) {
            s.observe(&format!("dep-{i:05}"), "c", "here", 0.01, "ok");
        }
        assert_eq!(s.len(), SERIES_PER_CHUNK * 2 + 7);
        let t = text(&s);
        assert_eq!(
            t.matches("# TYPE meoktong_probe_duration_seconds histogram")
                .count(),
            1
        );
        assert_eq!(
            t.matches("# TYPE meoktong_probe_results_total counter")
                .count(),
            1
        );
        let last_bucket = t.rfind("meoktong_probe_duration_seconds_").unwrap_or(0);
        let first_result = t.find("meoktong_probe_results_total{").unwrap_or(0);
        assert!(last_bucket < first_result, "families interleaved");
        assert_eq!(
            t.matches("meoktong_probe_results_total{").count(),
            SERIES_PER_CHUNK * 2 + 7
        );
        // Sorted by label set.
        let first = t.find("dep-00000").unwrap_or(usize::MAX);
        let later = t.find("dep-00001").unwrap_or(0);
        assert!(first < later);
    }

    #[test]
    fn label_values_are_escaped() {
        let s = ProbeSeries::default();
        s.observe("d", "say \"hi\"\\now", "x\ny", 0.01, "ok");
        let t = text(&s);
        assert!(
            t.contains(r#"check="say \"hi\"\\now",location="x\ny""#),
            "{t}"
        );
    }
}

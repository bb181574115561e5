//! The own-network guard: is this location's own network working?
//!
//! A location probes a few unrelated, well-known endpoints (`probe.canaries`) every
//! [`CANARY_EVERY_MS`] and at once when one of its checks fails. Any HTTP answer, whatever its
//! status, means the endpoint is reachable. When at least half give none
//! ([`meoktong_domain::quorum::canaries_suspect`]), the location is network-suspect: its
//! results are recorded but neither open nor close incidents (the [`DetectEngine`] sets them
//! aside), the quorum of other locations leaves it out (the verdict is stored on
//! `probe_locations.canaries_failing_since`), `meoktong_location_network_suspect{location}`
//! is 1, and an error-level log line says so once per spell and once when it ends.
//!
//! [`DetectEngine`]: crate::detect::DetectEngine
use meoktong_config::CheckSettings;
use meoktong_domain::quorum::canaries_suspect;
use meoktong_metrics::Metrics;
use meoktong_probe::{Runner, RunnerOptions, SsrfPolicy};
use meoktong_storage::{Db, StorageError, probes};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

/// How often the canaries are probed when nothing fails.
pub const CANARY_EVERY_MS: i64 = 30_000;
/// Each canary's timeout: shorter than the first confirmation re-check (2 s by default) plus
/// the second (4 s), so the verdict is in before a failure can be confirmed.
pub const CANARY_TIMEOUT: Duration = Duration::from_secs(3);
/// A failing check asks for the canaries at most this often (a platform-wide outage fails
/// many checks at once; one look at the canaries answers them all).
pub const CANARY_AT_MOST_EVERY_MS: i64 = 2_000;

/// Whether this location's own network is suspect: written by the [`CanaryWatch`], read by
/// the detector for every batch of results.
#[derive(Debug, Default)]
pub struct LocationHealth {
    suspect: AtomicBool,
    /// When the current suspect spell began (0 when none).
    since: AtomicI64,
    /// When the last suspect spell ended (0 when none has): a streak seen before it does not
    /// combine with probes after it, however short the spell.
    cleared_at: AtomicI64,
}

impl LocationHealth {
    pub fn is_suspect(&self) -> bool {
        self.suspect.load(Ordering::SeqCst)
    }

    /// Start of the current suspect spell, if any.
    pub fn suspect_since(&self) -> Option<i64> {
        self.is_suspect().then(|| self.since.load(Ordering::SeqCst))
    }

    /// When the last suspect spell ended, if one has.
    pub fn cleared_at(&self) -> Option<i64> {
        Some(self.cleared_at.load(Ordering::SeqCst)).filter(|t| *t > 0)
    }

    /// Sets the verdict; returns the previous one.
    pub fn set(&self, suspect: bool, now: i64) -> bool {
        let was = self.suspect.swap(suspect, Ordering::SeqCst);
        if suspect && !was {
            self.since.store(now, Ordering::SeqCst);
        }
        if !suspect && was {
            self.cleared_at.store(now, Ordering::SeqCst);
        }
        was
    }
}

/// One look at the canaries.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CanaryVerdict {
    pub unreachable: usize,
    pub total: usize,
    pub suspect: bool,
}

/// A location's canaries and how to look at them (a probe loop's, or a remote agent's).
#[derive(Clone)]
pub struct Canaries {
    checks: Vec<CheckSettings>,
    runner: Runner,
}

impl Canaries {
    /// `urls` come from the operator's configuration: they may be private (a simulator, a
    /// corporate gateway).
    pub fn new(urls: &[String]) -> Canaries {
        Canaries {
            checks: urls.iter().filter_map(|u| canary_check(u)).collect(),
            runner: Runner::new(RunnerOptions {
                ssrf: SsrfPolicy {
                    allow_private: true,
                },
                ..RunnerOptions::default()
            }),
        }
    }

    /// Whether the guard is on (some canaries are configured).
    pub fn is_enabled(&self) -> bool {
        !self.checks.is_empty()
    }

    /// Probes every canary at once: how many gave no HTTP answer, and the verdict.
    pub async fn look(&self, now: i64) -> CanaryVerdict {
        let reports =
            futures::future::join_all(self.checks.iter().map(|c| self.runner.run(c, now))).await;
        let unreachable = reports.iter().filter(|r| r.status.is_none()).count();
        CanaryVerdict {
            unreachable,
            total: reports.len(),
            suspect: canaries_suspect(unreachable, reports.len()),
        }
    }
}

/// Probes a location's canaries and records what they say.
pub struct CanaryWatch {
    db: Db,
    metrics: Metrics,
    location_id: i64,
    location_name: String,
    canaries: Canaries,
    health: Arc<LocationHealth>,
}

impl CanaryWatch {
    pub fn new(
        db: Db,
        metrics: Metrics,
        location_id: i64,
        location_name: String,
        urls: &[String],
        health: Arc<LocationHealth>,
    ) -> CanaryWatch {
        let canaries = Canaries::new(urls);
        metrics
            .location_network_suspect
            .with_label_values(&[location_name.as_str()])
            .set(0);
        CanaryWatch {
            db,
            metrics,
            location_id,
            location_name,
            canaries,
            health,
        }
    }

    /// Whether the guard is on (some canaries are configured).
    pub fn is_enabled(&self) -> bool {
        self.canaries.is_enabled()
    }

    pub fn health(&self) -> Arc<LocationHealth> {
        self.health.clone()
    }

    /// Probes every canary at once and records the verdict at `now`: the shared health, the
    /// stored flag, the gauge and (on a change) the log.
    pub async fn probe_once(&self, now: i64) -> Result<CanaryVerdict, StorageError> {
        let verdict = self.canaries.look(now).await;
        self.record(verdict, now).await?;
        Ok(verdict)
    }

    async fn record(&self, v: CanaryVerdict, now: i64) -> Result<(), StorageError> {
        let was = self.health.set(v.suspect, now);
        self.metrics
            .location_network_suspect
            .with_label_values(&[self.location_name.as_str()])
            .set(i64::from(v.suspect));
        if v.suspect && !was {
            tracing::error!(
                location = %self.location_name,
                canaries.unreachable = v.unreachable,
                canaries.total = v.total,
                "this probe location's own network is failing (its canaries do not answer): its results are set aside, no incident opens or closes from here and merchants are not told"
            );
        } else if !v.suspect && was {
            tracing::error!(
                location = %self.location_name,
                canaries.unreachable = v.unreachable,
                canaries.total = v.total,
                "this probe location's canaries answer again: its results count again"
            );
        }
        // Written every time, not only on a change: another replica of this location may
        // have left a stale verdict behind.
        probes::set_canaries_failing(&self.db, self.location_id, v.suspect.then_some(now)).await?;
        Ok(())
    }
}

/// Records a remote agent's verdict on its own network for its location: the stored flag
/// (which the quorum and the agent's own results go by), the gauge, and the log on a change.
pub async fn record_remote_verdict(
    db: &Db,
    metrics: &Metrics,
    location_id: i64,
    location_name: &str,
    suspect: bool,
    now: i64,
) -> Result<(), StorageError> {
    metrics
        .location_network_suspect
        .with_label_values(&[location_name])
        .set(i64::from(suspect));
    if probes::set_canaries_failing(db, location_id, suspect.then_some(now)).await? {
        if suspect {
            tracing::error!(
                location = %location_name,
                "a remote agent's own network is failing (its canaries do not answer): its results are set aside"
            );
        } else {
            tracing::error!(
                location = %location_name,
                "a remote agent's canaries answer again: its results count again"
            );
        }
    }
    Ok(())
}

/// The stored verdict of a location as the detector's [`LocationHealth`].
pub async fn stored_health(db: &Db, location_id: i64) -> Result<LocationHealth, StorageError> {
    let health = LocationHealth::default();
    if let Some(since) = probes::location(db, location_id)
        .await?
        .and_then(|l| l.canaries_failing_since)
    {
        health.set(true, since);
    }
    Ok(health)
}

/// A canary as a probe: a GET whose only expectation is an answer.
fn canary_check(url: &str) -> Option<CheckSettings> {
    let check = serde_json::json!({
        "name": "canary",
        "type": "http",
        "url": url,
        "timeout": humantime_ms(CANARY_TIMEOUT),
    });
    serde_json::from_value(check)
        .inspect_err(
            |e| tracing::error!(canary.url = %url, error = %e, "canary URL unusable; skipped"),
        )
        .ok()
}

fn humantime_ms(d: Duration) -> String {
    format!("{}ms", d.as_millis())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_spell_starts_once_and_keeps_its_start() {
        let h = LocationHealth::default();
        assert_eq!(h.suspect_since(), None);
        assert!(!h.set(true, 1_000));
        assert!(h.set(true, 31_000), "still the same spell");
        assert_eq!(h.suspect_since(), Some(1_000));
        assert_eq!(h.cleared_at(), None);
        assert!(h.set(false, 61_000));
        assert_eq!(h.suspect_since(), None);
        assert_eq!(h.cleared_at(), Some(61_000));
    }

    #[test]
    fn canaries_are_plain_gets_with_a_short_timeout() {
        let c = canary_check("http://127.0.0.1:9/generate_204").expect("check");
        assert_eq!(c.timeout, Some(CANARY_TIMEOUT));
        assert!(c.expect_status.is_empty());
    }
}

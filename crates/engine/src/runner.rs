//! The probe loop of one process: schedule → claim the slot → probe → detect → re-check.
//!
//! Slots are claimed in the database, so replicas sharing a probe location run each slot
//! once between them; confirmation re-checks are run by whoever saw the failure. A check's
//! confirmation delay counts from the end of the previous attempt.
use crate::clock::Clock;
use crate::detect::{CheckInfo, DetectEngine, ProbeOutcome};
use crate::schedule::{Cadence, Run, Scheduler};
use meoktong_config::{CheckSettings, Settings};
use meoktong_domain::detector::DetectorPolicy;
use meoktong_domain::incident::IncidentPolicy;
use meoktong_metrics::Metrics;
use meoktong_probe::{ProbeReport, Runner, RunnerOptions, SsrfPolicy};
use meoktong_storage::{Db, StorageError, catalog, probes};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

const RELOAD_EVERY_MS: i64 = 30_000;
const HEARTBEAT_EVERY_MS: i64 = 10_000;
const RETENTION_EVERY_MS: i64 = 3_600_000;

/// A loaded check: how to run it and who runs it.
pub(crate) struct Loaded {
    pub(crate) settings: CheckSettings,
    pub(crate) from_config: bool,
}

pub struct ProbeLoop {
    db: Db,
    clock: Arc<dyn Clock>,
    engine: Arc<DetectEngine>,
    scheduler: Scheduler,
    checks: HashMap<i64, Loaded>,
    config_runner: Runner,
    merchant_runner: Runner,
    location_id: i64,
    holder: String,
    max_concurrency: usize,
    retention_days: u32,
    settings_sig: Settings,
    resolver: ResolverWatch,
}

/// Whether name resolution is failing for every dependency at this location: then the
/// location's own resolver is broken, and those failures are blamed on our network (operators
/// are told, merchants are not).
#[derive(Debug, Default)]
pub struct ResolverWatch {
    /// dependency → did its latest probe fail at name resolution?
    latest: HashMap<i64, bool>,
}

impl ResolverWatch {
    /// Records a report of `dependency_id`; true when it should be blamed on the location.
    pub fn observe(&mut self, dependency_id: i64, resolver_failure: bool) -> bool {
        self.latest.insert(dependency_id, resolver_failure);
        let failing = self.latest.values().filter(|f| **f).count();
        resolver_failure && meoktong_domain::quorum::resolver_suspect(failing, self.latest.len())
    }
}

impl ProbeLoop {
    /// Loads every enabled check and prepares the schedule.
    pub async fn build(
        db: Db,
        metrics: Metrics,
        settings: &Settings,
        clock: Arc<dyn Clock>,
        holder: String,
    ) -> Result<ProbeLoop, StorageError> {
        let now = clock.now_ms();
        let location_id =
            probes::ensure_location(&db, &settings.probe.location, "local", now).await?;
        let (infos, loaded) = load_checks(&db).await?;
        let mut scheduler = Scheduler::new();
        for (id, l) in &loaded {
            match cadence(&l.settings) {
                Ok(c) => scheduler.insert(*id, c, now),
                Err(e) => {
                    tracing::error!(check.id = id, error = %e, "check has no usable schedule; skipped")
                }
            }
        }
        let policy = DetectorPolicy {
            confirm_after: settings.detection.confirm_after.clone(),
            recovery_successes: settings.detection.recovery_successes,
        };
        let incident_policy = IncidentPolicy {
            reopen_window: settings.detection.reopen_window,
        };
        let engine = DetectEngine::new(
            db.clone(),
            metrics,
            policy,
            incident_policy,
            location_id,
            settings.probe.location.clone(),
            infos.into_values().collect(),
        );
        let runner = |allow_private| {
            Runner::new(RunnerOptions {
                ssrf: SsrfPolicy { allow_private },
                ..RunnerOptions::default()
            })
        };
        Ok(ProbeLoop {
            db,
            clock,
            engine: Arc::new(engine),
            scheduler,
            checks: loaded,
            // The operator wrote these checks: their targets may be private (e.g. a simulator).
            config_runner: runner(true),
            merchant_runner: runner(settings.probe.allow_private_targets),
            location_id,
            holder,
            max_concurrency: settings.probe.max_concurrency,
            retention_days: settings.probe.raw_retention_days,
            settings_sig: settings.clone(),
            resolver: ResolverWatch::default(),
        })
    }

    /// Woken whenever an incident opens, relapses or resolves.
    pub fn incident_changed(&self) -> Arc<Notify> {
        self.engine.incident_changed.clone()
    }

    pub fn engine(&self) -> Arc<DetectEngine> {
        self.engine.clone()
    }

    /// Runs until `stop`; probes in flight are awaited (their results recorded) before return.
    pub async fn run_until_stopped(mut self, stop: CancellationToken) {
        let permits = Arc::new(Semaphore::new(self.max_concurrency.max(1)));
        let (tx, mut rx) = mpsc::channel::<(Run, ProbeReport)>(self.max_concurrency.max(16) * 2);
        let mut next_reload = self.clock.now_ms() + RELOAD_EVERY_MS;
        let mut next_heartbeat = self.clock.now_ms();
        let mut next_retention = self.clock.now_ms() + 60_000;
        loop {
            let now = self.clock.now_ms();
            if now >= next_heartbeat {
                let _ = probes::set_location_health(&self.db, self.location_id, now, false).await;
                next_heartbeat = now + HEARTBEAT_EVERY_MS;
            }
            if now >= next_reload {
                if let Err(e) = self.reload(now).await {
                    tracing::warn!(error = %e, "cannot reload checks");
                }
                next_reload = now + RELOAD_EVERY_MS;
            }
            if now >= next_retention {
                let before = now - i64::from(self.retention_days) * 86_400_000;
                match probes::prune(&self.db, before).await {
                    Ok(n) if n > 0 => {
                        tracing::info!(rows = n, "pruned raw probe results past retention")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "retention failed"),
                }
                next_retention = now + RETENTION_EVERY_MS;
            }
            for run in self.scheduler.due(now) {
                self.start(run, now, &permits, &tx).await;
            }
            let wait_ms = self
                .scheduler
                .next_due()
                .map(|t| (t - self.clock.now_ms()).clamp(0, 1000))
                .unwrap_or(1000);
            tokio::select! {
                _ = stop.cancelled() => break,
                Some((run, report)) = rx.recv() => self.finish(run, report).await,
                _ = tokio::time::sleep(Duration::from_millis(wait_ms as u64)) => {}
            }
        }
        // Finish what was claimed: wait for probes in flight and record them.
        drop(tx);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
        while let Ok(Some((run, report))) = tokio::time::timeout_at(deadline, rx.recv()).await {
            self.finish(run, report).await;
        }
    }

    async fn start(
        &self,
        run: Run,
        now: i64,
        permits: &Arc<Semaphore>,
        tx: &mpsc::Sender<(Run, ProbeReport)>,
    ) {
        let Some(loaded) = self.checks.get(&run.check_id) else {
            return;
        };
        if !run.confirmation {
            match probes::claim_slot(
                &self.db,
                run.check_id,
                self.location_id,
                run.slot_at,
                &self.holder,
                now,
            )
            .await
            {
                Ok(true) => {}
                Ok(false) => return, // another replica at this location has this slot
                Err(e) => {
                    tracing::warn!(error = %e, check.id = run.check_id, "cannot claim slot; skipping it");
                    return;
                }
            }
        }
        let Ok(permit) = permits.clone().acquire_owned().await else {
            return;
        };
        let runner = if loaded.from_config {
            self.config_runner.clone()
        } else {
            self.merchant_runner.clone()
        };
        let check = loaded.settings.clone();
        let tx = tx.clone();
        let clock = self.clock.clone();
        tokio::spawn(async move {
            let report = runner.run(&check, clock.now_ms()).await;
            drop(permit);
            let _ = tx.send((run, report)).await;
        });
    }

    async fn finish(&mut self, run: Run, mut report: ProbeReport) {
        if let Some(info) = self.engine.check(run.check_id)
            && self
                .resolver
                .observe(info.dependency_id, report.resolver_failure)
        {
            tracing::warn!(
                check.id = run.check_id,
                "name resolution fails for every dependency here: blaming this location's network"
            );
            report.blame_local_network();
        }
        let outcome = to_outcome(&report);
        let now = self.clock.now_ms();
        match self
            .engine
            .process(run.check_id, run.slot_at, &outcome, now)
            .await
        {
            Ok(Some(after)) => {
                let at =
                    self.clock.now_ms() + i64::try_from(after.as_millis()).unwrap_or(i64::MAX / 2);
                self.scheduler.confirm_at(run.check_id, at);
            }
            Ok(None) => {}
            Err(e) => {
                tracing::error!(error = %e, check.id = run.check_id, "cannot record a probe result")
            }
        }
    }

    async fn reload(&mut self, now: i64) -> Result<(), StorageError> {
        let (infos, loaded) = load_checks(&self.db).await?;
        let known: Vec<i64> = self.checks.keys().copied().collect();
        for id in known.iter().filter(|id| !loaded.contains_key(id)) {
            self.scheduler.remove(*id);
        }
        let mut added = false;
        for (id, l) in &loaded {
            if !self.checks.contains_key(id)
                && let Ok(c) = cadence(&l.settings)
            {
                self.scheduler.insert(*id, c, now);
                added = true;
            }
        }
        if added {
            // New checks need the engine to know them: rebuild it with the same state.
            let policy = DetectorPolicy {
                confirm_after: self.settings_sig.detection.confirm_after.clone(),
                recovery_successes: self.settings_sig.detection.recovery_successes,
            };
            let notify = self.engine.incident_changed.clone();
            let mut engine = DetectEngine::new(
                self.db.clone(),
                self.engine_metrics(),
                policy,
                IncidentPolicy {
                    reopen_window: self.settings_sig.detection.reopen_window,
                },
                self.location_id,
                self.settings_sig.probe.location.clone(),
                infos.into_values().collect(),
            );
            engine.incident_changed = notify;
            self.engine = Arc::new(engine);
        }
        self.checks = loaded;
        Ok(())
    }

    fn engine_metrics(&self) -> Metrics {
        self.engine.metrics().clone()
    }
}

fn cadence(c: &CheckSettings) -> Result<Cadence, String> {
    let interval = c.interval.or(if c.schedule.is_none() {
        Some(CheckSettings::DEFAULT_INTERVAL)
    } else {
        None
    });
    Cadence::parse(
        interval.map(|d| d.as_millis() as i64),
        c.schedule.as_deref(),
    )
}

/// Enabled checks: what the engine knows of each, and how to run each.
pub(crate) async fn load_checks(
    db: &Db,
) -> Result<(HashMap<i64, CheckInfo>, HashMap<i64, Loaded>), StorageError> {
    let mut infos = HashMap::new();
    let mut loaded = HashMap::new();
    for (check, dep) in catalog::enabled_checks(db).await? {
        let Ok(settings) = serde_json::from_str::<CheckSettings>(&check.spec) else {
            tracing::error!(
                check.id = check.id,
                "stored check spec does not parse; skipped"
            );
            continue;
        };
        let period = cadence(&settings).map(|c| c.period_ms(0)).unwrap_or(30_000);
        infos.insert(
            check.id,
            CheckInfo {
                check_id: check.id,
                check_name: check.name.clone(),
                dependency_id: dep.id,
                dependency_slug: dep.slug.clone(),
                period: Duration::from_millis(period as u64),
            },
        );
        loaded.insert(
            check.id,
            Loaded {
                settings,
                from_config: dep.source != "merchant",
            },
        );
    }
    Ok((infos, loaded))
}

/// The engine's view of a probe report.
pub fn to_outcome(r: &ProbeReport) -> ProbeOutcome {
    ProbeOutcome {
        started_at: r.started_at,
        outcome: r.outcome,
        class: r.class,
        status: r.status,
        provider_code: r.provider_code.clone(),
        error: r.error.clone(),
        duration: r.timings.total,
        timings_json: serde_json::to_string(&r.timings).ok(),
    }
}

#[cfg(test)]
mod tests {
    use super::ResolverWatch;

    #[test]
    fn dns_failing_for_every_dependency_is_this_locations_fault() {
        let mut w = ResolverWatch::default();
        assert!(
            !w.observe(1, true),
            "one dependency failing DNS is the provider's"
        );
        assert!(!w.observe(2, false));
        assert!(w.observe(2, true), "now every dependency fails to resolve");
        assert!(!w.observe(1, false), "a success clears it");
    }
}

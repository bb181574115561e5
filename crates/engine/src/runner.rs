//! The probe loop of one process: schedule → claim the slot → probe → detect → re-check.
//!
//! Slots are claimed in the database, so replicas sharing a probe location run each slot
//! once between them; confirmation re-checks are run by whoever saw the failure. A check's
//! confirmation delay counts from the end of the previous attempt.
use crate::canary::{CANARY_AT_MOST_EVERY_MS, CANARY_EVERY_MS, CanaryWatch, LocationHealth};
use crate::clock::Clock;
use crate::detect::{CheckInfo, DetectEngine, ProbeOutcome, Probed};
use crate::schedule::{Cadence, Run, Scheduler, service_time_zone};
use meoktong_config::{CheckSettings, Settings};
use meoktong_domain::detector::DetectorPolicy;
use meoktong_domain::incident::IncidentPolicy;
use meoktong_metrics::Metrics;
use meoktong_probe::{ProbeReport, Runner, RunnerOptions, SsrfPolicy};
use meoktong_storage::{Db, StorageError, catalog, probes};
use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, mpsc, watch};
use tokio_util::sync::CancellationToken;

const RELOAD_EVERY_MS: i64 = 30_000;
const HEARTBEAT_EVERY_MS: i64 = 10_000;
const RETENTION_EVERY_MS: i64 = 3_600_000;
/// Slot claims older than this are pruned: a claim only has to outlive its slot's run.
const SLOT_CLAIMS_KEPT_MS: i64 = 3_600_000;
/// The loop's shortest sleep: due runs gather for this long, so their slots are claimed in one
/// statement rather than one each.
const MIN_TICK_MS: i64 = 5;
/// Most results recorded in one transaction.
const MAX_BATCH: usize = 1_000;

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
    /// The own-network guard of this location.
    canaries: Option<CanaryWatch>,
    /// What the catalog looked like when last read ([`catalog::checks_fingerprint`]).
    fingerprint: Vec<i64>,
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
        let fingerprint = catalog::checks_fingerprint(&db).await?;
        let tz = service_time_zone(settings);
        let (infos, loaded) = load_checks(&db, tz).await?;
        let mut scheduler = Scheduler::new();
        for (id, l) in &loaded {
            match Cadence::of_check(&l.settings, tz) {
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
        let health = Arc::new(LocationHealth::default());
        let canaries = CanaryWatch::new(
            db.clone(),
            metrics.clone(),
            location_id,
            settings.probe.location.clone(),
            &settings.probe.canaries,
            health.clone(),
        );
        let engine = DetectEngine::new(
            db.clone(),
            metrics,
            policy,
            incident_policy,
            location_id,
            settings.probe.location.clone(),
            infos.into_values().collect(),
        )
        .with_health(health);
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
            canaries: Some(canaries),
            fingerprint,
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
    ///
    /// Three parts: this loop schedules and claims slots (a batch of claims per tick), probe
    /// tasks run with at most `probe.max_concurrency` in flight, and one recorder task takes
    /// whatever results have arrived and records them as a batch ([`DetectEngine::process_batch`]:
    /// one transaction for results, rollups and trackers), so database round trips do not
    /// grow with the number of checks and never hold up the schedule.
    pub async fn run_until_stopped(mut self, stop: CancellationToken) {
        let permits = Arc::new(Semaphore::new(self.max_concurrency.max(1)));
        let (tx, rx) = mpsc::channel::<(Run, ProbeReport)>(self.max_concurrency.max(16) * 4);
        let (confirm_tx, mut confirm_rx) = mpsc::unbounded_channel::<(i64, i64)>();
        let (engine_tx, engine_rx) = watch::channel(self.engine.clone());
        let mut recorder = tokio::spawn(record(rx, engine_rx, self.clock.clone(), confirm_tx));
        let canary_task = self.canaries.take().map(|watch| {
            tokio::spawn(watch_canaries(
                watch,
                self.clock.clone(),
                self.engine.canaries_wanted.clone(),
                stop.clone(),
            ))
        });
        let mut next_reload = self.clock.now_ms() + RELOAD_EVERY_MS;
        let mut next_heartbeat = self.clock.now_ms();
        let mut next_retention = self.clock.now_ms() + 60_000;
        loop {
            let now = self.clock.now_ms();
            if now >= next_heartbeat {
                // Only "last seen": the network-suspect flag is the detector's to set and clear.
                let _ = probes::touch_location(&self.db, self.location_id, now).await;
                next_heartbeat = now + HEARTBEAT_EVERY_MS;
            }
            if now >= next_reload {
                match self.reload(now).await {
                    Ok(()) => {
                        let _ = engine_tx.send(self.engine.clone());
                    }
                    Err(e) => tracing::warn!(error = %e, "cannot reload checks"),
                }
                next_reload = now + RELOAD_EVERY_MS;
            }
            if now >= next_retention {
                let before = now - i64::from(self.retention_days) * 86_400_000;
                match probes::prune(&self.db, before, now - SLOT_CLAIMS_KEPT_MS).await {
                    Ok(n) if n > 0 => {
                        tracing::info!(rows = n, "pruned raw probe results past retention")
                    }
                    Ok(_) => {}
                    Err(e) => tracing::warn!(error = %e, "retention failed"),
                }
                next_retention = now + RETENTION_EVERY_MS;
            }
            let due = self.scheduler.due(now);
            if !due.is_empty() {
                self.start(due, now, &permits, &tx).await;
            }
            let wait_ms = self
                .scheduler
                .next_due()
                .map(|t| (t - self.clock.now_ms()).clamp(MIN_TICK_MS, 1000))
                .unwrap_or(1000);
            tokio::select! {
                _ = stop.cancelled() => break,
                Some((check_id, at)) = confirm_rx.recv() => self.scheduler.confirm_at(check_id, at),
                _ = tokio::time::sleep(Duration::from_millis(wait_ms as u64)) => {}
            }
        }
        if let Some(task) = canary_task {
            let _ = task.await;
        }
        // Finish what was claimed: the recorder ends once every probe in flight has reported.
        drop(tx);
        if tokio::time::timeout(Duration::from_secs(8), &mut recorder)
            .await
            .is_err()
        {
            tracing::warn!("probes still in flight at shutdown; their results are not recorded");
            recorder.abort();
        }
    }

    /// Claims the scheduled slots among `due` (confirmation re-checks are this process's own)
    /// and starts a probe for each slot won.
    async fn start(
        &self,
        due: Vec<Run>,
        now: i64,
        permits: &Arc<Semaphore>,
        tx: &mpsc::Sender<(Run, ProbeReport)>,
    ) {
        let slots: Vec<(i64, i64)> = due
            .iter()
            .filter(|r| !r.confirmation && self.checks.contains_key(&r.check_id))
            .map(|r| (r.check_id, r.slot_at))
            .collect();
        let won = if slots.is_empty() {
            HashSet::new()
        } else {
            match probes::claim_slots(&self.db, self.location_id, &slots, &self.holder, now).await {
                Ok(won) => won,
                Err(e) => {
                    tracing::warn!(error = %e, slots = slots.len(), "cannot claim slots; skipping them");
                    HashSet::new()
                }
            }
        };
        for run in due {
            let Some(loaded) = self.checks.get(&run.check_id) else {
                continue;
            };
            if !run.confirmation && !won.contains(&(run.check_id, run.slot_at)) {
                continue; // another replica at this location has this slot
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
    }

    /// Picks up checks added, removed or edited since the last look (a cheap query first: at
    /// 100,000 checks, reading and parsing them all takes long enough to delay the schedule).
    async fn reload(&mut self, now: i64) -> Result<(), StorageError> {
        let fingerprint = catalog::checks_fingerprint(&self.db).await?;
        if fingerprint == self.fingerprint {
            return Ok(());
        }
        let tz = service_time_zone(&self.settings_sig);
        let (infos, loaded) = load_checks(&self.db, tz).await?;
        self.fingerprint = fingerprint;
        let known: Vec<i64> = self.checks.keys().copied().collect();
        for id in known.iter().filter(|id| !loaded.contains_key(id)) {
            self.scheduler.remove(*id);
        }
        let mut added = false;
        for (id, l) in &loaded {
            if !self.checks.contains_key(id)
                && let Ok(c) = Cadence::of_check(&l.settings, tz)
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
            let canaries_wanted = self.engine.canaries_wanted.clone();
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
            )
            .with_health(self.engine.health());
            engine.incident_changed = notify;
            engine.canaries_wanted = canaries_wanted;
            self.engine = Arc::new(engine);
        }
        self.checks = loaded;
        Ok(())
    }

    fn engine_metrics(&self) -> Metrics {
        self.engine.metrics().clone()
    }
}

/// The recorder: takes every result that has arrived (up to [`MAX_BATCH`]) and records them
/// together; asks the loop for the confirmation re-checks the detector wants.
async fn record(
    mut rx: mpsc::Receiver<(Run, ProbeReport)>,
    engine: watch::Receiver<Arc<DetectEngine>>,
    clock: Arc<dyn Clock>,
    confirm: mpsc::UnboundedSender<(i64, i64)>,
) {
    let mut arrived = Vec::with_capacity(MAX_BATCH);
    while rx.recv_many(&mut arrived, MAX_BATCH).await > 0 {
        let engine = engine.borrow().clone();
        let items: Vec<Probed> = arrived
            .drain(..)
            .map(|(run, report)| Probed {
                check_id: run.check_id,
                slot_at: run.slot_at,
                outcome: to_outcome(&report),
            })
            .collect();
        match engine.process_batch(&items, clock.now_ms()).await {
            Ok(confirms) => {
                for (check_id, after) in confirms {
                    let at =
                        clock.now_ms() + i64::try_from(after.as_millis()).unwrap_or(i64::MAX / 2);
                    let _ = confirm.send((check_id, at));
                }
            }
            Err(e) => {
                tracing::error!(error = %e, results = items.len(), "cannot record probe results")
            }
        }
    }
}

/// The own-network guard's loop: the canaries every [`CANARY_EVERY_MS`], and at once (at
/// most every [`CANARY_AT_MOST_EVERY_MS`]) when a probe fails.
async fn watch_canaries(
    watch: CanaryWatch,
    clock: Arc<dyn Clock>,
    wanted: Arc<Notify>,
    stop: CancellationToken,
) {
    if !watch.is_enabled() {
        tracing::warn!("probe.canaries is empty: the own-network guard is off");
        // Clears a verdict left behind while the guard was on.
        if let Err(e) = watch.probe_once(clock.now_ms()).await {
            tracing::warn!(error = %e, "cannot clear the stored canary verdict");
        }
        return;
    }
    loop {
        if let Err(e) = watch.probe_once(clock.now_ms()).await {
            tracing::warn!(error = %e, "cannot record the canaries' verdict");
        }
        // A failure meanwhile is remembered by `wanted` and answered right after this pause.
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(Duration::from_millis(CANARY_AT_MOST_EVERY_MS as u64)) => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = wanted.notified() => {}
            _ = tokio::time::sleep(Duration::from_millis(
                (CANARY_EVERY_MS - CANARY_AT_MOST_EVERY_MS) as u64,
            )) => {}
        }
    }
}

/// Checks read per query when loading the catalog.
const LOAD_PAGE: u64 = 2_000;

/// Enabled checks: what the engine knows of each, and how to run each. Read a page at a time
/// (reading 100,000 stored checks and their dependencies in one query took 360 MiB at its
/// peak, twice what the running loop needs).
pub(crate) async fn load_checks(
    db: &Db,
    tz: chrono_tz::Tz,
) -> Result<(HashMap<i64, CheckInfo>, HashMap<i64, Loaded>), StorageError> {
    let deps: HashMap<i64, meoktong_storage::entity::dependencies::Model> =
        catalog::list_dependencies(db)
            .await?
            .into_iter()
            .map(|d| (d.id, d))
            .collect();
    let mut infos = HashMap::new();
    let mut loaded = HashMap::new();
    let mut after = i64::MIN;
    loop {
        let page = catalog::enabled_checks_after(db, after, LOAD_PAGE).await?;
        let Some(last) = page.last() else { break };
        after = last.id;
        let full = page.len() as u64 == LOAD_PAGE;
        for check in page {
            let Some(dep) = deps.get(&check.dependency_id) else {
                continue;
            };
            let Ok(settings) = serde_json::from_str::<CheckSettings>(&check.spec) else {
                tracing::error!(
                    check.id = check.id,
                    "stored check spec does not parse; skipped"
                );
                continue;
            };
            let period = Cadence::of_check(&settings, tz)
                .map(|c| c.period_ms(0))
                .unwrap_or(30_000);
            infos.insert(
                check.id,
                CheckInfo {
                    check_id: check.id,
                    check_name: check.name,
                    dependency_id: dep.id,
                    dependency_slug: dep.slug.clone(),
                    platform: dep.platform.clone(),
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
        if !full {
            break;
        }
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

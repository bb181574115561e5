//! The remote probe agent (`meoktong agent`): runs the server's checks from another network
//! under its own probe location and reports the results, so the detector's quorum can tell a
//! dependency's outage from one network's.
//!
//! Three parts: the probe loop here (fetch checks, schedule, probe), a bounded
//! [`ResultBuffer`] (oldest dropped and counted when the server stays away too long), and a
//! sender that posts the buffer in batches, retrying with backoff, and hands the detector's
//! confirmation requests back to the probe loop.
mod buffer;
mod client;

pub use buffer::ResultBuffer;
pub use client::{AgentClient, AgentError};

use meoktong_domain::Outcome;
use meoktong_engine::agent::{AgentBatch, AgentCheck, AgentChecks, AgentResult, ConfirmRequest};
use meoktong_engine::canary::{CANARY_AT_MOST_EVERY_MS, CANARY_EVERY_MS, Canaries};
use meoktong_engine::clock::{Clock, SystemClock};
use meoktong_engine::schedule::{Cadence, Run, Scheduler};
use meoktong_probe::{Runner, RunnerOptions, SsrfPolicy};
use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::sync::{Notify, Semaphore, mpsc};
use tokio_util::sync::CancellationToken;

#[derive(Debug, Clone)]
pub struct AgentConfig {
    pub server: String,
    pub token: String,
    pub location: String,
    /// Results kept while the server is unreachable.
    pub buffer_capacity: usize,
    pub max_concurrency: usize,
    /// Most results per request.
    pub batch_size: usize,
    /// How often buffered results are sent.
    pub flush_every: Duration,
    /// How often the check list is fetched again.
    pub refresh_every: Duration,
    pub request_timeout: Duration,
    /// Longest wait between retries while the server is unreachable.
    pub max_backoff: Duration,
}

impl AgentConfig {
    pub fn new(server: &str, token: &str, location: &str) -> AgentConfig {
        AgentConfig {
            server: server.to_string(),
            token: token.to_string(),
            location: location.to_string(),
            buffer_capacity: 10_000,
            max_concurrency: 64,
            batch_size: 500,
            flush_every: Duration::from_secs(1),
            refresh_every: Duration::from_secs(30),
            request_timeout: Duration::from_secs(10),
            max_backoff: Duration::from_secs(30),
        }
    }
}

pub struct Agent {
    cfg: AgentConfig,
    client: AgentClient,
    buffer: Arc<Mutex<ResultBuffer>>,
    clock: Arc<dyn Clock>,
}

/// Sends the buffer in batches; one [`Sender::flush_once`] is one request.
pub struct Sender {
    client: AgentClient,
    buffer: Arc<Mutex<ResultBuffer>>,
    batch_size: usize,
    /// The canaries' latest verdict, sent with every batch (`None`: no canaries).
    network_suspect: Arc<Mutex<Option<bool>>>,
}

/// What one request did.
#[derive(Debug, Default)]
pub struct Flushed {
    pub sent: usize,
    pub confirm: Vec<ConfirmRequest>,
}

fn lock(b: &Mutex<ResultBuffer>) -> std::sync::MutexGuard<'_, ResultBuffer> {
    // A panic while holding the lock leaves a consistent buffer: every method is one step.
    b.lock().unwrap_or_else(|p| p.into_inner())
}

impl Sender {
    pub async fn flush_once(&self) -> Result<Flushed, AgentError> {
        let (results, last) = lock(&self.buffer).peek_batch(self.batch_size);
        let Some(last) = last else {
            return Ok(Flushed::default());
        };
        let sent = results.len();
        let network_suspect = *self
            .network_suspect
            .lock()
            .unwrap_or_else(|p| p.into_inner());
        let ack = self
            .client
            .post_results(&AgentBatch {
                results,
                network_suspect,
            })
            .await?;
        lock(&self.buffer).ack_through(last);
        Ok(Flushed {
            sent,
            confirm: ack.confirm,
        })
    }

    /// Sends everything buffered; stops at the first failure.
    pub async fn flush_all(
        &self,
        confirm: &mpsc::UnboundedSender<ConfirmRequest>,
    ) -> Result<usize, AgentError> {
        let mut total = 0;
        loop {
            let f = self.flush_once().await?;
            for c in f.confirm {
                let _ = confirm.send(c);
            }
            total += f.sent;
            if f.sent < self.batch_size {
                return Ok(total);
            }
        }
    }

    async fn run_until_stopped(
        self,
        every: Duration,
        max_backoff: Duration,
        confirm: mpsc::UnboundedSender<ConfirmRequest>,
        stop: CancellationToken,
    ) {
        let mut wait = every;
        let mut failing = false;
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
            match self.flush_all(&confirm).await {
                Ok(_) => {
                    if failing {
                        tracing::info!(
                            buffered = lock(&self.buffer).len(),
                            "server reachable again; sending buffered results"
                        );
                    }
                    failing = false;
                    wait = every;
                }
                Err(e) => {
                    let b = lock(&self.buffer);
                    if !failing {
                        tracing::warn!(error = %e, buffered = b.len(), dropped = b.dropped(), "cannot send results; buffering and retrying");
                    }
                    failing = true;
                    wait = (wait * 2).min(max_backoff).max(every);
                }
            }
        }
    }
}

/// The agent's own-network guard: looks at the canaries every [`CANARY_EVERY_MS`], and at
/// once (at most every [`CANARY_AT_MOST_EVERY_MS`]) when a probe fails; each batch carries
/// the latest verdict to the server, which sets the agent's results aside while it is suspect.
async fn watch_canaries(
    canaries: Canaries,
    clock: Arc<dyn Clock>,
    verdict: Arc<Mutex<Option<bool>>>,
    wanted: Arc<Notify>,
    stop: CancellationToken,
) {
    loop {
        let v = canaries.look(clock.now_ms()).await;
        let was = verdict
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .replace(v.suspect);
        if was.unwrap_or(false) != v.suspect {
            if v.suspect {
                tracing::error!(
                    canaries.unreachable = v.unreachable,
                    canaries.total = v.total,
                    "this agent's own network is failing (its canaries do not answer): the server sets its results aside"
                );
            } else {
                tracing::error!("this agent's canaries answer again: its results count again");
            }
        }
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

/// The time zone the server reads cron schedules in (UTC from a server that does not say).
fn time_zone(fetched: &AgentChecks) -> chrono_tz::Tz {
    fetched
        .time_zone
        .as_deref()
        .and_then(|z| z.parse().ok())
        .unwrap_or(chrono_tz::UTC)
}

fn schedule_all(checks: &HashMap<i64, AgentCheck>, tz: chrono_tz::Tz, now: i64) -> Scheduler {
    let mut s = Scheduler::new();
    for (id, c) in checks {
        match Cadence::of_check(&c.check, tz) {
            Ok(cad) => s.insert(*id, cad, now),
            Err(e) => {
                tracing::error!(check.id = id, error = %e, "check has no usable schedule; skipped")
            }
        }
    }
    s
}

impl Agent {
    pub fn new(cfg: AgentConfig) -> Result<Agent, AgentError> {
        let client = AgentClient::new(&cfg.server, &cfg.token, &cfg.location, cfg.request_timeout)?;
        let buffer = Arc::new(Mutex::new(ResultBuffer::new(cfg.buffer_capacity)));
        Ok(Agent {
            cfg,
            client,
            buffer,
            clock: Arc::new(SystemClock),
        })
    }

    /// The results waiting to be sent (for tests and for the exit summary).
    pub fn buffer(&self) -> Arc<Mutex<ResultBuffer>> {
        self.buffer.clone()
    }

    /// The first fetch: a refusal (bad token, wrong location) ends the agent; an unreachable
    /// server is waited for. `None` when stopped first.
    async fn first_checks(
        &self,
        stop: &CancellationToken,
    ) -> Result<Option<AgentChecks>, AgentError> {
        let mut wait = Duration::from_secs(1);
        loop {
            match self.client.fetch_checks().await {
                Ok(c) => return Ok(Some(c)),
                Err(e @ AgentError::Refused(_)) => return Err(e),
                Err(e) => {
                    tracing::warn!(error = %e, retry_in_s = wait.as_secs(), "cannot fetch checks; retrying")
                }
            }
            tokio::select! {
                _ = stop.cancelled() => return Ok(None),
                _ = tokio::time::sleep(wait) => {}
            }
            wait = (wait * 2).min(self.cfg.max_backoff);
        }
    }

    /// Runs until `stop`; then finishes the probes in flight and sends what it can.
    pub async fn run_until_stopped(self, stop: CancellationToken) -> Result<(), AgentError> {
        let Some(first) = self.first_checks(&stop).await? else {
            return Ok(());
        };
        tracing::info!(location = %first.location, checks = first.checks.len(), "agent started");
        let mut tz = time_zone(&first);
        // The own-network guard: the server's canaries, every 30 s and at once on a failure.
        let network_suspect = Arc::new(Mutex::new(None));
        let canaries_wanted = Arc::new(Notify::new());
        let canaries = Canaries::new(&first.canaries);
        let canary_task = canaries.is_enabled().then(|| {
            tokio::spawn(watch_canaries(
                canaries,
                self.clock.clone(),
                network_suspect.clone(),
                canaries_wanted.clone(),
                stop.clone(),
            ))
        });
        let mut checks: HashMap<i64, AgentCheck> =
            first.checks.into_iter().map(|c| (c.id, c)).collect();
        let mut scheduler = schedule_all(&checks, tz, self.clock.now_ms());
        let (confirm_tx, mut confirm_rx) = mpsc::unbounded_channel::<ConfirmRequest>();
        let sender = Sender {
            client: self.client.clone(),
            buffer: self.buffer.clone(),
            batch_size: self.cfg.batch_size.max(1),
            network_suspect: network_suspect.clone(),
        };
        let sender_task = tokio::spawn(sender.run_until_stopped(
            self.cfg.flush_every,
            self.cfg.max_backoff,
            confirm_tx.clone(),
            stop.clone(),
        ));
        let runner = |allow_private| {
            Runner::new(RunnerOptions {
                ssrf: SsrfPolicy { allow_private },
                ..RunnerOptions::default()
            })
        };
        let (open_runner, guarded_runner) = (runner(true), runner(false));
        let permits = Arc::new(Semaphore::new(self.cfg.max_concurrency.max(1)));
        let (tx, mut rx) = mpsc::channel::<AgentResult>(self.cfg.max_concurrency.max(16) * 2);
        let refresh_ms = self.cfg.refresh_every.as_millis() as i64;
        let mut next_refresh = self.clock.now_ms() + refresh_ms;
        loop {
            let now = self.clock.now_ms();
            if now >= next_refresh {
                match self.client.fetch_checks().await {
                    Ok(fresh) => {
                        let fresh_tz = time_zone(&fresh);
                        let fresh: HashMap<i64, AgentCheck> =
                            fresh.checks.into_iter().map(|c| (c.id, c)).collect();
                        if fresh != checks || fresh_tz != tz {
                            tracing::info!(checks = fresh.len(), "check list changed");
                            tz = fresh_tz;
                            scheduler = schedule_all(&fresh, tz, now);
                            checks = fresh;
                        }
                    }
                    Err(e) => {
                        tracing::warn!(error = %e, "cannot refresh checks; keeping the current ones")
                    }
                }
                next_refresh = now + refresh_ms;
            }
            for run in scheduler.due(now) {
                let Some(c) = checks.get(&run.check_id) else {
                    continue;
                };
                let Ok(permit) = permits.clone().acquire_owned().await else {
                    break;
                };
                let runner = if c.allow_private {
                    open_runner.clone()
                } else {
                    guarded_runner.clone()
                };
                let (check, tx, clock) = (c.check.clone(), tx.clone(), self.clock.clone());
                tokio::spawn(async move {
                    let report = runner.run(&check, clock.now_ms()).await;
                    drop(permit);
                    let Run {
                        check_id,
                        slot_at,
                        confirmation,
                    } = run;
                    let _ = tx
                        .send(AgentResult {
                            check_id,
                            slot_at,
                            confirmation,
                            report,
                        })
                        .await;
                });
            }
            let wait_ms = scheduler
                .next_due()
                .map(|t| (t - self.clock.now_ms()).clamp(0, 1000))
                .unwrap_or(1000);
            tokio::select! {
                _ = stop.cancelled() => break,
                Some(r) = rx.recv() => {
                    if r.report.outcome == Outcome::Fail {
                        canaries_wanted.notify_one(); // is it them or us?
                    }
                    lock(&self.buffer).push(r);
                }
                Some(c) = confirm_rx.recv() => {
                    let at = self.clock.now_ms() + i64::try_from(c.after_ms).unwrap_or(i64::MAX / 2);
                    scheduler.confirm_at(c.check_id, at);
                }
                _ = tokio::time::sleep(Duration::from_millis(wait_ms as u64)) => {}
            }
        }
        // Finish the probes in flight, then send what the server will take.
        drop(tx);
        let deadline = tokio::time::Instant::now() + Duration::from_secs(8);
        while let Ok(Some(r)) = tokio::time::timeout_at(deadline, rx.recv()).await {
            lock(&self.buffer).push(r);
        }
        let _ = sender_task.await;
        let final_sender = Sender {
            client: self.client.clone(),
            buffer: self.buffer.clone(),
            batch_size: self.cfg.batch_size.max(1),
            network_suspect: network_suspect.clone(),
        };
        if let Some(task) = canary_task {
            let _ = task.await;
        }
        if let Err(e) = final_sender.flush_all(&confirm_tx).await {
            tracing::warn!(error = %e, "could not send the last results");
        }
        let b = lock(&self.buffer);
        tracing::info!(unsent = b.len(), dropped = b.dropped(), "agent stopped");
        Ok(())
    }
}

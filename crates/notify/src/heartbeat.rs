//! The heartbeat sweeper: a store whose heartbeat stopped is an incident for that merchant
//! alone, told like any other (SMS first, email as fallback, the next contact on no ack).
//!
//! Each pass is a reconciler, safe on every replica at once: it opens incidents for monitors
//! silent past period + grace (a conditional update on the monitor's row, so one replica wins),
//! then makes sure every open heartbeat incident has its `store_offline` notice and every
//! ended one its `store_back` notice. Notices carry the same (merchant, incident, kind) keys
//! as the planner's, so no merchant hears the same thing twice, whatever crashes or races.
//! Notices are written here rather than by the planner: the planner speaks of dependencies
//! merchants subscribe to, while this is the store's own line, with its own wording.
use crate::compose::{Composer, NoticeDraft};
use meoktong_domain::listening::Listening;
use meoktong_domain::message::NoticeKind;
use meoktong_storage::entity::{dependencies, heartbeat_monitors, incidents};
use meoktong_storage::outbox;
use meoktong_storage::{Db, StorageError, heartbeats, incidents as store_incidents, probes};
use std::collections::{HashMap, HashSet};
use std::sync::{Arc, Mutex, MutexGuard};

/// A sweeper pass later than this after the previous one means we were not listening in
/// between (the process was stopped or stalled): every heartbeat gets a fresh period + grace.
pub const SWEEPER_PAUSE_MS: i64 = 10_000;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepStats {
    /// Incidents opened (monitors gone silent).
    pub opened: usize,
    /// Notices written (offline and back).
    pub notices: usize,
    /// Outbox messages written.
    pub messages: usize,
}

pub struct HeartbeatSweeper {
    db: Db,
    composer: Arc<Composer>,
    /// Since when we could hear pings (our own downtime guard).
    listening: Mutex<Listening>,
    /// This process's probe location: while its canaries do not answer, nobody is overdue.
    location: Option<String>,
}

impl HeartbeatSweeper {
    pub fn new(db: Db, composer: Arc<Composer>) -> HeartbeatSweeper {
        HeartbeatSweeper {
            db,
            composer,
            listening: Mutex::new(Listening::default()),
            location: None,
        }
    }

    /// Watches this probe location's own-network verdict: while it is network-suspect, pings
    /// may be lost on our side, so no heartbeat is overdue, and each gets a fresh period +
    /// grace once the network is back.
    pub fn watching_location(mut self, location: impl Into<String>) -> HeartbeatSweeper {
        self.location = Some(location.into());
        self
    }

    fn listening(&self) -> MutexGuard<'_, Listening> {
        self.listening.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Since when we could hear pings without interruption (start-up, a failed pass, a pause
    /// of the sweeper or a network-suspect spell start it again), or `None` while we cannot.
    async fn listening_since(&self, now: i64) -> Result<Option<i64>, StorageError> {
        let healthy = match &self.location {
            Some(name) => !probes::locations(&self.db)
                .await?
                .iter()
                .any(|l| &l.name == name && l.canaries_failing_since.is_some()),
            None => true,
        };
        Ok(self.listening().pass(now, healthy, SWEEPER_PAUSE_MS))
    }

    /// One pass at `now`.
    pub async fn sweep_once(&self, now: i64) -> Result<SweepStats, StorageError> {
        let mut stats = SweepStats::default();
        let overdue = match self.listening_since(now).await {
            Ok(Some(since)) => heartbeats::overdue(&self.db, now, since).await,
            Ok(None) => Ok(Vec::new()),
            Err(e) => Err(e),
        };
        if overdue.is_err() {
            self.listening().interrupted(); // the database did not answer
        }
        for m in overdue? {
            let dep = heartbeats::store_dependency(&self.db, m.merchant_id, now).await?;
            if heartbeats::mark_down(&self.db, &m, dep.id, now)
                .await?
                .is_some()
            {
                stats.opened += 1;
                tracing::warn!(
                    merchant.id = m.merchant_id,
                    heartbeat.id = m.id,
                    "store heartbeat stopped: the store's internet looks down"
                );
            }
        }
        let pending = heartbeats::with_open_incident(&self.db).await?;
        if pending.is_empty() {
            return Ok(stats);
        }
        let incident_ids: Vec<i64> = pending.iter().filter_map(|m| m.open_incident_id).collect();
        let told: HashSet<(i64, i64, String)> = outbox::told_for_incidents(&self.db, &incident_ids)
            .await?
            .into_iter()
            .map(|t| (t.merchant_id, t.incident_id, t.kind))
            .collect();
        for m in &pending {
            let Some(incident_id) = m.open_incident_id else {
                continue;
            };
            let Some(incident) = store_incidents::get(&self.db, incident_id).await? else {
                continue;
            };
            let offline_told = told.contains(&(m.merchant_id, incident_id, "down".to_string()));
            match (m.state.as_str(), incident.resolved_at) {
                ("down", _) if !offline_told => {
                    stats.messages += self
                        .tell(m, &incident, NoticeKind::StoreOffline, now)
                        .await?;
                    stats.notices += 1;
                }
                ("up", Some(_)) => {
                    // Back: told only to those who heard it was down.
                    let back_told =
                        told.contains(&(m.merchant_id, incident_id, "recovery:0".to_string()));
                    if offline_told && !back_told {
                        stats.messages +=
                            self.tell(m, &incident, NoticeKind::StoreBack, now).await?;
                        stats.notices += 1;
                    }
                    heartbeats::release_incident(&self.db, m.id, incident_id).await?;
                }
                _ => {}
            }
        }
        Ok(stats)
    }

    /// Composes and writes one notice (store offline or back) for the monitor's merchant.
    /// Returns how many messages it carries (0 when it was written before).
    async fn tell(
        &self,
        m: &heartbeat_monitors::Model,
        incident: &incidents::Model,
        kind: NoticeKind,
        now: i64,
    ) -> Result<usize, StorageError> {
        let Some(audience) = self.composer.audience_of(m.merchant_id).await? else {
            return Ok(0);
        };
        let dep = heartbeats::store_dependency(&self.db, m.merchant_id, now).await?;
        let deps: HashMap<i64, dependencies::Model> = HashMap::from([(dep.id, dep)]);
        // A store-back notice gives the outage's length (as a recovery does), so an email
        // fallback rendered later (`Composer::render_email`) says the same.
        let key = if kind == NoticeKind::StoreBack {
            "recovery:0"
        } else {
            "down"
        };
        let draft = NoticeDraft::new(m.merchant_id, kind, vec![incident.clone()], key);
        let (mut queued_sms, _) = outbox::depth(&self.db, now).await?;
        // The store's own system may well be offline too; its webhook is sent all the same
        // (retried with backoff), so it learns what happened once its line is back.
        let composed =
            self.composer
                .compose(&draft, audience.audience(), &deps, &mut queued_sms, now);
        let n = composed.messages.len();
        if self
            .composer
            .write(composed, "heartbeat", now)
            .await?
            .is_none()
        {
            return Ok(0);
        }
        if kind == NoticeKind::StoreBack {
            outbox::close_notices_for_incidents(&self.db, m.merchant_id, &[incident.id]).await?;
        }
        tracing::info!(
            merchant.id = m.merchant_id,
            notice.kind = kind.as_str(),
            messages = n,
            "store heartbeat notice planned"
        );
        Ok(n)
    }
}

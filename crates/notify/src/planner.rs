//! The notification planner: a reconciler from incidents to notices.
//!
//! Each pass looks at open and recently resolved incidents and every subscribed merchant, and
//! writes the notices that are due (down, follow-up, relapse, recovery) with their first
//! messages into the outbox, many notices per transaction (a small first batch, so the
//! dispatchers can start while the rest is written). It is idempotent: the database's
//! unique key on (merchant, incident, kind) makes a second notice impossible, whatever
//! restarts or replicas happen; a merchant imported or subscribed while an incident is open
//! simply gets its down notice on the next pass.
use crate::compose::{Audience, Composer, NoticeDraft, Skip};
use meoktong_domain::message::NoticeKind;
use meoktong_domain::outage_event::{self, EventPolicy, IncidentView};
use meoktong_storage::contacts;
use meoktong_storage::entity::{dependencies, incidents, merchants};
use meoktong_storage::outbox::{self, NewMessage, NewNotice};
use meoktong_storage::{Db, StorageError, catalog, incidents as store_incidents, webhooks};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// When the planner tells what (see [`meoktong_domain::outage_event`]).
#[derive(Debug, Clone)]
pub struct PlannerConfig {
    pub group_window: Duration,
    pub reopen_window: Duration,
    /// Something back this long while the rest of its outage is still down gets a partial
    /// recovery notice.
    pub partial_recovery_after: Duration,
}

impl PlannerConfig {
    fn event_policy(&self) -> EventPolicy {
        EventPolicy {
            group_window: self.group_window,
            reopen_window: self.reopen_window,
            partial_recovery_after: self.partial_recovery_after,
        }
    }
}

/// How long a resolved incident stays eligible for recovery notices.
const RECOVERY_LOOKBACK_MS: i64 = 24 * 3600 * 1000;

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PlanStats {
    pub notices: usize,
    pub messages: usize,
    /// The pass was ended early ([`Planner::plan_once_until`]).
    pub interrupted: bool,
}

#[derive(Clone)]
pub struct Planner {
    db: Db,
    composer: Arc<Composer>,
    cfg: PlannerConfig,
    /// Woken after each batch of notices is committed (the dispatchers' wake-up).
    written: Option<Arc<tokio::sync::Notify>>,
}

/// Notices in the first transaction of a pass: few, so the first SMS leaves at once.
const FIRST_BATCH: usize = 32;
/// Messages written in a pass before the database's statistics are refreshed (see
/// `outbox::refresh_statistics`), and again each time the count has grown fourfold.
const REFRESH_STATISTICS_FIRST: usize = 5_000;

/// Aborts a task when dropped (a pass that fails or is cancelled stops its page reader).
struct AbortOnDrop<T>(tokio::task::JoinHandle<T>);

impl<T> Drop for AbortOnDrop<T> {
    fn drop(&mut self) {
        self.0.abort();
    }
}

/// One page's notices, prepared and waiting to be written.
struct Prepared {
    notices: Vec<(NewNotice, Vec<NewMessage>)>,
    /// What each notice is about, in the same order.
    about: Vec<NoticeDraft>,
    /// Contacts skipped.
    skipped: Vec<Skip>,
}

impl Planner {
    pub fn new(db: Db, composer: Arc<Composer>, cfg: PlannerConfig) -> Planner {
        Planner {
            db,
            composer,
            cfg,
            written: None,
        }
    }

    /// Wakes `notify` each time a batch of notices is committed, so dispatchers start on the
    /// first batch instead of waiting for the whole pass.
    pub fn notify_when_written(mut self, notify: Arc<tokio::sync::Notify>) -> Planner {
        self.written = Some(notify);
        self
    }

    /// One pass: writes every notice due at `now`.
    ///
    /// Subscribed merchants are walked in pages (whole merchants, in merchant order): a
    /// first page of `FIRST_BATCH` rows, growing fourfold up to `NOTICES_PER_TRANSACTION`,
    /// each page's notices written in one transaction and the dispatchers woken after it, so
    /// the first SMS leaves before the last subscription is read. A task of its own reads and
    /// prepares the next page while one is written (two at once on PostgreSQL).
    pub async fn plan_once(&self, now: i64) -> Result<PlanStats, StorageError> {
        self.plan_once_until(now, std::future::pending::<()>())
            .await
    }

    /// [`Planner::plan_once`], ended early once `interrupt` completes: the pages being
    /// written are finished (with what follows them, such as closing the notices a recovery
    /// ends), no other page is begun, and `PlanStats::interrupted` is set. The serve loop
    /// interrupts a pass when an incident changes, so a new outage is planned at once rather
    /// than after a long walk over an older one's merchants; what was left is planned by the
    /// next pass (planning is idempotent).
    pub async fn plan_once_until(
        &self,
        now: i64,
        interrupt: impl std::future::Future<Output = ()>,
    ) -> Result<PlanStats, StorageError> {
        let mut all =
            store_incidents::open_or_resolved_since(&self.db, now - RECOVERY_LOOKBACK_MS).await?;
        // An incident an operator marked a false alarm is told by its one correction
        // (`status_comms`), never by a recovery.
        if !all.is_empty() {
            let ids: Vec<i64> = all.iter().map(|i| i.id).collect();
            let marks = meoktong_storage::status_comms::marks::of(&self.db, &ids).await?;
            all.retain(|i| marks.get(&i.id).is_none_or(|m| m.false_alarm_at.is_none()));
        }
        if all.is_empty() {
            return Ok(PlanStats::default());
        }
        let dep_ids: Vec<i64> = all
            .iter()
            .map(|i| i.dependency_id)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let incident_ids: Vec<i64> = all.iter().map(|i| i.id).collect();
        let mut incs_by_dep: HashMap<i64, Vec<incidents::Model>> = HashMap::new();
        for i in all {
            incs_by_dep.entry(i.dependency_id).or_default().push(i);
        }
        // Pages are read and prepared (subscriptions, who was told, merchants, contacts,
        // texts) by a task of their own while the page before is being written: the database
        // writes one page while the other core prepares the next. At most one prepared page
        // waits. The task stops when this pass ends, error or not.
        let (tx, mut rx) = tokio::sync::mpsc::channel::<Prepared>(1);
        let mut producer = AbortOnDrop(tokio::spawn(self.clone().produce(
            tx,
            dep_ids,
            incident_ids,
            incs_by_dep,
            now,
        )));
        // PostgreSQL writes two pages at once (two server processes, two cores: its insert
        // work is most of a large pass); SQLite has one writer at a time.
        let writers = match self.db.backend {
            meoktong_storage::Backend::Postgres => 2,
            meoktong_storage::Backend::Sqlite => 1,
        };
        let mut stats = PlanStats::default();
        let mut analyze_at = REFRESH_STATISTICS_FIRST;
        let mut writing = futures::stream::FuturesUnordered::new();
        let mut more = true;
        tokio::pin!(interrupt);
        loop {
            tokio::select! {
                () = &mut interrupt, if more => {
                    more = false;
                    stats.interrupted = true;
                }
                page = rx.recv(), if more && writing.len() < writers => match page {
                    Some(p) => writing.push(self.write_batch(p, now)),
                    None => more = false,
                },
                Some(done) = futures::StreamExt::next(&mut writing), if !writing.is_empty() => {
                    let done = done?;
                    stats.notices += done.notices;
                    stats.messages += done.messages;
                    if stats.messages >= analyze_at {
                        analyze_at = stats.messages * 4;
                        self.refresh_statistics_soon();
                    }
                }
                else => break,
            }
        }
        if stats.interrupted {
            // The reader is stopped where it is (it only reads).
            return Ok(stats);
        }
        // The reader's own error, if it stopped on one (it closed the channel).
        match (&mut producer.0).await {
            Ok(done) => done?,
            Err(e) => {
                return Err(StorageError::Data(format!(
                    "the planner's page reader stopped: {e}"
                )));
            }
        }
        Ok(stats)
    }

    /// Reads pages of subscribed merchants in merchant order and sends each page's notices,
    /// prepared, to `tx` (see `plan_once`).
    async fn produce(
        self,
        tx: tokio::sync::mpsc::Sender<Prepared>,
        dep_ids: Vec<i64>,
        incident_ids: Vec<i64>,
        incs_by_dep: HashMap<i64, Vec<incidents::Model>>,
        now: i64,
    ) -> Result<(), StorageError> {
        // Read once, on the first page that has something to write.
        let mut shared: Option<(HashMap<i64, dependencies::Model>, i64)> = None;
        let mut after = i64::MIN;
        let mut size = FIRST_BATCH;
        loop {
            let (subs, more) = catalog::subscription_page(&self.db, &dep_ids, after, size).await?;
            let Some(last) = subs.last() else { break };
            after = last.merchant_id;
            let merchant_ids: Vec<i64> = subs
                .iter()
                .map(|s| s.merchant_id)
                .collect::<HashSet<_>>()
                .into_iter()
                .collect();
            let told: HashSet<(i64, i64, String)> =
                outbox::told(&self.db, &merchant_ids, &incident_ids)
                    .await?
                    .into_iter()
                    .map(|t| (t.merchant_id, t.incident_id, t.kind))
                    .collect();
            let mut by_merchant: BTreeMap<i64, Vec<(&incidents::Model, bool)>> = BTreeMap::new();
            for s in &subs {
                for inc in incs_by_dep.get(&s.dependency_id).into_iter().flatten() {
                    by_merchant
                        .entry(s.merchant_id)
                        .or_default()
                        .push((inc, s.notify_degraded));
                }
            }
            let mut drafts = Vec::new();
            for (merchant_id, incs) in by_merchant {
                drafts.extend(self.drafts_for(merchant_id, &incs, &told, now));
            }
            if !drafts.is_empty() {
                if shared.is_none() {
                    let deps = catalog::list_dependencies(&self.db)
                        .await?
                        .into_iter()
                        .map(|d| (d.id, d))
                        .collect();
                    // Place in the SMS queue, for the queue-budget rule.
                    let (queued_sms, _) = outbox::depth(&self.db, now).await?;
                    shared = Some((deps, queued_sms));
                }
                let (deps, queued_sms) = shared.as_mut().expect("read above");
                // Within a page, merchants whose own ordering runs on the failed platform go
                // first (the dispatchers' claim order is the messages' priority in any case).
                drafts.sort_by_key(|d| (priority(d, deps), d.merchant_id));
                let prepared = self.prepare_batch(drafts, deps, queued_sms, now).await?;
                if tx.send(prepared).await.is_err() {
                    // The writer stopped on an error, which `plan_once` returns.
                    break;
                }
            }
            if !more {
                break;
            }
            // 32, 128, then 500: the pages right after the first stay short, so a
            // dispatcher's first claim never queues behind a long transaction.
            size = (size * 4).min(outbox::NOTICES_PER_TRANSACTION);
        }
        Ok(())
    }

    /// The notices of some drafts, ready to be written: their merchants, contacts, playbooks
    /// and webhooks read with one query each, each notice composed.
    async fn prepare_batch(
        &self,
        drafts: Vec<NoticeDraft>,
        deps: &HashMap<i64, dependencies::Model>,
        queued_sms: &mut i64,
        now: i64,
    ) -> Result<Prepared, StorageError> {
        let ids: Vec<i64> = drafts
            .iter()
            .map(|d| d.merchant_id)
            .collect::<HashSet<_>>()
            .into_iter()
            .collect();
        let merchants: HashMap<i64, merchants::Model> = contacts::merchants_by_ids(&self.db, &ids)
            .await?
            .into_iter()
            .map(|m| (m.id, m))
            .collect();
        let contact_lists = contacts::of_merchants(&self.db, self.composer.crypto(), &ids).await?;
        let playbooks = contacts::playbooks_of(&self.db, &ids).await?;
        let hooks = webhooks::url_enc_of(&self.db, &ids).await?;
        let mut out = Prepared {
            notices: Vec::with_capacity(drafts.len()),
            about: Vec::with_capacity(drafts.len()),
            skipped: Vec::new(),
        };
        for draft in drafts {
            let Some(merchant) = merchants.get(&draft.merchant_id) else {
                continue;
            };
            let audience = Audience {
                merchant,
                contacts: contact_lists
                    .get(&merchant.id)
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
                playbooks: playbooks
                    .get(&merchant.id)
                    .map(Vec::as_slice)
                    .unwrap_or_default(),
                webhook_url_enc: hooks.get(&merchant.id).map(String::as_str),
            };
            let composed = self
                .composer
                .compose(&draft, audience, deps, queued_sms, now);
            out.skipped.extend(composed.skipped);
            out.notices.push((composed.notice, composed.messages));
            out.about.push(draft);
        }
        Ok(out)
    }

    /// Writes prepared notices in one transaction, records the contacts skipped, closes what
    /// recoveries close, and wakes the dispatchers.
    async fn write_batch(&self, p: Prepared, now: i64) -> Result<PlanStats, StorageError> {
        let mut stats = PlanStats::default();
        self.composer
            .record_skips("planner", None, &p.skipped, now)
            .await?;
        let written = outbox::create_notices(&self.db, &p.notices).await?;
        for ((id, (_, messages)), draft) in written.iter().zip(&p.notices).zip(&p.about) {
            if id.is_none() {
                continue;
            }
            if draft.kind == NoticeKind::Recovery {
                let ids: Vec<i64> = draft.incidents.iter().map(|i| i.id).collect();
                outbox::close_notices_for_incidents(&self.db, draft.merchant_id, &ids).await?;
            }
            tracing::info!(
                merchant.id = draft.merchant_id,
                notice.kind = draft.kind.as_str(),
                messages = messages.len(),
                "notice planned"
            );
            if !messages.is_empty() {
                stats.notices += 1;
                stats.messages += messages.len();
            }
        }
        if let Some(n) = &self.written
            && written.iter().any(Option::is_some)
        {
            n.notify_waiters();
        }
        Ok(stats)
    }

    /// Refreshes the database's statistics of the outbox in a task of its own, so the writes
    /// of the pass go on meanwhile. Only speed depends on it: a refusal (say, a role that may
    /// not ANALYZE) is logged.
    fn refresh_statistics_soon(&self) {
        let db = self.db.clone();
        tokio::spawn(async move {
            if let Err(e) = outbox::refresh_statistics(&db).await {
                tracing::warn!(error = %e, "could not refresh the outbox statistics");
            }
        });
    }

    /// The notices due now for one merchant (the rules: [`meoktong_domain::outage_event`]).
    fn drafts_for(
        &self,
        merchant_id: i64,
        incs: &[(&incidents::Model, bool)],
        told: &HashSet<(i64, i64, String)>,
        now: i64,
    ) -> Vec<NoticeDraft> {
        let views: Vec<IncidentView> = incs
            .iter()
            .map(|(i, degraded_opt_in)| IncidentView {
                id: i.id,
                confirmed_at: i.confirmed_at,
                resolved_at: i.resolved_at,
                relapse_count: i.relapse_count,
                last_relapse_at: i.last_relapse_at,
                told_to_merchant: i.severity == "down" || *degraded_opt_in,
            })
            .collect();
        let by_id: HashMap<i64, &incidents::Model> = incs.iter().map(|(i, _)| (i.id, *i)).collect();
        let was_told = |id: i64, key: &str| told.contains(&(merchant_id, id, key.to_string()));
        outage_event::due_notices(&views, was_told, &self.cfg.event_policy(), now)
            .into_iter()
            .map(|due| {
                let (ids, keys): (Vec<i64>, Vec<String>) = due.incidents.into_iter().unzip();
                NoticeDraft {
                    merchant_id,
                    kind: due.kind,
                    incidents: ids
                        .iter()
                        .filter_map(|id| by_id.get(id))
                        .map(|i| (*i).clone())
                        .collect(),
                    keys,
                    still_down: due
                        .still_down
                        .iter()
                        .filter_map(|id| by_id.get(id))
                        .map(|i| (*i).clone())
                        .collect(),
                }
            })
            .collect()
    }

    pub fn config(&self) -> &PlannerConfig {
        &self.cfg
    }
}

fn priority(d: &NoticeDraft, deps: &HashMap<i64, dependencies::Model>) -> i32 {
    let urgent = d.incidents.iter().any(|i| {
        deps.get(&i.dependency_id)
            .is_some_and(|dep| matches!(dep.category.as_str(), "messenger" | "payment" | "network"))
    });
    match (d.kind, urgent) {
        (k, _) if k.is_back() => 2,
        (_, true) => 0,
        _ => 1,
    }
}

//! The notification planner: a reconciler from incidents to notices.
//!
//! Each pass looks at open and recently resolved incidents and every subscribed merchant, and
//! writes the notices that are due (down, follow-up, relapse, recovery) with their first
//! messages into the outbox, many notices per transaction (a small first batch, so the
//! dispatchers can start while the rest is written). It is idempotent: the database's
//! unique key on (merchant, incident, kind) makes a second notice impossible, whatever
//! restarts or replicas happen; a merchant imported or subscribed while an incident is open
//! simply gets its down notice on the next pass.
use crate::text;
use crate::webhook_notice::WebhookNotice;
use meoktong_domain::grouping::{group_window_closes, partition_for_notice};
use meoktong_domain::message::NoticeKind;
use meoktong_storage::contacts::{self, Contact};
use meoktong_storage::entity::{
    dependencies, incidents, merchants, notices, outbox as outbox_entity, subscriptions,
};
use meoktong_storage::outbox::{self, NewMessage, NewNotice};
use meoktong_storage::sea_orm::{
    ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter, TransactionTrait,
};
use meoktong_storage::{Crypto, Db, StorageError, audit, catalog, sql, webhooks};
use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;
use std::time::Duration;

/// Everything the planner needs from the settings.
#[derive(Debug, Clone)]
pub struct PlannerConfig {
    pub group_window: Duration,
    pub reopen_window: Duration,
    pub ack_timeout: Duration,
    pub sms_queue_budget: Duration,
    pub alert_link_ttl: Duration,
    pub public_url: String,
    pub default_locale: String,
    pub time_zone: chrono_tz::Tz,
    pub platform_domains: BTreeMap<String, Vec<String>>,
    /// Messages a second of the first SMS provider (0 = unlimited).
    pub sms_rate_per_second: u32,
    pub sms_validity: Duration,
    /// Whether an email channel exists.
    pub email_enabled: bool,
    /// Whether any SMS provider exists; without one a contact's email is due at once
    /// (an SMS row would never be sent, and its email would wait for the queue budget).
    pub sms_enabled: bool,
    /// The platform SMS runs on (`twilio`), so a Twilio outage is not told by SMS.
    pub sms_platform: Option<String>,
}

/// How long a resolved incident stays eligible for recovery notices.
const RECOVERY_LOOKBACK_MS: i64 = 24 * 3600 * 1000;
const EMAIL_VALIDITY_MS: i64 = 3600 * 1000;

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
    crypto: Arc<Crypto>,
    cfg: PlannerConfig,
    /// Woken after each batch of notices is committed (the dispatchers' wake-up).
    written: Option<Arc<tokio::sync::Notify>>,
}

/// Notices in the first transaction of a pass: few, so the first SMS leaves at once.
const FIRST_BATCH: usize = 32;
/// Messages written in a pass before the database's statistics are refreshed (see
/// `outbox::refresh_statistics`), and again each time the count has grown fourfold.
const REFRESH_STATISTICS_FIRST: usize = 5_000;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

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
    about: Vec<Draft>,
    /// Contacts skipped: merchant, position, why.
    skipped: Vec<(i64, i32, String)>,
}

/// What one notice is about.
struct Draft {
    merchant_id: i64,
    kind: NoticeKind,
    incident_kind: String,
    incidents: Vec<incidents::Model>,
}

impl Planner {
    pub fn new(db: Db, crypto: Arc<Crypto>, cfg: PlannerConfig) -> Planner {
        Planner {
            db,
            crypto,
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
        let all = incidents::Entity::find()
            .filter(
                meoktong_storage::sea_orm::Condition::any()
                    .add(incidents::Column::ResolvedAt.is_null())
                    .add(incidents::Column::ResolvedAt.gte(now - RECOVERY_LOOKBACK_MS)),
            )
            .all(&self.db.conn)
            .await?;
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
            let (subs, more) = subscription_page(&self.db, &dep_ids, after, size).await?;
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
    /// and webhooks read with one query each, their texts rendered.
    async fn prepare_batch(
        &self,
        drafts: Vec<Draft>,
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
        let contact_lists = contacts::of_merchants(&self.db, &self.crypto, &ids).await?;
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
            let list = contact_lists.get(&merchant.id).map(Vec::as_slice);
            let books = playbooks.get(&merchant.id).map(Vec::as_slice);
            let (notice, messages, skipped) = self.prepare_notice(
                &draft,
                merchant,
                list.unwrap_or_default(),
                books.unwrap_or_default(),
                deps,
                hooks.get(&merchant.id).map(String::as_str),
                queued_sms,
                now,
            );
            out.skipped.extend(
                skipped
                    .into_iter()
                    .map(|(pos, why)| (merchant.id, pos, why)),
            );
            out.notices.push((notice, messages));
            out.about.push(draft);
        }
        Ok(out)
    }

    /// Writes prepared notices in one transaction, records the contacts skipped, closes what
    /// recoveries close, and wakes the dispatchers.
    async fn write_batch(&self, p: Prepared, now: i64) -> Result<PlanStats, StorageError> {
        let mut stats = PlanStats::default();
        for (merchant_id, pos, why) in &p.skipped {
            self.record_skip(*merchant_id, *pos, why, now).await?;
        }
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
                notice.kind = kind_str(draft.kind),
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

    /// The notices due now for one merchant.
    fn drafts_for(
        &self,
        merchant_id: i64,
        incs: &[(&incidents::Model, bool)],
        told: &HashSet<(i64, i64, String)>,
        now: i64,
    ) -> Vec<Draft> {
        let was_told = |id: i64, kind: &str| told.contains(&(merchant_id, id, kind.to_string()));
        let window = self.cfg.group_window;
        let mut drafts = Vec::new();
        // Down (and degraded for those who opted in), grouped by confirmation time.
        let open: Vec<&incidents::Model> = incs
            .iter()
            .filter(|(i, degraded_opt_in)| {
                i.resolved_at.is_none() && (i.severity == "down" || *degraded_opt_in)
            })
            .map(|(i, _)| *i)
            .collect();
        let already: Vec<i64> = open
            .iter()
            .filter(|i| was_told(i.id, "down"))
            .map(|i| i.id)
            .collect();
        let confirmed: Vec<(i64, i64)> = open.iter().map(|i| (i.id, i.confirmed_at)).collect();
        if let Some(start) = meoktong_domain::grouping::next_window_start(&already, &confirmed)
            && now >= group_window_closes(start, window)
        {
            let (now_ids, _later) = partition_for_notice(&already, &confirmed, start, window);
            let kind = if already.is_empty() {
                NoticeKind::Down
            } else {
                NoticeKind::FollowUp
            };
            let incidents: Vec<incidents::Model> = open
                .iter()
                .filter(|i| now_ids.contains(&i.id))
                .map(|i| (*i).clone())
                .collect();
            if !incidents.is_empty() {
                drafts.push(Draft {
                    merchant_id,
                    kind,
                    incident_kind: "down".into(),
                    incidents,
                });
            }
        }
        // Relapses: at most one notice per reopen window per incident.
        for i in &open {
            if i.relapse_count > 0 && was_told(i.id, "down") {
                let bucket = i.last_relapse_at.unwrap_or(now) / ms(self.cfg.reopen_window).max(1);
                let key = format!("relapse:{bucket}");
                if !was_told(i.id, &key)
                    && now >= group_window_closes(i.last_relapse_at.unwrap_or(now), window)
                {
                    drafts.push(Draft {
                        merchant_id,
                        kind: NoticeKind::Relapse,
                        incident_kind: key,
                        incidents: vec![(*i).clone()],
                    });
                }
            }
        }
        // Recoveries of what the merchant was told about, grouped by recovery time.
        let resolved: Vec<&incidents::Model> = incs
            .iter()
            .map(|(i, _)| *i)
            .filter(|i| i.resolved_at.is_some() && was_told(i.id, "down"))
            .filter(|i| !was_told(i.id, &format!("recovery:{}", i.relapse_count)))
            .collect();
        if let Some(first) = resolved.iter().filter_map(|i| i.resolved_at).min()
            && now >= group_window_closes(first, window)
        {
            let closes = group_window_closes(first, window);
            let group: Vec<incidents::Model> = resolved
                .iter()
                .filter(|i| i.resolved_at.is_some_and(|r| r <= closes))
                .map(|i| (*i).clone())
                .collect();
            // One key per recovery of each incident; a group shares the first's.
            for i in &group {
                drafts.push(Draft {
                    merchant_id,
                    kind: NoticeKind::Recovery,
                    incident_kind: format!("recovery:{}", i.relapse_count),
                    incidents: vec![i.clone()],
                });
            }
            merge_recoveries(&mut drafts, merchant_id);
        }
        drafts
    }

    /// One notice and its first usable contact's messages (and the merchant's webhook, when
    /// `webhook_url_enc` is given), and the contacts skipped.
    #[allow(clippy::too_many_arguments)]
    fn prepare_notice(
        &self,
        draft: &Draft,
        merchant: &merchants::Model,
        contacts: &[Contact],
        playbooks: &[meoktong_storage::entity::playbooks::Model],
        deps: &HashMap<i64, dependencies::Model>,
        webhook_url_enc: Option<&str>,
        queued_sms: &mut i64,
        now: i64,
    ) -> (NewNotice, Vec<NewMessage>, Vec<(i32, String)>) {
        let failed_platforms: Vec<String> = draft
            .incidents
            .iter()
            .filter_map(|i| deps.get(&i.dependency_id).and_then(|d| d.platform.clone()))
            .collect();
        let token = outbox::new_link_token(now);
        let ctx = text::NoticeContext::new(
            &self.cfg,
            merchant,
            &draft.incidents,
            deps,
            draft.kind,
            &token,
            now,
        );
        let since = ctx.since;
        let (link, tz) = (ctx.input.link.clone(), ctx.input.tz);
        let rendered = ctx.render(playbooks);
        let mut ids: Vec<i64> = draft.incidents.iter().map(|i| i.id).collect();
        ids.sort_unstable();
        let dedupe = format!(
            "{}:{}:{}:{}",
            draft.incident_kind,
            merchant.id,
            ids.iter().map(i64::to_string).collect::<Vec<_>>().join("-"),
            kind_str(draft.kind)
        );
        let (position, mut messages, skipped) = self.messages_for_first_usable(
            contacts,
            &failed_platforms,
            &rendered,
            &dedupe,
            0,
            queued_sms,
            now,
        );
        if let Some(url_enc) = webhook_url_enc {
            let hook = WebhookNotice {
                kind: draft.kind,
                merchant_id: merchant.id,
                incidents: &draft.incidents,
                deps,
                link: &link,
                text: &rendered.sms,
                tz,
                dedupe: &dedupe,
            };
            messages.push(hook.message(url_enc, position.unwrap_or(0), rendered.priority, now));
        }
        let wants_ack = matches!(
            draft.kind,
            NoticeKind::Down | NoticeKind::FollowUp | NoticeKind::Relapse
        );
        let notice = NewNotice {
            merchant_id: merchant.id,
            kind: kind_str(draft.kind).to_string(),
            dedupe_key: dedupe,
            dependency_ids: draft.incidents.iter().map(|i| i.dependency_id).collect(),
            incident_ids: ids,
            incident_kind: draft.incident_kind.clone(),
            since,
            link: outbox::LinkKey::of(&self.crypto, &token),
            token_expires_at: now + ms(self.cfg.alert_link_ttl),
            escalate_at: (wants_ack && position.is_some())
                .then_some(now + ms(self.cfg.ack_timeout)),
            status: if wants_ack { "open" } else { "closed" }.to_string(),
            now,
        };
        (notice, messages, skipped)
    }

    /// The messages for the first contact (from `start`) that has a channel independent of
    /// the failed platforms, and the contacts skipped on the way.
    #[allow(clippy::too_many_arguments)]
    pub fn messages_for_first_usable(
        &self,
        contacts: &[Contact],
        failed_platforms: &[String],
        rendered: &text::Rendered,
        dedupe: &str,
        start: i32,
        queued_sms: &mut i64,
        now: i64,
    ) -> (Option<i32>, Vec<NewMessage>, Vec<(i32, String)>) {
        let mut skipped = Vec::new();
        for c in contacts.iter().filter(|c| c.position >= start) {
            let sms_ok = self.cfg.sms_enabled
                && c.phone.is_some()
                && !c.sms_opted_out
                && !self
                    .cfg
                    .sms_platform
                    .as_ref()
                    .is_some_and(|p| failed_platforms.contains(p));
            let email_ok = self.cfg.email_enabled
                && c.email.is_some()
                && !c
                    .email_platform
                    .as_ref()
                    .is_some_and(|p| failed_platforms.contains(p));
            if !sms_ok && !email_ok {
                skipped.push((c.position, skip_reason(c, failed_platforms)));
                continue;
            }
            let mut out = Vec::new();
            let mut email_now = !sms_ok;
            if let (true, Some(phone)) = (sms_ok, &c.phone) {
                // Its place in the provider's queue, divided by the rate: too late → email too.
                *queued_sms += 1;
                if self.cfg.sms_rate_per_second > 0 {
                    let wait_ms = *queued_sms * 1000 / i64::from(self.cfg.sms_rate_per_second);
                    email_now = wait_ms > ms(self.cfg.sms_queue_budget);
                }
                out.push(NewMessage {
                    channel: "sms".into(),
                    contact_id: Some(c.id),
                    contact_position: c.position,
                    recipient_enc: self.crypto.encrypt(phone),
                    subject: None,
                    body: rendered.sms.clone(),
                    html: None,
                    priority: rendered.priority,
                    state: "pending".into(),
                    next_attempt_at: now,
                    expires_at: now + ms(self.cfg.sms_validity),
                    dedupe_key: format!("{dedupe}:{}:sms", c.position),
                });
            }
            if let (true, Some(email)) = (email_ok, &c.email) {
                // A waiting fallback is written unrendered (no subject): most are never sent,
                // and their text and HTML were most of a fan-out's bytes. The dispatcher
                // renders one when it becomes due (`Planner::render_email`).
                let (subject, body, html) = if email_now {
                    let e = rendered.email();
                    (Some(e.subject), e.text, Some(e.html))
                } else {
                    (None, String::new(), None)
                };
                out.push(NewMessage {
                    channel: "email".into(),
                    contact_id: Some(c.id),
                    contact_position: c.position,
                    recipient_enc: self.crypto.encrypt(email),
                    subject,
                    body,
                    html,
                    priority: rendered.priority,
                    state: if email_now { "pending" } else { "waiting" }.into(),
                    next_attempt_at: now,
                    expires_at: now + EMAIL_VALIDITY_MS,
                    dedupe_key: format!("{dedupe}:{}:email", c.position),
                });
            }
            return (Some(c.position), out, skipped);
        }
        (None, Vec::new(), skipped)
    }

    async fn record_skip(
        &self,
        merchant_id: i64,
        position: i32,
        why: &str,
        now: i64,
    ) -> Result<(), StorageError> {
        tracing::warn!(
            merchant.id = merchant_id,
            contact.position = position,
            reason = why,
            "contact skipped"
        );
        audit::record(
            &self.db.conn,
            now,
            audit::AuditEntry {
                actor_user_id: None,
                actor: "planner",
                action: "notice.contact_skipped",
                target_type: "merchant",
                target_id: Some(merchant_id),
                detail: serde_json::json!({"position": position, "reason": why}),
            },
        )
        .await
    }

    /// The notice's texts as the planner rendered them when it was written (same kind,
    /// incidents, playbook and time), with the alert link the first contact got. `None` when
    /// the merchant or the incidents no longer exist.
    pub async fn render_again(
        &self,
        notice: &notices::Model,
        sent: &[outbox_entity::Model],
    ) -> Result<Option<text::Rendered>, StorageError> {
        let Some(kind) = notice_kind(&notice.kind) else {
            return Ok(None);
        };
        let Some(merchant) = contacts::merchant(&self.db, notice.merchant_id).await? else {
            return Ok(None);
        };
        let incident_ids: Vec<i64> = serde_json::from_str(&notice.incident_ids).unwrap_or_default();
        let incs = incidents::Entity::find()
            .filter(incidents::Column::Id.is_in(incident_ids))
            .all(&self.db.conn)
            .await?;
        if incs.is_empty() {
            return Ok(None);
        }
        let dep_ids: Vec<i64> = incs.iter().map(|i| i.dependency_id).collect();
        let deps = dependencies_by_ids(&self.db, &dep_ids).await?;
        let cfg = &self.cfg;
        let token = match self.link_token(notice, sent) {
            Some(t) => t,
            None => {
                // Never expected (every message carries the link): a fresh link for the
                // next contact is better than a dead one.
                let t = outbox::new_link_token(notice.created_at);
                outbox::set_link_token(&self.db, &self.crypto, notice.id, &t).await?;
                tracing::warn!(
                    notice.id = notice.id,
                    "alert link not found in the sent messages; a new one is made"
                );
                t
            }
        };
        let ctx = text::NoticeContext::new(
            cfg,
            &merchant,
            &incs,
            &deps,
            kind,
            &token,
            notice.created_at,
        );
        let playbooks = contacts::playbooks(&self.db, merchant.id).await?;
        Ok(Some(ctx.render(&playbooks)))
    }

    /// The alert link's token, read back from a message already rendered for the notice
    /// (only its keyed hash is stored) and checked against that hash.
    fn link_token(&self, notice: &notices::Model, sent: &[outbox_entity::Model]) -> Option<String> {
        let prefix = format!("{}/a/", self.cfg.public_url.trim_end_matches('/'));
        sent.iter()
            .flat_map(|m| [Some(&m.body), m.html.as_ref()])
            .flatten()
            .flat_map(|text| {
                text.match_indices(&prefix)
                    .map(|(at, _)| &text[at + prefix.len()..])
            })
            .map(|rest| {
                rest.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                    .collect::<String>()
            })
            .find(|t| !t.is_empty() && self.crypto.lookup_hashes(t).contains(&notice.token_hash))
    }

    /// The subject, text and HTML of an email fallback written unrendered (see
    /// `messages_for_first_usable`), as the notice's other messages were rendered, with the
    /// same alert link. `None` when the notice, its merchant or its incidents are gone.
    pub async fn render_email(
        &self,
        row: &outbox_entity::Model,
    ) -> Result<Option<text::EmailTexts>, StorageError> {
        let Some(notice) = outbox::notice(&self.db, row.notice_id).await? else {
            return Ok(None);
        };
        let sent = outbox::messages_of_notice(&self.db, notice.id).await?;
        Ok(self.render_again(&notice, &sent).await?.map(|r| r.email()))
    }

    pub fn config(&self) -> &PlannerConfig {
        &self.cfg
    }
}

/// About `rows` subscriptions to `dep_ids` of the merchants after `after`, in merchant order,
/// with every subscription of each merchant returned (a merchant is never split across
/// pages), and whether more may follow.
async fn subscription_page(
    db: &Db,
    dep_ids: &[i64],
    after: i64,
    rows: usize,
) -> Result<(Vec<subscriptions::Model>, bool), StorageError> {
    // A merchant has one subscription per dependency at most, so a page longer than the
    // dependencies always holds one whole merchant.
    let limit = rows.max(dep_ids.len() + 1);
    // `+dependency_id`: not an index term, so SQLite (which has no statistics) walks
    // ux_subscriptions (merchant_id, dependency_id) in ORDER BY order from `after` and stops
    // at the LIMIT, rather than reading every subscription of the dependency and sorting them
    // for every page.
    let ids = dep_ids
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let q = format!(
        "SELECT * FROM subscriptions WHERE merchant_id > $1 AND +dependency_id IN ({ids}) \
         ORDER BY merchant_id, dependency_id LIMIT $2"
    );
    let st = sql::stmt(db, &q, vec![after.into(), (limit as i64).into()]);
    let mut subs = if db.backend == meoktong_storage::Backend::Postgres {
        // PostgreSQL's estimate for the `+dependency_id` filter is a guess (0.5 %), so it
        // read every remaining subscription and sorted them for each page (20–40 ms a page at
        // 100,000). Sorting is made the last resort for this query: it walks the index.
        let txn = db.conn.begin().await?;
        txn.execute_unprepared("SET LOCAL enable_sort = off")
            .await?;
        let subs = subscriptions::Model::find_by_statement(st)
            .all(&txn)
            .await?;
        txn.commit().await?;
        subs
    } else {
        subscriptions::Model::find_by_statement(st)
            .all(&db.conn)
            .await?
    };
    let more = subs.len() == limit;
    if more && let Some(last) = subs.last().map(|s| s.merchant_id) {
        // The last merchant's subscriptions may continue on the next page: leave them to it.
        subs.retain(|s| s.merchant_id != last);
    }
    Ok((subs, more))
}

fn skip_reason(c: &Contact, failed: &[String]) -> String {
    if c.phone.is_none() && c.email.is_none() {
        return "no mobile number and no email".into();
    }
    if c.email_platform
        .as_ref()
        .is_some_and(|p| failed.contains(p))
    {
        return format!(
            "email runs on the failed platform ({})",
            c.email_platform.clone().unwrap_or_default()
        );
    }
    if c.sms_opted_out {
        return "SMS opted out (STOP) and no independent email".into();
    }
    "no deliverable channel".into()
}

/// Recovery drafts of one merchant become one notice listing them all.
fn merge_recoveries(drafts: &mut Vec<Draft>, merchant_id: i64) {
    let (mut rec, rest): (Vec<Draft>, Vec<Draft>) = drafts
        .drain(..)
        .partition(|d| d.merchant_id == merchant_id && d.kind == NoticeKind::Recovery);
    *drafts = rest;
    if rec.is_empty() {
        return;
    }
    // Incidents sharing the per-incident key (`recovery:N`) share one notice.
    rec.sort_by_key(|d| d.incident_kind.clone());
    let mut grouped: Vec<Draft> = Vec::new();
    for d in rec {
        match grouped.last_mut() {
            Some(g) if g.incident_kind == d.incident_kind => g.incidents.extend(d.incidents),
            _ => grouped.push(d),
        }
    }
    drafts.extend(grouped);
}

fn priority(d: &Draft, deps: &HashMap<i64, dependencies::Model>) -> i32 {
    let urgent = d.incidents.iter().any(|i| {
        deps.get(&i.dependency_id)
            .is_some_and(|dep| matches!(dep.category.as_str(), "messenger" | "payment" | "network"))
    });
    match (d.kind, urgent) {
        (NoticeKind::Recovery, _) => 2,
        (_, true) => 0,
        _ => 1,
    }
}

pub fn kind_str(k: NoticeKind) -> &'static str {
    match k {
        NoticeKind::Down => "down",
        NoticeKind::Relapse => "relapse",
        NoticeKind::FollowUp => "followup",
        NoticeKind::Recovery => "recovery",
        NoticeKind::Test => "test",
        NoticeKind::StoreOffline => "store_offline",
        NoticeKind::StoreBack => "store_back",
    }
}

pub(crate) fn notice_kind(kind: &str) -> Option<NoticeKind> {
    Some(match kind {
        "down" => NoticeKind::Down,
        "followup" => NoticeKind::FollowUp,
        "relapse" => NoticeKind::Relapse,
        "recovery" => NoticeKind::Recovery,
        "test" => NoticeKind::Test,
        "store_offline" => NoticeKind::StoreOffline,
        "store_back" => NoticeKind::StoreBack,
        _ => return None,
    })
}

pub(crate) async fn dependencies_by_ids(
    db: &Db,
    ids: &[i64],
) -> Result<HashMap<i64, dependencies::Model>, StorageError> {
    Ok(dependencies::Entity::find()
        .filter(dependencies::Column::Id.is_in(ids.to_vec()))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|d| (d.id, d))
        .collect())
}

//! The dispatcher: claims due outbox rows and sends them, never losing one.
//!
//! Claims expire (`lease`), so rows held by a process that died are taken over; a row the
//! provider accepted is marked before anything else happens to it, so the only possible
//! duplicate is a request in flight when the process died (at most `concurrency` of them: a
//! request keeps its place until its acceptance is committed). While sending continuously,
//! acceptances are committed together by one recorder task (a group commit every few
//! milliseconds) instead of two writes per message from every request; a status callback
//! that beats that commit is kept and applied right after it (`delivery_status`).
//! Transient failures retry with exponential backoff and jitter until the message's validity
//! runs out; permanent ones send the contact's email at once. SMS providers are used in
//! order: one that has failed transiently for `failover_after` hands new messages to the next
//! and is tried again every 30 s; one that refuses our account (a configuration error such as
//! Twilio 20003) hands over at once, and the refused message goes to the next provider.
//! Webhooks (when configured with [`Dispatcher::with_webhooks`]) are sent with the merchant's
//! current URL and secret, retried the same way, and never make a contact's email unnecessary.
//!
//! A provider that takes many messages per request ([`SmsProvider::batch_size`] > 1, Solapi)
//! gets batches: while it is the provider in use, SMS rows are claimed up to a batch at once
//! (whatever is due, never waiting to fill one) and sent in one request holding one place;
//! each message's outcome is recorded on its own (a batch may partly fail). The crash bound
//! becomes the batches in flight: at most `concurrency × batch_size` messages.
//!
//! Rate budgets and provider health live in [`ProviderBudget`]: shared by every replica
//! through PostgreSQL, in memory on SQLite.
use crate::compose::Composer;
use crate::provider_budget::ProviderBudget;
use crate::providers::{
    BatchItem, CallRequest, EmailMessage, EmailProvider, ProviderError, SmsAccepted, SmsProvider,
    SmsRequest, TwilioVoice, WebhookSender,
};
use meoktong_metrics::Metrics;
use meoktong_storage::entity::outbox as outbox_entity;
use meoktong_storage::outbox::{Channel, MessageState};
use meoktong_storage::{Crypto, Db, StorageError, outbox, webhooks};
use std::sync::Arc;
use std::time::Duration;

/// One SMS provider with its rate (its budget and health are kept by [`ProviderBudget`]).
pub struct SmsRoute {
    pub provider: Arc<dyn SmsProvider>,
    rate_per_second: u32,
}

impl SmsRoute {
    /// `rate_per_second = 0` means unlimited.
    pub fn new(provider: Arc<dyn SmsProvider>, rate_per_second: u32) -> SmsRoute {
        SmsRoute {
            provider,
            rate_per_second,
        }
    }
}

/// A message its provider took, waiting to be marked `accepted`.
struct Accepted {
    row: outbox_entity::Model,
    mark: outbox::AcceptedMark,
}

/// Where sending tasks hand their acceptances while the dispatcher runs continuously; each
/// waits for its acceptance to be committed before giving its place back.
type RecordQueue = tokio::sync::mpsc::UnboundedSender<(
    Accepted,
    tokio::sync::oneshot::Sender<Result<(), String>>,
)>;

/// Acceptances committed together at most.
const RECORD_BATCH: usize = 512;

#[derive(Debug, Clone)]
pub struct DispatcherConfig {
    /// This process's name in claims.
    pub holder: String,
    pub lease: Duration,
    pub concurrency: usize,
    /// `{public_url}/hooks/twilio/status`.
    pub status_callback: Option<String>,
    pub failover_after: Duration,
    pub retry_first_every: Duration,
}

impl Default for DispatcherConfig {
    fn default() -> Self {
        DispatcherConfig {
            holder: "meoktong".into(),
            lease: Duration::from_secs(60),
            concurrency: 32,
            status_callback: None,
            failover_after: Duration::from_secs(30),
            retry_first_every: Duration::from_secs(30),
        }
    }
}

pub struct Dispatcher {
    db: Db,
    crypto: Arc<Crypto>,
    metrics: Metrics,
    sms: Vec<SmsRoute>,
    /// `sms{index}:{name}` of each route: its row in the shared budget and health.
    sms_keys: Vec<String>,
    budget: ProviderBudget,
    email: Option<Arc<dyn EmailProvider>>,
    webhook: Option<WebhookSender>,
    /// Alert calls and their status callback URL (`[voice]`).
    voice: Option<(Arc<TwilioVoice>, String)>,
    /// Renders email fallbacks written unrendered (see [`Dispatcher::with_renderer`]).
    renderer: Option<Arc<Composer>>,
    cfg: DispatcherConfig,
}

/// The first error of many outcomes, after all of them ran.
fn first_error(results: Vec<Result<(), StorageError>>) -> Result<(), StorageError> {
    results.into_iter().collect()
}

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

/// Exponential backoff with jitter: `base × 2^(attempt-1)`, capped, ±20 %.
pub fn backoff(attempt: i32, base: Duration, cap: Duration) -> Duration {
    let exp = 2u32.saturating_pow(u32::try_from(attempt.max(1) - 1).unwrap_or(0).min(20));
    let raw = base.saturating_mul(exp).min(cap);
    let jitter = rand::random::<f64>() * 0.4 + 0.8;
    raw.mul_f64(jitter)
}

/// How long an email is retried once it is due (README, "Contacts": "for up to one hour").
const EMAIL_RETRY_WINDOW_MS: i64 = 3600 * 1000;

/// Until when a transient failure is retried. An SMS lasts its validity; an email an hour
/// from when it became due — a fallback email may become due long after it was planned
/// (delivery timeout, validity running out), and must still get its full hour.
fn retry_deadline(row: &outbox_entity::Model) -> i64 {
    match (row.channel.as_str(), row.fallback_at) {
        ("email", Some(due)) => row
            .expires_at
            .max(due.saturating_add(EMAIL_RETRY_WINDOW_MS)),
        _ => row.expires_at,
    }
}

impl Dispatcher {
    pub fn new(
        db: Db,
        crypto: Arc<Crypto>,
        metrics: Metrics,
        sms: Vec<SmsRoute>,
        email: Option<Arc<dyn EmailProvider>>,
        cfg: DispatcherConfig,
    ) -> Dispatcher {
        let sms_keys = sms
            .iter()
            .enumerate()
            .map(|(i, r)| format!("sms{i}:{}", r.provider.name()))
            .collect();
        let budget = ProviderBudget::for_db(&db);
        Dispatcher {
            db,
            crypto,
            metrics,
            sms,
            sms_keys,
            budget,
            email,
            webhook: None,
            voice: None,
            renderer: None,
            cfg,
        }
    }

    /// Renders the email fallbacks the planner wrote unrendered, when they become due.
    pub fn with_renderer(mut self, composer: Arc<Composer>) -> Dispatcher {
        self.renderer = Some(composer);
        self
    }

    /// Sends the `webhook` channel too, with `sender` (production: [`WebhookSender::guarded`]).
    pub fn with_webhooks(mut self, sender: WebhookSender) -> Dispatcher {
        self.webhook = Some(sender);
        self
    }

    /// Places the `voice` channel's calls with `voice`, reporting to `status_callback`
    /// (`{public_url}/hooks/twilio/voice/status`).
    pub fn with_voice(mut self, voice: Arc<TwilioVoice>, status_callback: String) -> Dispatcher {
        self.voice = Some((voice, status_callback));
        self
    }

    fn channels(&self) -> Vec<Channel> {
        let mut c = Vec::new();
        if !self.sms.is_empty() {
            c.push(Channel::Sms);
        }
        if self.email.is_some() {
            c.push(Channel::Email);
        }
        if self.webhook.is_some() {
            c.push(Channel::Webhook);
        }
        if self.voice.is_some() {
            c.push(Channel::Voice);
        }
        c
    }

    /// Claims and sends one batch. Returns how many rows it handled.
    pub async fn run_once(&self, now: i64) -> Result<usize, StorageError> {
        let mut channels = self.channels();
        if channels.is_empty() {
            return Ok(0);
        }
        let mut batched = 0;
        if let Some(size) = self.batch_size_now().await {
            channels.retain(|c| *c != Channel::Sms);
            let rows = self.claim_sms_batch(now, size, true).await?;
            batched = rows.len();
            if !rows.is_empty()
                && let Err(e) = self.send_sms_rows(rows, None).await
            {
                tracing::error!(error = %e, "dispatch failed to record a result; the claim will expire and the row be retried");
            }
        }
        if channels.is_empty() {
            return Ok(batched);
        }
        let rows = outbox::claim_due(
            &self.db,
            &self.cfg.holder,
            now,
            ms(self.cfg.lease),
            self.cfg.concurrency as u64,
            &channels,
            true,
        )
        .await?;
        let n = rows.len() + batched;
        let results =
            futures::future::join_all(rows.into_iter().map(|row| self.send(row, None))).await;
        for r in results {
            if let Err(e) = r {
                tracing::error!(error = %e, "dispatch failed to record a result; the claim will expire and the row be retried");
            }
        }
        Ok(n)
    }

    /// Sends continuously until `stop`: claims only as many rows as there are free places
    /// (`concurrency`), so a hanging request holds one place, never a whole batch. On stop it
    /// waits for the requests in flight (bounded by the caller's grace period).
    pub async fn run_until_stopped(
        self: Arc<Self>,
        wake: Arc<tokio::sync::Notify>,
        stop: tokio_util::sync::CancellationToken,
    ) {
        let concurrency = self.cfg.concurrency.max(1);
        let places = Arc::new(tokio::sync::Semaphore::new(concurrency));
        let channels = self.channels();
        let (queue, pending) = tokio::sync::mpsc::unbounded_channel();
        let recorder = tokio::spawn(self.clone().record_loop(pending));
        // While requests are in flight, claim only once a quarter of the places are free: a
        // claim is a write transaction, and one per finished request made it the bottleneck.
        let claim_at_least = (concurrency / 4).max(1);
        let mut expired_looked_at: Option<i64> = None;
        while !stop.is_cancelled() && !channels.is_empty() {
            let free = places.available_permits();
            if free < claim_at_least {
                // Until that many places are free at once (then given back at once).
                tokio::select! {
                    _ = stop.cancelled() => break,
                    p = places.clone().acquire_many_owned(claim_at_least as u32) => drop(p),
                }
                continue;
            }
            // Listen before claiming: a batch committed while the claim runs still wakes us.
            let woken = wake.notified();
            tokio::pin!(woken);
            woken.as_mut().enable();
            let now = meoktong_storage::now_ms();
            // Claims other processes left to expire are looked for once a second, not on
            // every claim (each look is a write statement of its own).
            let expired_too = expired_looked_at.is_none_or(|at| now - at >= 1000);
            if expired_too {
                expired_looked_at = Some(now);
            }
            // A batching provider in use: one batch of SMS rows, for one place.
            let mut claim_channels = channels.clone();
            let mut batched = 0;
            if let Some(size) = self.batch_size_now().await {
                claim_channels.retain(|c| *c != Channel::Sms);
                match self.claim_sms_batch(now, size, expired_too).await {
                    Ok(rows) if !rows.is_empty() => {
                        batched = rows.len();
                        let Ok(place) = places.clone().acquire_owned().await else {
                            break;
                        };
                        let me = self.clone();
                        let queue = queue.clone();
                        tokio::spawn(async move {
                            if let Err(e) = me.send_sms_rows(rows, Some(&queue)).await {
                                tracing::error!(error = %e, "dispatch failed to record a result; the claims will expire and the rows be retried");
                            }
                            drop(place);
                        });
                    }
                    Ok(_) => {}
                    Err(e) => tracing::error!(error = %e, "cannot claim outbox rows; will retry"),
                }
            }
            let free = places.available_permits();
            let claimed = if claim_channels.is_empty() || free == 0 {
                Ok(Vec::new())
            } else {
                self.claim_shared(now, free, &claim_channels, expired_too)
                    .await
            };
            let rows = match claimed {
                Ok(rows) => rows,
                Err(e) => {
                    tracing::error!(error = %e, "cannot claim outbox rows; will retry");
                    Vec::new()
                }
            };
            if rows.is_empty() {
                if batched > 0 {
                    // More may be due at once: claim again without waiting.
                    continue;
                }
                tokio::select! {
                    _ = stop.cancelled() => break,
                    _ = &mut woken => {}
                    _ = tokio::time::sleep(Duration::from_millis(250)) => {}
                }
                continue;
            }
            for row in rows {
                let Ok(place) = places.clone().acquire_owned().await else {
                    break;
                };
                let me = self.clone();
                let queue = queue.clone();
                tokio::spawn(async move {
                    if let Err(e) = me.send(row, Some(&queue)).await {
                        tracing::error!(error = %e, "dispatch failed to record a result; the claim will expire and the row be retried");
                    }
                    drop(place);
                });
            }
        }
        // Finish what was claimed: every place back means every request in flight ended.
        let _ = places
            .acquire_many(self.cfg.concurrency.max(1) as u32)
            .await;
        drop(queue);
        let _ = recorder.await;
    }

    /// Commits the acceptances handed over by sending tasks, many per transaction.
    async fn record_loop(
        self: Arc<Self>,
        mut pending: tokio::sync::mpsc::UnboundedReceiver<(
            Accepted,
            tokio::sync::oneshot::Sender<Result<(), String>>,
        )>,
    ) {
        let mut buf = Vec::new();
        while pending.recv_many(&mut buf, RECORD_BATCH).await > 0 {
            let (items, acks): (Vec<_>, Vec<_>) = buf.drain(..).unzip();
            let marks: Vec<outbox::AcceptedMark> = items.iter().map(|a| a.mark.clone()).collect();
            let committed = outbox::record_accepted(&self.db, &marks).await;
            let result = committed.as_ref().map(|_| ()).map_err(|e| e.to_string());
            // The places go back as soon as the acceptances are committed; what follows
            // (early callbacks, metrics) does not hold them.
            for ack in acks {
                let _ = ack.send(result.clone());
            }
            if committed.is_ok()
                && let Err(e) = self.after_accepted(&items).await
            {
                tracing::error!(error = %e, "applying early callbacks or metrics after an acceptance failed");
            }
        }
    }

    /// Marks messages accepted with their attempts (one transaction), then the metrics and,
    /// for a provider that delivers at once, the delivery.
    async fn record_accepted(&self, items: &[Accepted]) -> Result<(), StorageError> {
        let marks: Vec<outbox::AcceptedMark> = items.iter().map(|a| a.mark.clone()).collect();
        outbox::record_accepted(&self.db, &marks).await?;
        self.after_accepted(items).await
    }

    /// What follows the commit of acceptances: status callbacks that beat it, the metrics,
    /// and the delivery of a provider that delivers at once.
    async fn after_accepted(&self, items: &[Accepted]) -> Result<(), StorageError> {
        // Status callbacks that beat this commit were kept; apply them now.
        let sids: Vec<String> = items
            .iter()
            .filter(|a| a.row.channel == "sms")
            .map(|a| a.mark.provider_message_id.clone())
            .collect();
        if !sids.is_empty() {
            let now = meoktong_storage::now_ms();
            crate::delivery_status::apply_early_callbacks(&self.db, &self.metrics, &sids, now)
                .await?;
        }
        for a in items {
            self.metrics
                .notifications
                .with_label_values(&[a.row.channel.as_str(), "accepted"])
                .inc();
        }
        self.observe_time_to_notify(items).await?;
        for a in items
            .iter()
            .filter(|a| a.mark.status.as_deref() == Some("delivered"))
        {
            // The log provider "delivers" at once and never calls back.
            outbox::mark_delivered(&self.db, a.row.id, a.mark.at).await?;
            // A webhook reaches a machine, not the contact: their email still stands.
            if a.row.channel != "webhook" {
                outbox::cancel_waiting(&self.db, a.row.notice_id, a.row.contact_position).await?;
            }
            self.metrics
                .notifications
                .with_label_values(&[a.row.channel.as_str(), "delivered"])
                .inc();
        }
        Ok(())
    }

    /// Records an acceptance: through the recorder when running continuously (waiting for
    /// the commit), else at once.
    async fn accepted(&self, a: Accepted, queue: Option<&RecordQueue>) -> Result<(), StorageError> {
        let Some(queue) = queue else {
            return self.record_accepted(std::slice::from_ref(&a)).await;
        };
        let (ack, committed) = tokio::sync::oneshot::channel();
        queue
            .send((a, ack))
            .map_err(|_| StorageError::Data("the dispatcher's recorder has stopped".into()))?;
        committed
            .await
            .map_err(|_| StorageError::Data("the dispatcher's recorder has stopped".into()))?
            .map_err(StorageError::Data)
    }

    async fn send(
        &self,
        row: outbox_entity::Model,
        queue: Option<&RecordQueue>,
    ) -> Result<(), StorageError> {
        let recipient = self
            .crypto
            .decrypt(&row.recipient_enc)
            .map_err(StorageError::Crypto)?;
        match Channel::parse(&row.channel) {
            Ok(Channel::Sms) => self.send_sms(row, recipient, queue).await,
            Ok(Channel::Email) => self.send_email(row, recipient, queue).await,
            Ok(Channel::Webhook) => self.send_webhook(row, queue).await,
            Ok(Channel::Voice) => self.send_voice(row, recipient, queue).await,
            Err(e) => {
                outbox::mark_given_up(
                    &self.db,
                    row.id,
                    MessageState::Failed,
                    &format!("no dispatcher: {e}"),
                )
                .await?;
                Ok(())
            }
        }
    }

    /// The provider to use now, by the failover rule; a failing provider ahead of it gets one
    /// try every `retry_first_every` (one replica's turn).
    async fn choose(&self, now: i64) -> usize {
        if let Err(e) = self.budget.ensure(&self.sms_keys).await {
            tracing::warn!(error = %e, "cannot create the shared provider states");
        }
        let failing = self.budget.failing_since(&self.sms_keys, now).await;
        let n = failing.len();
        for (i, since) in failing.iter().enumerate() {
            let healthy = since.is_none_or(|since| now - since < ms(self.cfg.failover_after));
            if healthy || i + 1 == n {
                return i;
            }
            if self
                .budget
                .take_retry_turn(&self.sms_keys[i], now, ms(self.cfg.retry_first_every))
                .await
            {
                return i;
            }
        }
        0
    }

    /// Claims up to `free` due rows of `channels`. SMS wait for their provider's rate while
    /// they hold a place, so when SMS are among them the other channels are claimed first,
    /// for up to half the places: an email that is due (a fallback, or sent at once because
    /// the SMS queue is past `sms_queue_budget`) never waits behind a queue of SMS that a
    /// 100-a-second provider will take an hour to send.
    async fn claim_shared(
        &self,
        now: i64,
        free: usize,
        channels: &[Channel],
        expired_too: bool,
    ) -> Result<Vec<outbox_entity::Model>, StorageError> {
        let (db, holder, lease) = (&self.db, &self.cfg.holder, ms(self.cfg.lease));
        let claim = |limit: usize, channels: Vec<Channel>| async move {
            outbox::claim_due(db, holder, now, lease, limit as u64, &channels, expired_too).await
        };
        let others: Vec<Channel> = channels
            .iter()
            .copied()
            .filter(|c| *c != Channel::Sms)
            .collect();
        if others.len() == channels.len() || others.is_empty() {
            return claim(free, channels.to_vec()).await;
        }
        let mut rows = claim((free / 2).max(1), others).await?;
        let left = free.saturating_sub(rows.len());
        if left > 0 {
            rows.extend(claim(left, vec![Channel::Sms]).await?);
        }
        Ok(rows)
    }

    /// The batch size of the provider in use now, if it batches (no retry turn is taken).
    /// Health is judged on the real clock, as [`Dispatcher::choose`] judges it.
    async fn batch_size_now(&self) -> Option<usize> {
        if self.sms.iter().all(|r| r.provider.batch_size() <= 1) {
            return None;
        }
        let now = meoktong_storage::now_ms();
        let failing = self.budget.failing_since(&self.sms_keys, now).await;
        let n = failing.len();
        let index = failing
            .iter()
            .position(|since| since.is_none_or(|since| now - since < ms(self.cfg.failover_after)))
            .unwrap_or(n.saturating_sub(1));
        let size = self.sms.get(index)?.provider.batch_size();
        (size > 1).then_some(size)
    }

    async fn claim_sms_batch(
        &self,
        now: i64,
        size: usize,
        expired_too: bool,
    ) -> Result<Vec<outbox_entity::Model>, StorageError> {
        outbox::claim_due(
            &self.db,
            &self.cfg.holder,
            now,
            ms(self.cfg.lease),
            size as u64,
            &[Channel::Sms],
            expired_too,
        )
        .await
    }

    async fn report_health(&self, index: usize, ok: bool, now: i64) {
        if let Some(key) = self.sms_keys.get(index) {
            self.budget.report(key, ok, now).await;
        }
    }

    /// Marks a provider failing for `failover_after` already, so the next one takes over now
    /// (it is tried again every `retry_first_every`, like one failing transiently).
    async fn fail_over_now(&self, index: usize, now: i64) {
        if let Some(key) = self.sms_keys.get(index) {
            self.budget
                .fail_over_now(key, now, ms(self.cfg.failover_after))
                .await;
        }
    }

    /// Waits for `messages` of the route's rate budget (shared by all replicas on PostgreSQL).
    async fn wait_for_budget(&self, index: usize, messages: usize) {
        let (Some(route), Some(key)) = (self.sms.get(index), self.sms_keys.get(index)) else {
            return;
        };
        let wait = match self
            .budget
            .reserve(key, route.rate_per_second, messages)
            .await
        {
            Ok(wait) => wait,
            Err(e) => {
                // Without the shared budget, this process keeps to the whole rate on its own.
                tracing::warn!(error = %e, "cannot reserve the shared send budget; pacing alone");
                Duration::from_secs_f64(messages as f64 / f64::from(route.rate_per_second.max(1)))
            }
        };
        if !wait.is_zero() {
            tokio::time::sleep(wait).await;
        }
    }

    /// The request for an SMS row: what is left of its validity, the status callback.
    fn sms_request(&self, row: &outbox_entity::Model, to: String) -> SmsRequest {
        // A retry asks the provider to try only for what is left of the message's validity.
        let left = row.expires_at - meoktong_storage::now_ms();
        let left = Duration::from_millis(u64::try_from(left).unwrap_or(0));
        SmsRequest {
            to,
            body: row.body.clone(),
            status_callback: self.cfg.status_callback.clone(),
            validity: Some(left.max(Duration::from_secs(1))),
        }
    }

    /// Sends claimed SMS rows: in one request when the provider in use batches, else each on
    /// its own (the first through the chosen provider, which may be a failing one's retry).
    async fn send_sms_rows(
        &self,
        rows: Vec<outbox_entity::Model>,
        queue: Option<&RecordQueue>,
    ) -> Result<(), StorageError> {
        let now = meoktong_storage::now_ms();
        let index = self.choose(now).await;
        let Some(route) = self.sms.get(index) else {
            return Ok(());
        };
        let mut items = Vec::with_capacity(rows.len());
        let mut kept = Vec::with_capacity(rows.len());
        for row in rows {
            match self.crypto.decrypt(&row.recipient_enc) {
                Ok(to) => {
                    items.push(BatchItem {
                        reference: row.id,
                        req: self.sms_request(&row, to),
                    });
                    kept.push(row);
                }
                Err(e) => {
                    tracing::error!(outbox.id = row.id, error = %e, "cannot decrypt the recipient; the claim will expire")
                }
            }
        }
        if route.provider.batch_size() <= 1 {
            let sends = kept
                .into_iter()
                .zip(items)
                .enumerate()
                .map(|(i, (row, item))| {
                    self.send_sms_via(row, item.req.to, (i == 0).then_some(index), queue)
                });
            return first_error(futures::future::join_all(sends).await);
        }
        self.wait_for_budget(index, items.len()).await;
        let results = route.provider.send_batch(&items).await;
        let outcomes = kept
            .into_iter()
            .zip(results)
            .map(|(row, result)| self.sms_outcome(row, index, result, queue));
        first_error(futures::future::join_all(outcomes).await)
    }

    async fn send_sms(
        &self,
        row: outbox_entity::Model,
        to: String,
        queue: Option<&RecordQueue>,
    ) -> Result<(), StorageError> {
        self.send_sms_via(row, to, None, queue).await
    }

    /// Sends one SMS through route `index`, or the one the failover rule chooses.
    async fn send_sms_via(
        &self,
        row: outbox_entity::Model,
        to: String,
        index: Option<usize>,
        queue: Option<&RecordQueue>,
    ) -> Result<(), StorageError> {
        let index = match index {
            Some(i) => i,
            None => self.choose(meoktong_storage::now_ms()).await,
        };
        let Some(route) = self.sms.get(index) else {
            return Ok(());
        };
        self.wait_for_budget(index, 1).await;
        let req = self.sms_request(&row, to);
        let result = route.provider.send(&req).await;
        self.sms_outcome(row, index, result, queue).await
    }

    /// Records what route `index` answered for one SMS.
    async fn sms_outcome(
        &self,
        row: outbox_entity::Model,
        index: usize,
        result: Result<SmsAccepted, ProviderError>,
        queue: Option<&RecordQueue>,
    ) -> Result<(), StorageError> {
        let now = meoktong_storage::now_ms();
        let Some(route) = self.sms.get(index) else {
            return Ok(());
        };
        let provider = route.provider.name().to_string();
        match result {
            Ok(accepted) => {
                self.report_health(index, true, now).await;
                let mark = outbox::AcceptedMark {
                    id: row.id,
                    provider_index: index as i32,
                    provider,
                    provider_message_id: accepted.provider_message_id,
                    status: Some(accepted.status),
                    at: now,
                };
                self.accepted(Accepted { row, mark }, queue).await
            }
            Err(e) => {
                // A refused account (20003, 21606, Solapi 1062 …) is this provider failing, not
                // the recipient: it fails over at once, and the message goes to the next
                // provider.
                let refused = e.is_config_error();
                if refused {
                    tracing::error!(outbox.id = row.id, provider = %provider, error = %e, "the provider refused our account or sender; failing over to the next provider now");
                    self.fail_over_now(index, now).await;
                } else {
                    self.report_health(index, e.is_permanent(), now).await;
                }
                let e = if refused && index + 1 < self.sms.len() {
                    ProviderError::transient(
                        e.code().map(str::to_string),
                        format!("account refused, next provider: {}", e.message()),
                        Some(Duration::ZERO),
                    )
                } else {
                    e
                };
                self.failed(
                    &row,
                    &provider,
                    e,
                    now,
                    Duration::from_secs(1),
                    Duration::from_secs(60),
                )
                .await
            }
        }
    }

    async fn send_email(
        &self,
        mut row: outbox_entity::Model,
        to: String,
        queue: Option<&RecordQueue>,
    ) -> Result<(), StorageError> {
        let Some(email) = &self.email else {
            return Ok(());
        };
        if row.subject.is_none() {
            // A fallback the planner wrote unrendered: rendered now, once, and kept.
            let rendered = match &self.renderer {
                Some(composer) => composer.render_email(&row).await?,
                None => None,
            };
            let Some(e) = rendered else {
                tracing::error!(
                    outbox.id = row.id,
                    "cannot render the email (no renderer, or its notice, merchant or incidents are gone)"
                );
                outbox::mark_given_up(
                    &self.db,
                    row.id,
                    MessageState::Failed,
                    "cannot render the email",
                )
                .await?;
                return Ok(());
            };
            outbox::set_email_texts(&self.db, row.id, &e.subject, &e.text, &e.html).await?;
            row.subject = Some(e.subject);
            row.body = e.text;
            row.html = Some(e.html);
        }
        let msg = EmailMessage {
            to,
            subject: row.subject.clone().unwrap_or_default(),
            text: row.body.clone(),
            html: row.html.clone(),
        };
        let result = email.send(&msg).await;
        let now = meoktong_storage::now_ms();
        match result {
            Ok(()) => {
                let mark = outbox::AcceptedMark {
                    id: row.id,
                    provider_index: 0,
                    provider: "smtp".into(),
                    provider_message_id: format!("email-{}", row.id),
                    status: None,
                    at: now,
                };
                self.accepted(Accepted { row, mark }, queue).await
            }
            // Email backs off from 5 s doubling to 5 min, for up to an hour (its validity).
            Err(e) => {
                self.failed(
                    &row,
                    "smtp",
                    e,
                    now,
                    Duration::from_secs(5),
                    Duration::from_secs(300),
                )
                .await
            }
        }
    }

    /// Posts the row's JSON to the merchant's webhook as it is now (a fixed URL or a new
    /// secret applies to retries too); a 2xx is delivered.
    async fn send_webhook(
        &self,
        row: outbox_entity::Model,
        queue: Option<&RecordQueue>,
    ) -> Result<(), StorageError> {
        let Some(sender) = &self.webhook else {
            return Ok(());
        };
        let Some(hook) = webhooks::get(&self.db, &self.crypto, row.merchant_id).await? else {
            outbox::mark_given_up(
                &self.db,
                row.id,
                MessageState::Cancelled,
                "the webhook was removed",
            )
            .await?;
            return Ok(());
        };
        let result = match serde_json::from_str::<serde_json::Value>(&row.body) {
            Ok(payload) => {
                sender
                    .send(&hook.url, hook.secret.as_bytes(), &payload)
                    .await
            }
            Err(e) => Err(ProviderError::permanent(
                None,
                format!("stored payload: {e}"),
            )),
        };
        let now = meoktong_storage::now_ms();
        match result {
            Ok(()) => {
                let mark = outbox::AcceptedMark {
                    id: row.id,
                    provider_index: 0,
                    provider: "webhook".into(),
                    provider_message_id: format!("webhook-{}", row.id),
                    status: Some("delivered".into()),
                    at: now,
                };
                self.accepted(Accepted { row, mark }, queue).await
            }
            // Someone else's server: from 2 s doubling to 5 min, for the row's hour.
            Err(e) => {
                self.failed(
                    &row,
                    "webhook",
                    e,
                    now,
                    Duration::from_secs(2),
                    Duration::from_secs(300),
                )
                .await
            }
        }
    }

    /// Places an alert call with the row's TwiML. Accepted is not answered: the call's status
    /// callback records how it ended, and only the key press acknowledges.
    async fn send_voice(
        &self,
        row: outbox_entity::Model,
        to: String,
        queue: Option<&RecordQueue>,
    ) -> Result<(), StorageError> {
        let Some((voice, status_callback)) = &self.voice else {
            return Ok(());
        };
        let req = CallRequest {
            to,
            twiml: row.body.clone(),
            status_callback: Some(status_callback.clone()),
        };
        let result = voice.call(&req).await;
        let now = meoktong_storage::now_ms();
        match result {
            Ok(accepted) => {
                let mark = outbox::AcceptedMark {
                    id: row.id,
                    provider_index: 0,
                    provider: "twilio-voice".into(),
                    provider_message_id: accepted.provider_message_id,
                    status: None,
                    at: now,
                };
                self.accepted(Accepted { row, mark }, queue).await
            }
            // Until the next contact is tried (the row's expiry): from 2 s doubling to 30 s.
            Err(e) => {
                self.failed(
                    &row,
                    "twilio-voice",
                    e,
                    now,
                    Duration::from_secs(2),
                    Duration::from_secs(30),
                )
                .await
            }
        }
    }

    async fn failed(
        &self,
        row: &outbox_entity::Model,
        provider: &str,
        e: ProviderError,
        now: i64,
        base: Duration,
        cap: Duration,
    ) -> Result<(), StorageError> {
        let channel = row.channel.as_str();
        outbox::record_attempt(
            &self.db,
            row.id,
            provider,
            if e.is_permanent() {
                "permanent_error"
            } else {
                "transient_error"
            },
            e.code(),
            Some(e.message()),
            now,
        )
        .await?;
        if e.is_permanent() {
            tracing::warn!(outbox.id = row.id, channel, error.code = ?e.code(), error = %e.message(), "rejected for good");
            outbox::mark_given_up(&self.db, row.id, MessageState::Failed, e.message()).await?;
            self.metrics
                .notifications
                .with_label_values(&[channel, "failed"])
                .inc();
            if channel == "sms" {
                outbox::activate_fallback(&self.db, row.notice_id, row.contact_position, now)
                    .await?;
            }
            return Ok(());
        }
        let wait = e
            .retry_after()
            .unwrap_or_else(|| backoff(row.attempts, base, cap));
        let next = now + ms(wait);
        if next > retry_deadline(row) {
            tracing::warn!(
                outbox.id = row.id,
                channel,
                "gave up: validity ran out while the provider kept failing"
            );
            outbox::mark_given_up(&self.db, row.id, MessageState::Expired, e.message()).await?;
            self.metrics
                .notifications
                .with_label_values(&[channel, "failed"])
                .inc();
            if channel == "sms" {
                outbox::activate_fallback(&self.db, row.notice_id, row.contact_position, now)
                    .await?;
            }
            return Ok(());
        }
        tracing::info!(outbox.id = row.id, channel, retry_in_ms = ms(wait), error = %e.message(), "transient failure; will retry");
        outbox::mark_retry(&self.db, row.id, next, e.message()).await?;
        self.metrics
            .notifications
            .with_label_values(&[channel, "retried"])
            .inc();
        Ok(())
    }

    async fn observe_time_to_notify(&self, items: &[Accepted]) -> Result<(), StorageError> {
        let mut ids: Vec<i64> = items.iter().map(|a| a.row.notice_id).collect();
        ids.sort_unstable();
        ids.dedup();
        let notices: std::collections::HashMap<i64, _> = outbox::notices_by_ids(&self.db, &ids)
            .await?
            .into_iter()
            .map(|n| (n.id, n))
            .collect();
        // Time to reach a person: a webhook's acceptance is not that.
        for a in items.iter().filter(|a| a.row.channel != "webhook") {
            if let Some(n) = notices.get(&a.row.notice_id)
                && matches!(
                    n.kind.as_str(),
                    "down" | "followup" | "relapse" | "store_offline"
                )
            {
                self.metrics
                    .time_to_notify
                    .observe(((a.mark.at - n.since).max(0)) as f64 / 1000.0);
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn row(
        channel: &str,
        created_at: i64,
        expires_at: i64,
        fallback_at: Option<i64>,
    ) -> outbox_entity::Model {
        outbox_entity::Model {
            id: 1,
            notice_id: 1,
            merchant_id: 1,
            dedupe_key: "k".into(),
            channel: channel.into(),
            contact_id: None,
            contact_position: 0,
            recipient_enc: String::new(),
            subject: None,
            body: String::new(),
            html: None,
            priority: 0,
            state: "sending".into(),
            attempts: 1,
            next_attempt_at: created_at,
            claimed_by: None,
            claim_expires_at: None,
            provider_index: None,
            provider_message_id: None,
            last_error: None,
            created_at,
            expires_at,
            accepted_at: None,
            delivered_at: None,
            fallback_at,
        }
    }

    #[test]
    fn sms_retries_for_its_validity() {
        let r = row("sms", 0, 900_000, Some(60_000));
        assert_eq!(retry_deadline(&r), 900_000);
    }

    #[test]
    fn a_late_fallback_email_still_gets_its_hour() {
        // Planned at 0 (expiring at 1 h), due only at 15 min when the SMS validity ran out.
        let r = row("email", 0, EMAIL_RETRY_WINDOW_MS, Some(900_000));
        assert_eq!(retry_deadline(&r), 900_000 + EMAIL_RETRY_WINDOW_MS);
        let due_at_once = row("email", 0, EMAIL_RETRY_WINDOW_MS, None);
        assert_eq!(retry_deadline(&due_at_once), EMAIL_RETRY_WINDOW_MS);
    }

    #[test]
    fn backoff_doubles_with_jitter_and_caps() {
        let base = Duration::from_secs(5);
        let cap = Duration::from_secs(300);
        for (attempt, nominal) in [(1, 5.0), (2, 10.0), (3, 20.0), (7, 300.0), (40, 300.0)] {
            let got = backoff(attempt, base, cap).as_secs_f64();
            assert!(
                got >= nominal * 0.8 - 1e-9 && got <= nominal * 1.2 + 1e-9,
                "attempt {attempt}: {got}"
            );
        }
    }
}

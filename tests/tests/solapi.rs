//! Solapi end to end: the hub's planner, dispatcher, delivery poller and timers on a real
//! database, real HTTP to the Solapi stand-in (and Twilio's, for failover), a real SMTP server.
//! Notices go in batches as SMS or LMS; a batch may partly fail; Solapi's delivery reports
//! drive the email fallback exactly as Twilio's callbacks do; an unregistered sender hands over
//! to Twilio at once (and a refused Twilio account to Solapi); and two replicas on one
//! PostgreSQL database keep to one shared `rate_per_second`.
mod hub_fixture;

use async_trait::async_trait;
use hub_fixture::{
    C, Hub, MINUTE, PAY, SECOND, SMS_DELIVERY_TIMEOUT, TALK, merchant, ms, twilio_settings,
    twilio_token,
};
use meoktong_config::{Secret, SmsProviderKind, SmsProviderSettings};
use meoktong_metrics::Metrics;
use meoktong_notify::delivery_poll::DeliveryPoller;
use meoktong_notify::dispatcher::{Dispatcher, DispatcherConfig, SmsRoute};
use meoktong_notify::providers::{BatchItem, DeliveryReport};
use meoktong_notify::{ProviderError, SmsAccepted, SmsProvider, SmsRequest, SolapiSms, TwilioSms};
use meoktong_testkit::{Mode, SolapiStandIn, TwilioStandIn};
use meoktong_tests::Backend;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

const KEY: &str = "NCSTESTKEY0001";
const SECRET: &str = "test-api-secret";

fn solapi_provider(stand_in: &SolapiStandIn, batch_size: usize) -> Arc<dyn SmsProvider> {
    let settings = SmsProviderSettings {
        provider: SmsProviderKind::Solapi,
        base_url: stand_in.base_url(),
        from: SolapiStandIn::SENDER.into(),
        batch_size,
        ..SmsProviderSettings::default()
    };
    Arc::new(
        SolapiSms::new(
            &settings,
            Secret::new(KEY),
            Secret::new(SECRET),
            reqwest::Client::new(),
        )
        .expect("solapi settings"),
    )
}

fn twilio_provider(stand_in: &TwilioStandIn) -> Arc<dyn SmsProvider> {
    Arc::new(
        TwilioSms::new(
            &twilio_settings(stand_in.base_url()),
            Secret::new(twilio_token()),
            reqwest::Client::new(),
        )
        .expect("twilio settings"),
    )
}

fn both(p: &'static str, e: &'static str) -> C {
    C {
        phone: Some(p),
        email: Some(e),
        ..C::default()
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notices_go_in_one_batch_and_reports_drive_the_email_fallback() {
    let solapi = SolapiStandIn::start(KEY, SECRET).await;
    // The second merchant's handset is off: the carrier reports 3043.
    solapi.set_report("01060000002", "3043");
    // The third's report never comes: the delivery timeout sends the email.
    solapi.set_report("01060000003", "3000");
    let provider = solapi_provider(&solapi, 100);
    let hub = Hub::with_providers(Vec::new(), vec![provider.clone()]).await;
    let poller =
        DeliveryPoller::new(hub.app.db.clone(), Metrics::new(), &[provider]).expect("polls");
    let delivered = merchant(
        &hub,
        "행복분식",
        &[TALK],
        &[both("+821060000001", "a@example.com")],
    )
    .await;
    let failed = merchant(
        &hub,
        "판교 치킨",
        &[TALK],
        &[both("+821060000002", "b@example.com")],
    )
    .await;
    let silent = merchant(
        &hub,
        "서현 김밥",
        &[TALK],
        &[both("+821060000003", "c@example.com")],
    )
    .await;
    let t0 = hub.t0;
    hub.open(TALK, "down", t0 - SECOND).await;
    hub.plan(t0).await;
    hub.dispatch(t0).await;

    let sends = solapi.send_requests();
    assert_eq!(sends.len(), 1, "one request for the batch: {sends:#?}");
    assert_eq!(sends[0].messages, 3);
    let sent = solapi.messages();
    assert_eq!(sent.len(), 3);
    for m in &sent {
        // A Korean notice with its link passes 90 bytes: an LMS with a short subject.
        assert_eq!(m.kind, "LMS", "{m:#?}");
        assert!(m.bytes > 90 && m.bytes <= 2000);
        let subject = m.subject.as_deref().expect("subject");
        assert!(subject.starts_with("[장애]"), "{subject}");
        assert!(m.text.contains("카카오톡") && m.text.contains(&format!("{}/a/", hub.app.address)));
    }
    for m in [delivered, failed, silent] {
        let sms = hub
            .rows(m)
            .await
            .into_iter()
            .find(|r| r.channel == "sms")
            .expect("sms");
        assert_eq!(sms.state, "accepted");
        assert!(
            sms.provider_message_id
                .as_deref()
                .is_some_and(|id| id.starts_with("M4V"))
        );
    }
    assert!(hub.smtp.received().is_empty());

    let stats = poller.poll_once(t0 + SECOND).await.expect("poll");
    assert_eq!(
        (stats.delivered, stats.failed, stats.fallbacks),
        (1, 1, 1),
        "{stats:?}"
    );
    hub.dispatch(t0 + SECOND).await;
    let mails = hub.mails(1).await;
    assert_eq!(
        mails[0].to,
        vec!["b@example.com".to_string()],
        "the failed SMS's email at once"
    );
    let row = |rows: Vec<meoktong_storage::entity::outbox::Model>, ch: &str| {
        rows.into_iter().find(|r| r.channel == ch).expect("row")
    };
    assert_eq!(row(hub.rows(delivered).await, "sms").state, "delivered");
    assert_eq!(row(hub.rows(delivered).await, "email").state, "cancelled");
    assert_eq!(row(hub.rows(failed).await, "sms").state, "failed");
    // Polling again changes nothing.
    let again = poller.poll_once(t0 + 2 * SECOND).await.expect("poll");
    assert_eq!((again.delivered, again.failed, again.fallbacks), (0, 0, 0));

    // No report within the delivery timeout: the email, as with Twilio.
    let accepted_at = row(hub.rows(silent).await, "sms")
        .accepted_at
        .expect("accepted");
    let due = accepted_at + ms(SMS_DELIVERY_TIMEOUT);
    assert_eq!(hub.sweep(due - 1).await.fallbacks, 0);
    assert_eq!(hub.sweep(due).await.fallbacks, 1);
    hub.dispatch(due).await;
    let mails = hub.mails(2).await;
    assert_eq!(mails[1].to, vec!["c@example.com".to_string()]);
    assert_eq!(
        hub.smtp.received().len(),
        2,
        "the delivered merchant gets no email"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_partly_failed_batch_records_each_message_and_emails_the_refused_one_at_once() {
    let solapi = SolapiStandIn::start(KEY, SECRET).await;
    solapi.refuse_recipient("01070000002", "1060");
    let hub = Hub::with_providers(Vec::new(), vec![solapi_provider(&solapi, 100)]).await;
    let ok = merchant(
        &hub,
        "행복분식",
        &[PAY],
        &[both("+821070000001", "a@example.com")],
    )
    .await;
    let blocked = merchant(
        &hub,
        "판교 치킨",
        &[PAY],
        &[both("+821070000002", "b@example.com")],
    )
    .await;
    // The merchant's own playbook line carries an emoji: replaced, never a refused message.
    meoktong_storage::dashboard::set_playbook(
        &hub.app.db,
        ok,
        "payment",
        "현금 결제 안내 💳 부탁드려요",
        hub.t0,
    )
    .await
    .expect("playbook");
    let t0 = hub.t0;
    hub.open(PAY, "down", t0 - SECOND).await;
    hub.plan(t0).await;
    hub.dispatch(t0).await;
    assert_eq!(solapi.send_requests().len(), 1);
    let sent = solapi.messages();
    assert_eq!(sent.len(), 1);
    assert!(
        sent[0].text.contains("현금 결제 안내 ? 부탁드려요"),
        "{}",
        sent[0].text
    );
    assert_eq!(
        solapi.refused(),
        vec![("01070000002".to_string(), "1060".to_string())]
    );
    let rows = hub.rows(ok).await;
    assert!(
        rows.iter()
            .any(|r| r.channel == "sms" && r.state == "accepted")
    );
    assert!(
        rows.iter()
            .any(|r| r.channel == "email" && r.state == "waiting")
    );
    let rows = hub.rows(blocked).await;
    let sms = rows.iter().find(|r| r.channel == "sms").expect("sms");
    assert_eq!(sms.state, "failed");
    assert!(
        sms.last_error
            .as_deref()
            .is_some_and(|e| e.contains("1060")),
        "{sms:?}"
    );
    hub.dispatch(t0 + SECOND).await;
    let mails = hub.mails(1).await;
    assert_eq!(mails[0].to, vec!["b@example.com".to_string()]);
    assert_eq!(hub.smtp.received().len(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unregistered_sender_hands_over_to_twilio_at_once() {
    let solapi = SolapiStandIn::start(KEY, SECRET).await;
    solapi.set_registered_senders(&["0299990000"]);
    let twilio = TwilioStandIn::start(hub_fixture::ACCOUNT_SID, &twilio_token()).await;
    let providers = vec![solapi_provider(&solapi, 100), twilio_provider(&twilio)];
    let hub = Hub::with_providers(vec![twilio], providers).await;
    let first = merchant(
        &hub,
        "행복분식",
        &[TALK],
        &[both("+821080000001", "a@example.com")],
    )
    .await;
    let t0 = hub.t0;
    hub.open(TALK, "down", t0 - SECOND).await;
    hub.plan(t0).await;
    hub.dispatch(t0).await;
    assert_eq!(
        solapi.refused(),
        vec![("01080000001".to_string(), "1062".to_string())]
    );
    // Put back at once (at the real clock's "now") for the next provider, not after a backoff.
    hub.dispatch(t0 + MINUTE).await;
    let taken_over = hub.twilio[0].messages();
    assert_eq!(taken_over.len(), 1, "{taken_over:#?}");
    assert_eq!(taken_over[0].to, "+821080000001");
    let sms = hub
        .rows(first)
        .await
        .into_iter()
        .find(|r| r.channel == "sms")
        .expect("sms");
    assert_eq!(
        (sms.state.as_str(), sms.provider_index),
        ("accepted", Some(1))
    );
    assert!(
        hub.smtp.received().is_empty(),
        "an SMS went out: no email yet"
    );

    // New messages go straight to Twilio while Solapi refuses our sender.
    let second = merchant(
        &hub,
        "판교 치킨",
        &[PAY],
        &[both("+821080000002", "b@example.com")],
    )
    .await;
    hub.open(PAY, "down", t0 + SECOND).await;
    hub.plan(t0 + 2 * MINUTE).await;
    hub.dispatch(t0 + 2 * MINUTE).await;
    assert_eq!(solapi.send_requests().len(), 1, "not asked again so soon");
    assert_eq!(hub.twilio[0].messages().len(), 2);
    assert!(hub.rows(second).await.iter().any(|r| r.state == "accepted"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_twilio_account_hands_over_to_solapi_at_once() {
    let solapi = SolapiStandIn::start(KEY, SECRET).await;
    let twilio = TwilioStandIn::start(hub_fixture::ACCOUNT_SID, &twilio_token()).await;
    twilio.set_mode(Mode::TwilioError {
        http_status: 401,
        code: 20003,
    });
    let providers = vec![twilio_provider(&twilio), solapi_provider(&solapi, 100)];
    let hub = Hub::with_providers(vec![twilio], providers).await;
    let m = merchant(
        &hub,
        "행복분식",
        &[TALK],
        &[both("+821090000001", "a@example.com")],
    )
    .await;
    let t0 = hub.t0;
    hub.open(TALK, "down", t0 - SECOND).await;
    hub.plan(t0).await;
    hub.dispatch(t0).await;
    hub.dispatch(t0 + MINUTE).await;
    assert_eq!(hub.twilio[0].request_count(), 1);
    let sent = solapi.messages();
    assert_eq!(sent.len(), 1, "Solapi takes over");
    assert_eq!(sent[0].to, "01090000001");
    let sms = hub
        .rows(m)
        .await
        .into_iter()
        .find(|r| r.channel == "sms")
        .expect("sms");
    assert_eq!(
        (sms.state.as_str(), sms.provider_index),
        ("accepted", Some(1))
    );
    assert!(hub.smtp.received().is_empty());
}

/// The real provider, counting the messages this replica handed it.
struct Counted {
    inner: Arc<dyn SmsProvider>,
    messages: AtomicUsize,
}

#[async_trait]
impl SmsProvider for Counted {
    fn name(&self) -> &str {
        self.inner.name()
    }
    async fn send(&self, req: &SmsRequest) -> Result<SmsAccepted, ProviderError> {
        self.messages.fetch_add(1, Ordering::SeqCst);
        self.inner.send(req).await
    }
    fn batch_size(&self) -> usize {
        self.inner.batch_size()
    }
    async fn send_batch(&self, items: &[BatchItem]) -> Vec<Result<SmsAccepted, ProviderError>> {
        self.messages.fetch_add(items.len(), Ordering::SeqCst);
        self.inner.send_batch(items).await
    }
    fn polls_reports(&self) -> bool {
        true
    }
    async fn poll_reports(&self, ids: &[String]) -> Result<Vec<DeliveryReport>, ProviderError> {
        self.inner.poll_reports(ids).await
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_replicas_on_postgresql_share_one_rate_budget() {
    if std::env::var("TEST_DATABASE_URL").map_or(true, |u| !u.starts_with("postgres")) {
        eprintln!("skipped: TEST_DATABASE_URL does not name a PostgreSQL server");
        return;
    }
    const RATE: u32 = 10;
    const BATCH: usize = 4;
    const MERCHANTS: usize = 36;
    let solapi = SolapiStandIn::start(KEY, SECRET).await;
    let hub = Hub::with_providers_on(
        Backend::Postgres,
        Vec::new(),
        vec![solapi_provider(&solapi, BATCH)],
        hub_fixture::LAB_GROUP_WINDOW,
    )
    .await;
    let phones: Vec<&'static str> = (0..MERCHANTS)
        .map(|i| &*Box::leak(format!("+82105000{i:04}").into_boxed_str()))
        .collect();
    for (i, p) in phones.iter().enumerate() {
        merchant(
            &hub,
            &format!("가게 {i}"),
            &[TALK],
            &[C {
                phone: Some(p),
                ..C::default()
            }],
        )
        .await;
    }
    let t0 = hub.t0;
    hub.open(TALK, "down", t0 - SECOND).await;
    hub.plan(t0).await;

    // Two replicas: each its own connection pool, dispatcher and provider client.
    let mut replicas = Vec::new();
    let mut counters = Vec::new();
    for name in ["replica-a", "replica-b"] {
        let db = meoktong_storage::Db::connect(&hub.app.test_db.url, 5)
            .await
            .expect("connect");
        let counted = Arc::new(Counted {
            inner: solapi_provider(&solapi, BATCH),
            messages: AtomicUsize::new(0),
        });
        counters.push(counted.clone());
        let d = Dispatcher::new(
            db,
            hub.app.crypto.clone(),
            Metrics::new(),
            vec![SmsRoute::new(counted, RATE)],
            None,
            DispatcherConfig {
                holder: name.into(),
                concurrency: 4,
                ..DispatcherConfig::default()
            },
        );
        replicas.push(Arc::new(d));
    }
    let stop = tokio_util::sync::CancellationToken::new();
    let wake = Arc::new(tokio::sync::Notify::new());
    let started = Instant::now();
    let handles: Vec<_> = replicas
        .iter()
        .map(|d| tokio::spawn(d.clone().run_until_stopped(wake.clone(), stop.clone())))
        .collect();
    let sent = solapi
        .wait_for_messages(MERCHANTS, Duration::from_secs(60))
        .await
        .unwrap_or_else(|e| panic!("{e}"));
    stop.cancel();
    for h in handles {
        h.await.expect("replica");
    }
    let elapsed = started.elapsed();
    assert_eq!(sent.len(), MERCHANTS, "each message once");
    let mut to: Vec<&str> = sent.iter().map(|m| m.to.as_str()).collect();
    to.sort_unstable();
    to.dedup();
    assert_eq!(to.len(), MERCHANTS, "no duplicates");
    let per_replica: Vec<usize> = counters
        .iter()
        .map(|c| c.messages.load(Ordering::SeqCst))
        .collect();
    assert!(
        per_replica.iter().all(|n| *n > 0),
        "both replicas sent: {per_replica:?}"
    );

    // Within the rate: the messages after the first batch need (n - batch) / rate seconds,
    // and no one-second window holds more than the rate plus a batch on each edge (a batch
    // may arrive a little late, next to one on time).
    let requests = solapi.send_requests();
    let first = requests.first().expect("requests").at;
    let last = requests.last().expect("requests").at;
    let spread = last.duration_since(first).as_secs_f64();
    let minimum = (MERCHANTS - BATCH) as f64 / f64::from(RATE);
    assert!(
        spread >= minimum * 0.9,
        "{MERCHANTS} messages in {spread:.2}s: faster than {RATE}/s shared ({per_replica:?})"
    );
    for r in &requests {
        let window: usize = requests
            .iter()
            .filter(|o| o.at >= r.at && o.at.duration_since(r.at) < Duration::from_secs(1))
            .map(|o| o.messages)
            .sum();
        assert!(
            window <= RATE as usize + 2 * BATCH,
            "{window} messages within one second"
        );
    }
    eprintln!(
        "{MERCHANTS} messages in {spread:.2}s ({elapsed:?} in all), per replica {per_replica:?}"
    );
}

//! The dispatcher against its providers: an SMS account the provider refuses (a
//! configuration error) hands the message to the second `[[sms]]` provider; a status
//! callback that arrives before the acceptance is recorded is not lost; a late send asks
//! Twilio only for the validity left.
mod hub_fixture;
mod support;

use hub_fixture::{ACCOUNT_SID, C, Hub, MINUTE, PAY, SECOND, TALK, merchant, phone, twilio_token};
use meoktong_notify::{ProviderError, SmsAccepted, SmsProvider, SmsRequest};
use meoktong_testkit::Mode;
use meoktong_tests::Backend;
use sea_orm::EntityTrait;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, OnceLock};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_account_hands_the_message_to_the_second_provider() {
    let hub = Hub::with_twilios(2).await;
    // The first account's credentials are refused: 401, Twilio error 20003.
    hub.twilio[0].set_mode(Mode::TwilioError {
        http_status: 401,
        code: 20003,
    });
    let first = merchant(
        &hub,
        "행복분식",
        &[TALK],
        &[C {
            phone: Some("+821040000001"),
            email: Some("owner@example.com"),
            ..C::default()
        }],
    )
    .await;
    let t0 = hub.t0;
    hub.open(TALK, "down", t0 - SECOND).await;
    hub.plan(t0).await;
    hub.dispatch(t0).await;
    // The refused message was put back at once (at the real clock's "now").
    hub.dispatch(t0 + MINUTE).await;

    assert_eq!(
        hub.twilio[0].request_count(),
        1,
        "the refusing account was tried once"
    );
    assert!(hub.twilio[0].messages().is_empty());
    let taken_over = hub.twilio[1].messages();
    assert_eq!(
        taken_over.len(),
        1,
        "the second provider sends it: {taken_over:#?}"
    );
    assert_eq!(taken_over[0].to, "+821040000001");
    let rows = hub.rows(first).await;
    let sms = rows.iter().find(|r| r.channel == "sms").expect("sms");
    assert_eq!(
        (sms.state.as_str(), sms.provider_index),
        ("accepted", Some(1))
    );
    let email = rows.iter().find(|r| r.channel == "email").expect("email");
    assert_eq!(
        email.state, "waiting",
        "an SMS went out: the email waits as usual"
    );

    // New messages go straight to the second while the first refuses us.
    let second = merchant(&hub, "판교 치킨", &[PAY], &[phone("+821040000002")]).await;
    hub.open(PAY, "down", t0 + SECOND).await;
    hub.plan(t0 + 2 * MINUTE).await;
    hub.dispatch(t0 + 2 * MINUTE).await;
    assert_eq!(hub.twilio[0].request_count(), 1, "not tried again so soon");
    assert_eq!(hub.twilio[1].messages().len(), 2);
    assert!(hub.rows(second).await.iter().any(|r| r.state == "accepted"));
    assert!(hub.smtp.received().is_empty());
}

/// Posts a status callback to the app as Twilio does (signed); returns the HTTP status.
async fn post_status(app: &str, sid: &str, status: &str, code: Option<&str>, to: &str) -> u16 {
    let url = format!("{app}/hooks/twilio/status");
    let mut params: Vec<(String, String)> = [
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("MessageStatus", status),
        ("SmsStatus", status),
        ("AccountSid", ACCOUNT_SID),
        ("To", to),
        ("ApiVersion", "2010-04-01"),
    ]
    .iter()
    .map(|(k, v)| (k.to_string(), v.to_string()))
    .collect();
    if let Some(code) = code {
        params.push(("ErrorCode".into(), code.into()));
    }
    let signature = meoktong_notify::twilio_signature(&twilio_token(), &url, &params);
    reqwest::Client::new()
        .post(&url)
        .header("X-Twilio-Signature", signature)
        .form(&params)
        .send()
        .await
        .expect("status callback")
        .status()
        .as_u16()
}

/// Twilio calling back `failed` before answering the create request: the callback is sure
/// to arrive before the dispatcher records the acceptance.
#[derive(Default)]
struct CallsBackFirst {
    app_url: OnceLock<String>,
    calls: AtomicUsize,
}

impl SmsProvider for CallsBackFirst {
    fn name(&self) -> &str {
        "twilio"
    }

    // What `#[async_trait]` would write.
    fn send<'a, 'b, 'f>(
        &'a self,
        req: &'b SmsRequest,
    ) -> Pin<Box<dyn Future<Output = Result<SmsAccepted, ProviderError>> + Send + 'f>>
    where
        'a: 'f,
        'b: 'f,
        Self: 'f,
    {
        Box::pin(async move {
            self.calls.fetch_add(1, Ordering::SeqCst);
            let sid = format!("SM{}", uuid::Uuid::new_v4().simple());
            let app = self.app_url.get().expect("the app's address");
            let url = format!("{app}/hooks/twilio/status");
            assert_eq!(req.status_callback.as_deref(), Some(url.as_str()));
            let answer = post_status(app, &sid, "failed", Some("30006"), &req.to).await;
            assert_eq!(answer, 200, "unknown sids still get 200");
            Ok(SmsAccepted {
                provider_message_id: sid,
                status: "queued".into(),
            })
        })
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_callback_before_the_acceptance_is_recorded_still_sends_the_email() {
    let provider = Arc::new(CallsBackFirst::default());
    let hub = Hub::with_providers(Vec::new(), vec![provider.clone() as Arc<dyn SmsProvider>]).await;
    let _ = provider.app_url.set(hub.app.address.clone());
    let m = merchant(
        &hub,
        "행복분식",
        &[TALK],
        &[C {
            phone: Some("+821040000011"),
            email: Some("owner@example.com"),
            ..C::default()
        }],
    )
    .await;
    let t0 = hub.t0;
    hub.open(TALK, "down", t0 - SECOND).await;
    hub.plan(t0).await;
    hub.dispatch(t0).await;
    assert_eq!(provider.calls.load(Ordering::SeqCst), 1);

    let rows = hub.rows(m).await;
    let sms = rows.iter().find(|r| r.channel == "sms").expect("sms");
    assert_eq!(sms.state, "failed", "the early `failed` was applied");
    assert!(
        sms.last_error.as_deref().unwrap_or("").contains("30006"),
        "{sms:?}"
    );
    let email = rows.iter().find(|r| r.channel == "email").expect("email");
    assert_eq!(email.state, "pending", "the email is due at once");
    hub.dispatch(t0 + MINUTE).await;
    let mails = hub.mails(1).await;
    assert_eq!(mails[0].to, vec!["owner@example.com".to_string()]);
    let kept = meoktong_storage::entity::early_status_callbacks::Entity::find()
        .all(&hub.app.db.conn)
        .await
        .expect("early callbacks");
    assert!(kept.is_empty(), "applied and forgotten: {kept:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_early_callback_whose_message_never_turns_up_is_forgotten_after_a_day() {
    let hub = Hub::start().await;
    let kept = || async {
        meoktong_storage::entity::early_status_callbacks::Entity::find()
            .all(&hub.app.db.conn)
            .await
            .expect("early callbacks")
            .len()
    };
    let answer = post_status(
        &hub.app.address,
        "SMffffffffffffffffffffffffffffffff",
        "delivered",
        None,
        "+821040000021",
    )
    .await;
    assert_eq!(answer, 200, "Twilio must not retry it forever");
    assert_eq!(
        kept().await,
        1,
        "kept in case its acceptance is about to be recorded"
    );
    let day = 24 * 60 * MINUTE;
    hub.sweep(hub.t0 + day - MINUTE).await;
    assert_eq!(kept().await, 1);
    hub.sweep(hub.t0 + day + MINUTE).await;
    assert_eq!(kept().await, 0, "forgotten after a day");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_late_send_asks_twilio_only_for_the_validity_left() {
    let hub = Hub::start().await;
    merchant(&hub, "행복분식", &[TALK], &[phone("+821040000031")]).await;
    // Planned ten minutes ago with a 15 minute validity (its sends kept failing since, say):
    // five minutes are left when it finally goes.
    let planned = hub.t0 - 10 * MINUTE;
    hub.open(TALK, "down", planned - SECOND).await;
    hub.plan(planned).await;
    hub.dispatch(hub.t0).await;
    let sent = hub.twilio[0].messages();
    assert_eq!(sent.len(), 1);
    let validity = sent[0].validity_period.expect("ValidityPeriod");
    assert!(
        (290..=300).contains(&validity),
        "the 300 s left of 900, not 900: {validity}"
    );
}

/// The backends these tests can reach: SQLite always, PostgreSQL when `TEST_DATABASE_URL`
/// names one.
fn backends() -> Vec<Backend> {
    let mut out = vec![Backend::Sqlite];
    if Backend::default_for_tests() == Backend::Postgres {
        out.push(Backend::Postgres);
    }
    out
}

/// `n` merchants, each subscribed to KakaoTalk, KakaoPay and Naver Login, and those three
/// down together; returns the incident ids, sorted.
async fn three_down_for(hub: &Hub, n: usize) -> Vec<i64> {
    use hub_fixture::NAVER;
    let records: Vec<_> = (0..n)
        .map(|i| {
            support::shop(
                &format!("가게 {i}"),
                &format!("+8210{:08}", 30_000_000 + i),
                &format!("owner{i}@example.com"),
                &[TALK, PAY, NAVER],
            )
        })
        .collect();
    support::import(&hub.app.db, &hub.app.crypto, &records).await;
    let mut incidents = Vec::new();
    for slug in [TALK, PAY, NAVER] {
        incidents.push(hub.open(slug, "down", hub.t0 - SECOND).await);
    }
    incidents.sort_unstable();
    incidents
}

/// Every notice, checked: one per merchant, each listing all of `incidents`, and as many
/// SMS rows as notices. Returns how many.
async fn one_notice_each_listing(hub: &Hub, incidents: &[i64]) -> usize {
    use meoktong_storage::entity::{notices, outbox};
    let all = notices::Entity::find()
        .all(&hub.app.db.conn)
        .await
        .expect("notices");
    let merchants: std::collections::HashSet<i64> = all.iter().map(|n| n.merchant_id).collect();
    assert_eq!(merchants.len(), all.len(), "no merchant twice");
    for n in &all {
        let ids: Vec<i64> = serde_json::from_str(&n.incident_ids).expect("incident ids");
        assert_eq!(ids, incidents, "notice {} lists all three", n.id);
    }
    let sms = outbox::Entity::find()
        .all(&hub.app.db.conn)
        .await
        .expect("outbox")
        .into_iter()
        .filter(|m| m.channel == "sms")
        .count();
    assert_eq!(sms, all.len(), "one SMS per notice");
    all.len()
}

/// A fan-out larger than the planner's pages (32 subscription rows, then 128, then 500, read
/// by one task while another writes; two writers on PostgreSQL) still gives each merchant
/// exactly one notice listing every dependency that failed together: a merchant is never
/// split between two pages, and a second pass writes nothing. On each backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_fan_out_across_planner_pages_gives_each_merchant_one_notice_of_everything() {
    for backend in backends() {
        let hub = Hub::start_on(backend).await;
        let incidents = three_down_for(&hub, 400).await;
        hub.plan(hub.t0).await;
        assert_eq!(
            one_notice_each_listing(&hub, &incidents).await,
            400,
            "{backend:?}: one notice per merchant"
        );
        hub.plan(hub.t0 + SECOND).await;
        assert_eq!(
            one_notice_each_listing(&hub, &incidents).await,
            400,
            "{backend:?}: the second pass writes nothing"
        );
    }
}

/// A pass interrupted once its first page is written (as `serve` interrupts it when another
/// incident changes) stops without starting another page, keeps what it wrote, and the next
/// pass writes the rest: every merchant ends with one notice. On each backend.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_interrupted_planner_pass_keeps_its_pages_and_the_next_pass_finishes() {
    for backend in backends() {
        let hub = Hub::start_on(backend).await;
        let incidents = three_down_for(&hub, 400).await;
        let written = Arc::new(tokio::sync::Notify::new());
        let planner = meoktong_notify::planner::Planner::new(
            hub.app.db.clone(),
            hub.composer.clone(),
            hub.planner.config().clone(),
        )
        .notify_when_written(written.clone());
        let first_page = written.notified();
        tokio::pin!(first_page);
        first_page.as_mut().enable();
        let stats = planner
            .plan_once_until(hub.t0, first_page)
            .await
            .expect("plan");
        assert!(stats.interrupted, "{backend:?}: {stats:?}");
        let after_interrupt = one_notice_each_listing(&hub, &incidents).await;
        assert!(
            (1..400).contains(&after_interrupt),
            "{backend:?}: the interrupted pass wrote {after_interrupt} notices"
        );
        assert_eq!(
            stats.notices, after_interrupt,
            "{backend:?}: counted as written"
        );
        let rest = planner.plan_once(hub.t0).await.expect("plan");
        assert!(!rest.interrupted);
        assert_eq!(rest.notices, 400 - after_interrupt, "{backend:?}");
        assert_eq!(one_notice_each_listing(&hub, &incidents).await, 400);
    }
}

/// SMS wait for their provider's rate while they hold a dispatch place. Email that is due
/// (here: contacts with no mobile, so email at once) must not queue behind them: with Twilio at
/// one message a second and four places, the four emails go out with the first SMS, not after
/// the sixteen planned before them. (Before, the SMS took every place in claim order and
/// the emails waited for all of them: in the national fan-out with Solapi down, no email left
/// in five minutes.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn due_email_does_not_wait_behind_sms_held_by_the_provider_rate() {
    let hub = Hub::start().await;
    for i in 0..16 {
        let phone: &'static str = Box::leak(format!("+8210410000{i:02}").into_boxed_str());
        merchant(
            &hub,
            &format!("문자가게{i}"),
            &[TALK],
            &[hub_fixture::phone(phone)],
        )
        .await;
    }
    for i in 0..4 {
        let email: &'static str = Box::leak(format!("mail{i}@example.com").into_boxed_str());
        merchant(
            &hub,
            &format!("메일가게{i}"),
            &[TALK],
            &[hub_fixture::email(email)],
        )
        .await;
    }
    let t0 = hub.t0;
    hub.open(TALK, "down", t0 - SECOND).await;
    hub.plan(t0).await;

    let dispatcher = hub.looping_dispatcher(1, 4);
    let (wake, stop) = (
        Arc::new(tokio::sync::Notify::new()),
        tokio_util::sync::CancellationToken::new(),
    );
    let task = tokio::spawn(dispatcher.run_until_stopped(wake, stop.clone()));
    // The four emails arrive (the wait is bounded, not timed: at one SMS a second the sixteen
    // SMS take sixteen seconds, so the count below tells which came first; before the fix the
    // emails were claimed only after twelve SMS).
    let mails = hub.mails(4).await;
    let sms_by_then = hub.twilio[0].messages().len();
    stop.cancel();
    let _ = task.await;
    assert_eq!(mails.len(), 4);
    assert!(
        sms_by_then <= 4,
        "the emails go out beside the first SMS, not after {sms_by_then} of them"
    );
}

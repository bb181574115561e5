//! The notification hub end to end: the whole app with its workers, a Twilio stand-in that
//! checks every request like Twilio does, and a real SMTP server.
//!
//! Incidents are opened straight in storage (no probes), as the detector would open them;
//! everything after that — grouping, the outbox, the dispatcher, callbacks, fallbacks — runs
//! as in production. Outcomes are awaited by polling with generous deadlines: nothing here
//! depends on timing luck, and nothing asserts on elapsed time.
//!
//! The Twilio auth token comes from `MEOKTONG_TEST_TWILIO_TOKEN`, which `.cargo/config.toml`
//! sets for every process cargo runs (settings read tokens from the environment, and tests
//! cannot set variables); without it the tests fail rather than skip.
use meoktong_config::{
    DependencySettings, EmailSettings, Settings, SmsProviderKind, SmsProviderSettings,
};
use meoktong_domain::Category;
use meoktong_domain::segments::count_segments;
use meoktong_storage::entity::outbox as outbox_entity;
use meoktong_storage::merchants::{self, MerchantRecord};
use meoktong_storage::{catalog, incidents, now_ms};
use meoktong_testkit::{Mode, RecordedMessage, Signing, SmtpServer, TwilioStandIn};
use meoktong_tests::{Backend, TestApp, spawn_app_with};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use std::collections::HashMap;
use std::future::Future;
use std::time::{Duration, Instant};

const TOKEN_ENV: &str = "MEOKTONG_TEST_TWILIO_TOKEN";
const ACCOUNT_SID: &str = "AC00000000000000000000000000000000";
const FROM: &str = "+15005550006";
/// Long enough for anything that is going to happen on a loaded CI machine.
const PATIENCE: Duration = Duration::from_secs(60);
/// How long to keep watching for something that must NOT happen (a duplicate, an early email).
const SETTLE: Duration = Duration::from_secs(3);

const TALK: &str = "kakaotalk";
const LOGIN: &str = "kakao-login";
const PAY: &str = "kakaopay";
const MAP: &str = "kakao-map";
const NAVER: &str = "naver-login";

/// The test Twilio auth token. `.cargo/config.toml` sets it for every process cargo runs
/// (and `scripts/test` too), so these tests always run; without it they fail, never skip.
fn twilio_token() -> String {
    match std::env::var(TOKEN_ENV) {
        Ok(t) if !t.is_empty() => t,
        _ => panic!(
            "{TOKEN_ENV} is not set: run the tests through cargo (.cargo/config.toml sets it)"
        ),
    }
}

fn dep(
    slug: &str,
    name: &str,
    name_en: &str,
    category: Category,
    platform: &str,
) -> DependencySettings {
    DependencySettings {
        slug: slug.into(),
        name: name.into(),
        name_en: Some(name_en.into()),
        category,
        platform: Some(platform.into()),
        description: None,
        check: Vec::new(),
    }
}

/// The four dependencies of the 1015 fire, and one that did not burn.
fn catalog_deps() -> Vec<DependencySettings> {
    vec![
        dep(TALK, "카카오톡", "KakaoTalk", Category::Messenger, "kakao"),
        dep(
            LOGIN,
            "카카오 로그인",
            "Kakao Login",
            Category::Login,
            "kakao",
        ),
        dep(PAY, "카카오페이", "KakaoPay", Category::Payment, "kakao"),
        dep(MAP, "카카오맵", "Kakao Map", Category::Map, "kakao"),
        dep(
            NAVER,
            "네이버 로그인",
            "Naver Login",
            Category::Login,
            "naver",
        ),
    ]
}

fn twilio(base_url: String) -> SmsProviderSettings {
    SmsProviderSettings {
        provider: SmsProviderKind::Twilio,
        base_url,
        account_sid: ACCOUNT_SID.into(),
        auth_token_env: TOKEN_ENV.into(),
        from: FROM.into(),
        rate_per_second: 0,
        validity: Duration::from_secs(15 * 60),
        ..SmsProviderSettings::default()
    }
}

/// The app with its workers, the given Twilio stand-ins as `[[sms]]` in order, the SMTP
/// server as `[email]`, no probes, a short group window; `tweak` adjusts the rest. Also
/// returns `server.public_url` (the harness makes it the app's real address, so Twilio's
/// status callbacks, sent to `{public_url}/hooks/twilio/status`, reach it).
async fn spawn(
    twilio_urls: Vec<String>,
    smtp: &SmtpServer,
    tweak: impl FnOnce(&mut Settings),
) -> (TestApp, String) {
    let smtp_url = smtp.url();
    let app = spawn_app_with(
        Backend::default_for_tests(),
        move |s| {
            s.sms = twilio_urls.into_iter().map(twilio).collect();
            s.email = Some(EmailSettings {
                smtp_url,
                from: "Meoktong <alerts@meoktong.example>".into(),
                password_env: None,
            });
            s.probe.enabled = false;
            s.detection.group_window = Duration::from_millis(300);
            s.dependency = catalog_deps();
            tweak(s);
        },
        meoktong::BuildOptions {
            run_workers: true,
            ..Default::default()
        },
    )
    .await;
    let public_url = app.address.clone();
    (app, public_url)
}

struct Shop {
    name: &'static str,
    phone: &'static str,
    email: &'static str,
    deps: &'static [&'static str],
}

async fn import(app: &TestApp, shops: &[Shop]) {
    let records: Vec<MerchantRecord> = shops
        .iter()
        .map(|s| MerchantRecord {
            business_name: s.name.into(),
            phone: s.phone.into(),
            email: Some(s.email.into()),
            email_platform: None,
            dependencies: s.deps.iter().map(|d| d.to_string()).collect(),
            locale: None,
            region: None,
            trade: None,
            backup_phone: None,
            backup_email: None,
            backup_email_platform: None,
        })
        .collect();
    merchants::import(&app.db, &app.crypto, &records, now_ms())
        .await
        .expect("import merchants");
}

/// Opens one `down` incident per slug, all in one transaction and confirmed at the same
/// instant (the detector confirming them together), started `started_ago` earlier.
async fn open_incidents(app: &TestApp, slugs: &[&str], started_ago: Duration) -> Vec<i64> {
    let now = now_ms();
    let started = now - i64::try_from(started_ago.as_millis()).expect("small duration");
    let mut dep_ids = Vec::new();
    for slug in slugs {
        let d = catalog::dependency_by_slug(&app.db, slug)
            .await
            .expect("read catalog")
            .unwrap_or_else(|| panic!("{slug} is in the catalog"));
        dep_ids.push(d.id);
    }
    let txn = app.db.conn.begin().await.expect("begin");
    let mut ids = Vec::new();
    for dep_id in dep_ids {
        ids.push(
            incidents::open(&txn, dep_id, "down", started, now, &serde_json::json!({}))
                .await
                .expect("open incident"),
        );
    }
    txn.commit().await.expect("commit");
    ids
}

/// Polls `check` until it yields a value; panics naming `what` after `timeout`.
async fn eventually<T, F, Fut>(what: &str, timeout: Duration, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let start = Instant::now();
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(start.elapsed() < timeout, "gave up waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn outbox_rows(app: &TestApp, channel: &str) -> Vec<outbox_entity::Model> {
    outbox_entity::Entity::find()
        .filter(outbox_entity::Column::Channel.eq(channel))
        .all(&app.db.conn)
        .await
        .expect("read outbox")
}

/// Waits until the app has recorded Twilio's acceptance of `sid` (a status callback that
/// arrived earlier would be for an unknown message).
async fn accepted_row(app: &TestApp, sid: &str) -> outbox_entity::Model {
    eventually("the SMS to be recorded as accepted", PATIENCE, || async {
        outbox_rows(app, "sms")
            .await
            .into_iter()
            .find(|r| r.provider_message_id.as_deref() == Some(sid) && r.state == "accepted")
    })
    .await
}

fn per_recipient(messages: &[RecordedMessage]) -> HashMap<String, Vec<RecordedMessage>> {
    let mut map: HashMap<String, Vec<RecordedMessage>> = HashMap::new();
    for m in messages {
        map.entry(m.to.clone()).or_default().push(m.clone());
    }
    map
}

async fn wait_sms(twilio: &TwilioStandIn, n: usize) -> Vec<RecordedMessage> {
    twilio
        .wait_for_messages(n, PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

async fn wait_mail(smtp: &SmtpServer, n: usize) -> Vec<meoktong_testkit::ReceivedMail> {
    smtp.wait_for(n, PATIENCE)
        .await
        .unwrap_or_else(|e| panic!("{e}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_1015_fire_gives_each_merchant_one_sms_naming_what_is_down() {
    let token = twilio_token();
    let twilio = TwilioStandIn::start(ACCOUNT_SID, &token).await;
    let smtp = SmtpServer::start().await;
    let (app, public_url) = spawn(vec![twilio.base_url()], &smtp, |_| {}).await;
    import(
        &app,
        &[
            Shop {
                name: "행복분식",
                phone: "+821011110001",
                email: "a@example.com",
                deps: &[TALK, LOGIN, PAY, MAP],
            },
            Shop {
                name: "판교 치킨",
                phone: "+821011110002",
                email: "b@example.com",
                deps: &[TALK, LOGIN, PAY, MAP],
            },
            Shop {
                name: "마포 꽃집",
                phone: "+821011110003",
                email: "c@example.com",
                deps: &[PAY],
            },
            Shop {
                name: "네이버 전용",
                phone: "+821011110004",
                email: "d@example.com",
                deps: &[NAVER],
            },
        ],
    )
    .await;

    open_incidents(&app, &[TALK, LOGIN, PAY, MAP], Duration::from_secs(30)).await;

    wait_sms(&twilio, 3).await;
    tokio::time::sleep(SETTLE).await;
    let messages = twilio.messages();
    let by_to = per_recipient(&messages);
    assert_eq!(
        messages.len(),
        3,
        "one SMS per subscribed merchant: {messages:#?}"
    );
    assert!(
        !by_to.contains_key("+821011110004"),
        "Naver only: nothing to tell"
    );
    for phone in ["+821011110001", "+821011110002"] {
        let got = &by_to[phone];
        assert_eq!(
            got.len(),
            1,
            "{phone}: one SMS for four dependencies, got {got:#?}"
        );
        let body = &got[0].body;
        let names_all = ["카카오톡", "카카오 로그인", "카카오페이", "카카오맵"]
            .iter()
            .all(|n| body.contains(n));
        assert!(
            names_all || body.contains("4개"),
            "{phone}: names the four (or their count): {body}"
        );
    }
    let pay_only = &by_to["+821011110003"][0].body;
    assert!(
        pay_only.contains("카카오페이") && !pay_only.contains("카카오톡"),
        "{pay_only}"
    );

    let status_callback = format!("{public_url}/hooks/twilio/status");
    for m in &messages {
        assert!(m.body.starts_with("[장애]"), "{}", m.body);
        assert!(
            count_segments(&m.body).segments <= 2,
            "at most two segments: {}",
            m.body
        );
        assert!(
            m.body.contains(&format!("{public_url}/a/")),
            "link to the alert page: {}",
            m.body
        );
        assert_eq!(m.from.as_deref(), Some(FROM));
        assert_eq!(m.status_callback.as_deref(), Some(status_callback.as_str()));
        // 15m as integer seconds: what is left of it when the request is made, rounded up.
        assert!(
            m.validity_period.is_some_and(|v| (880..=900).contains(&v)),
            "validity 15m as integer seconds: {:?}",
            m.validity_period
        );
    }
    for r in twilio.requests() {
        assert!(
            r.authorized,
            "Basic auth with the account sid and token: {r:?}"
        );
        assert_eq!(r.path_account_sid, ACCOUNT_SID);
        assert!(
            r.content_type
                .as_deref()
                .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded")),
            "form-encoded: {r:?}"
        );
        assert_eq!(r.answered, Some(201));
    }

    // The link opens the merchant's alert page, without logging in.
    let body = &by_to["+821011110001"][0].body;
    let link = body[body.find(&format!("{public_url}/a/")).expect("link")..]
        .split_whitespace()
        .next()
        .expect("link text")
        .to_string();
    let page = app.client.get(&link).send().await.expect("alert page");
    assert_eq!(page.status().as_u16(), 200, "{link}");

    assert!(
        smtp.received().is_empty(),
        "the SMS was accepted: no email yet"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_number_21211_sends_the_email_at_once() {
    let token = twilio_token();
    let twilio = TwilioStandIn::start(ACCOUNT_SID, &token).await;
    let smtp = SmtpServer::start().await;
    // Without the rejection, the email would wait for the 2 minute delivery timeout.
    let (app, _) = spawn(vec![twilio.base_url()], &smtp, |_| {}).await;
    twilio.set_recipient_mode(
        "+821022220001",
        Mode::TwilioError {
            http_status: 400,
            code: 21211,
        },
    );
    import(
        &app,
        &[Shop {
            name: "행복분식",
            phone: "+821022220001",
            email: "owner@example.com",
            deps: &[TALK],
        }],
    )
    .await;

    open_incidents(&app, &[TALK], Duration::from_secs(30)).await;

    let mails = wait_mail(&smtp, 1).await;
    let mail = &mails[0];
    assert_eq!(mail.to, vec!["owner@example.com".to_string()]);
    let subject = mail.subject().expect("a subject");
    assert!(
        subject.contains("[장애]") && subject.contains("카카오톡"),
        "decoded Korean subject: {subject}"
    );
    let text = mail.text().expect("a text part");
    assert!(text.contains("카카오톡"), "{text}");
    assert!(twilio.messages().is_empty(), "Twilio accepted nothing");
    let sms = outbox_rows(&app, "sms").await;
    assert_eq!(sms.len(), 1);
    assert_eq!(sms[0].state, "failed", "rejected for good, not retried");
    assert_eq!(
        twilio.request_count(),
        1,
        "a permanent error is not retried"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_undelivered_callback_sends_the_email() {
    let token = twilio_token();
    let twilio = TwilioStandIn::start(ACCOUNT_SID, &token).await;
    let smtp = SmtpServer::start().await;
    let (app, _) = spawn(vec![twilio.base_url()], &smtp, |_| {}).await;
    import(
        &app,
        &[Shop {
            name: "행복분식",
            phone: "+821033330001",
            email: "owner@example.com",
            deps: &[PAY],
        }],
    )
    .await;
    open_incidents(&app, &[PAY], Duration::from_secs(30)).await;

    let sms = wait_sms(&twilio, 1).await;
    accepted_row(&app, &sms[0].sid).await;
    assert!(
        smtp.received().is_empty(),
        "accepted and within the delivery timeout: no email yet"
    );

    let answer = twilio
        .send_status_callback(&sms[0].sid, "undelivered", Some(30003))
        .await
        .expect("callback");
    assert_eq!(answer, 200);

    let mails = wait_mail(&smtp, 1).await;
    assert_eq!(mails[0].to, vec!["owner@example.com".to_string()]);
    assert!(mails[0].subject().expect("subject").contains("카카오페이"));
    // Twilio retries a callback it thinks failed: a second one changes nothing.
    let again = twilio
        .send_status_callback(&sms[0].sid, "undelivered", Some(30003))
        .await
        .expect("callback");
    assert_eq!(again, 200);
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        smtp.received().len(),
        1,
        "one email, however many callbacks"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_forged_callback_signature_is_refused() {
    let token = twilio_token();
    let twilio = TwilioStandIn::start(ACCOUNT_SID, &token).await;
    let smtp = SmtpServer::start().await;
    let (app, _) = spawn(vec![twilio.base_url()], &smtp, |_| {}).await;
    import(
        &app,
        &[Shop {
            name: "행복분식",
            phone: "+821044440001",
            email: "owner@example.com",
            deps: &[TALK],
        }],
    )
    .await;
    open_incidents(&app, &[TALK], Duration::from_secs(30)).await;
    let sms = wait_sms(&twilio, 1).await;
    accepted_row(&app, &sms[0].sid).await;

    for signing in [Signing::Wrong, Signing::Missing] {
        let answer = twilio
            .send_status_callback_signed(&sms[0].sid, "undelivered", Some(30003), signing)
            .await
            .expect("callback");
        assert_eq!(answer.status, 403, "{signing:?}");
    }

    tokio::time::sleep(SETTLE).await;
    let rows = outbox_rows(&app, "sms").await;
    assert_eq!(rows.len(), 1);
    assert_eq!(
        rows[0].state, "accepted",
        "a forged callback changes nothing"
    );
    let email = outbox_rows(&app, "email").await;
    assert_eq!(
        email[0].state, "waiting",
        "the email fallback is not triggered"
    );
    assert!(smtp.received().is_empty(), "and sends no email");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twilio_answering_500_for_a_while_loses_nothing_and_sends_once() {
    let token = twilio_token();
    let twilio = TwilioStandIn::start(ACCOUNT_SID, &token).await;
    twilio.set_mode(Mode::Fail500);
    let smtp = SmtpServer::start().await;
    let (app, _) = spawn(vec![twilio.base_url()], &smtp, |_| {}).await;
    let shops = [
        Shop {
            name: "가게 1",
            phone: "+821055550001",
            email: "s1@example.com",
            deps: &[TALK],
        },
        Shop {
            name: "가게 2",
            phone: "+821055550002",
            email: "s2@example.com",
            deps: &[TALK],
        },
        Shop {
            name: "가게 3",
            phone: "+821055550003",
            email: "s3@example.com",
            deps: &[TALK],
        },
    ];
    import(&app, &shops).await;
    open_incidents(&app, &[TALK], Duration::from_secs(30)).await;

    // Twilio keeps failing for 20 s, and until every message was retried at least twice.
    eventually("20 s of 500s, each SMS retried twice", PATIENCE, || async {
        let failed: Vec<_> = twilio
            .requests()
            .into_iter()
            .filter(|r| r.answered == Some(500))
            .collect();
        let long_enough = failed
            .first()
            .and_then(|r| r.at.elapsed().ok())
            .is_some_and(|e| e >= Duration::from_secs(20));
        let mut tries = HashMap::<String, usize>::new();
        for r in &failed {
            *tries
                .entry(r.field("To").unwrap_or_default().to_string())
                .or_default() += 1;
        }
        (long_enough && tries.len() == shops.len() && tries.values().all(|&n| n >= 3)).then_some(())
    })
    .await;
    assert!(twilio.messages().is_empty());
    twilio.set_mode(Mode::Accept);

    wait_sms(&twilio, shops.len()).await;
    tokio::time::sleep(SETTLE).await;
    let by_to = per_recipient(&twilio.messages());
    assert_eq!(by_to.len(), shops.len(), "every merchant: {by_to:#?}");
    assert!(
        by_to.values().all(|m| m.len() == 1),
        "accepted exactly once each: {by_to:#?}"
    );
    let rows = outbox_rows(&app, "sms").await;
    assert!(
        rows.iter()
            .all(|r| r.state == "accepted" && r.attempts >= 4),
        "{rows:#?}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failing_first_provider_hands_new_messages_to_the_second() {
    let token = twilio_token();
    let first = TwilioStandIn::start(ACCOUNT_SID, &token).await;
    first.set_mode(Mode::Fail500);
    let second = TwilioStandIn::start(ACCOUNT_SID, &token).await;
    let smtp = SmtpServer::start().await;
    let (app, public_url) = spawn(vec![first.base_url(), second.base_url()], &smtp, |s| {
        s.notify.failover_after = Duration::from_secs(1);
    })
    .await;
    import(
        &app,
        &[
            Shop {
                name: "가게 1",
                phone: "+821066660001",
                email: "s1@example.com",
                deps: &[TALK],
            },
            Shop {
                name: "가게 2",
                phone: "+821066660002",
                email: "s2@example.com",
                deps: &[TALK],
            },
            Shop {
                name: "지도 가게",
                phone: "+821066660003",
                email: "s3@example.com",
                deps: &[MAP],
            },
        ],
    )
    .await;

    open_incidents(&app, &[TALK], Duration::from_secs(30)).await;
    let taken_over = wait_sms(&second, 2).await;
    let phones: Vec<&str> = taken_over.iter().map(|m| m.to.as_str()).collect();
    assert!(
        phones.contains(&"+821066660001") && phones.contains(&"+821066660002"),
        "{phones:?}"
    );
    assert!(
        first.request_count() >= 2,
        "the first was tried before failing over"
    );

    // A later incident's messages go straight to the second while the first keeps failing.
    let first_tries = first.request_count();
    open_incidents(&app, &[MAP], Duration::from_secs(30)).await;
    let all = wait_sms(&second, 3).await;
    assert!(all.iter().any(|m| m.to == "+821066660003"));
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        first.request_count(),
        first_tries,
        "no new message tried the failing first"
    );
    assert!(first.messages().is_empty());
    assert_eq!(second.messages().len(), 3, "each message once");
    let status_callback = format!("{public_url}/hooks/twilio/status");
    for m in second.messages() {
        assert_eq!(m.status_callback.as_deref(), Some(status_callback.as_str()));
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn smtp_refusing_for_a_while_sends_the_email_later() {
    let token = twilio_token();
    let twilio = TwilioStandIn::start(ACCOUNT_SID, &token).await;
    let smtp = SmtpServer::start().await;
    smtp.set_refusing(true);
    let (app, _) = spawn(vec![twilio.base_url()], &smtp, |_| {}).await;
    // The SMS is rejected for good, so the email is due at once.
    twilio.set_recipient_mode(
        "+821077770001",
        Mode::TwilioError {
            http_status: 400,
            code: 21614,
        },
    );
    import(
        &app,
        &[Shop {
            name: "행복분식",
            phone: "+821077770001",
            email: "owner@example.com",
            deps: &[PAY],
        }],
    )
    .await;
    open_incidents(&app, &[PAY], Duration::from_secs(30)).await;

    let refused = eventually("the email to be tried and refused", PATIENCE, || async {
        outbox_rows(&app, "email")
            .await
            .into_iter()
            .find(|r| r.state == "pending" && r.attempts >= 1 && r.last_error.is_some())
    })
    .await;
    assert!(smtp.received().is_empty());
    smtp.set_refusing(false);

    let mails = wait_mail(&smtp, 1).await;
    assert_eq!(mails[0].to, vec!["owner@example.com".to_string()]);
    assert!(mails[0].subject().expect("subject").contains("카카오페이"));
    tokio::time::sleep(SETTLE).await;
    assert_eq!(smtp.received().len(), 1, "sent once");
    let row = outbox_rows(&app, "email")
        .await
        .into_iter()
        .find(|r| r.id == refused.id)
        .expect("row");
    assert_eq!(row.state, "accepted");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn recovery_tells_each_merchant_once_with_the_outage_duration() {
    let token = twilio_token();
    let twilio = TwilioStandIn::start(ACCOUNT_SID, &token).await;
    let smtp = SmtpServer::start().await;
    let (app, public_url) = spawn(vec![twilio.base_url()], &smtp, |_| {}).await;
    import(
        &app,
        &[
            Shop {
                name: "행복분식",
                phone: "+821088880001",
                email: "a@example.com",
                deps: &[TALK, PAY],
            },
            Shop {
                name: "판교 치킨",
                phone: "+821088880002",
                email: "b@example.com",
                deps: &[PAY],
            },
        ],
    )
    .await;
    // Down since 2 h 5 min 20 s ago (the first failed probe), confirmed now.
    let ids = open_incidents(
        &app,
        &[TALK, PAY],
        Duration::from_secs(2 * 3600 + 5 * 60 + 20),
    )
    .await;
    wait_sms(&twilio, 2).await;

    let resolved_at = now_ms();
    for id in &ids {
        incidents::resolve(&app.db.conn, *id, resolved_at, resolved_at)
            .await
            .expect("resolve");
    }
    wait_sms(&twilio, 4).await;
    tokio::time::sleep(SETTLE).await;
    let by_to = per_recipient(&twilio.messages());
    for phone in ["+821088880001", "+821088880002"] {
        let got = &by_to[phone];
        assert_eq!(
            got.len(),
            2,
            "{phone}: one down and one recovery notice: {got:#?}"
        );
        assert!(got[0].body.starts_with("[장애]"), "{}", got[0].body);
        let recovery = &got[1].body;
        assert!(recovery.starts_with("[복구]"), "{recovery}");
        assert!(
            recovery.contains("2시간 5분"),
            "the outage duration: {recovery}"
        );
        assert!(recovery.contains(&format!("{public_url}/a/")), "{recovery}");
        assert!(count_segments(recovery).segments <= 2, "{recovery}");
    }
    let both = &by_to["+821088880001"][1].body;
    assert!(
        both.contains("카카오톡") && both.contains("카카오페이") || both.contains("2개"),
        "{both}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn without_an_sms_provider_the_email_is_due_at_once() {
    let smtp = SmtpServer::start().await;
    let (app, _) = spawn(Vec::new(), &smtp, |_| {}).await;
    import(
        &app,
        &[Shop {
            name: "행복분식",
            phone: "+821099990001",
            email: "owner@example.com",
            deps: &[TALK],
        }],
    )
    .await;
    open_incidents(&app, &[TALK], Duration::from_secs(30)).await;

    let mails = wait_mail(&smtp, 1).await;
    assert_eq!(mails[0].to, vec!["owner@example.com".to_string()]);
    assert!(
        outbox_rows(&app, "sms").await.is_empty(),
        "no SMS row that nothing would ever send (its email would wait for the queue budget)"
    );
    let email = outbox_rows(&app, "email").await;
    assert_eq!(email.len(), 1);
    assert_eq!(
        email[0].fallback_at, None,
        "due from the start, not as a fallback"
    );
}

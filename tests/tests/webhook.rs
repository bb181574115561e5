//! The merchant's webhook end to end: set on the dashboard (CSRF, SSRF guard, the secret shown
//! once), then every alert POSTed as signed JSON to a local receiver that checks signatures
//! the documented way. Incidents are opened straight in storage, as the detector would.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod common;
mod support;

use axum::Router;
use axum::body::Bytes;
use axum::extract::State;
use axum::http::{HeaderMap, StatusCode as AxumStatus};
use axum::routing::post;
use common::{Client, Page};
use meoktong_config::{DependencySettings, Settings};
use meoktong_domain::Category;
use meoktong_notify::providers::{
    SIGNATURE_HEADER, TIMESTAMP_HEADER, verify_webhook_signature, webhook_timestamp_is_fresh,
};
use meoktong_storage::entity::{delivery_attempts, notices, outbox, webhooks};
use meoktong_storage::{catalog, incidents, merchants, now_ms};
use meoktong_tests::{Backend, TestApp, spawn_app_with};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, TransactionTrait};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime};
use support::{PATIENCE, SETTLE, eventually};

const TALK: &str = "kakaotalk";

/// One request as the receiver saw it.
#[derive(Debug, Clone)]
struct Received {
    body: serde_json::Value,
    signature_ok: bool,
    answered: u16,
}

/// A merchant's system: checks each request's signature with the secret it was given (401 if
/// wrong or stale), answers 500 to the first `fail_first` good ones, then 204.
#[derive(Clone, Default)]
struct Receiver {
    secret: Arc<Mutex<String>>,
    fail_first: Arc<AtomicUsize>,
    got: Arc<Mutex<Vec<Received>>>,
}

async fn receive(State(r): State<Receiver>, headers: HeaderMap, body: Bytes) -> AxumStatus {
    let header = |name: &str| {
        headers
            .get(name)
            .and_then(|v| v.to_str().ok())
            .unwrap_or("")
            .to_string()
    };
    let timestamp = header(TIMESTAMP_HEADER);
    let secret = r.secret.lock().unwrap().clone();
    let signature_ok =
        webhook_timestamp_is_fresh(&timestamp, SystemTime::now(), Duration::from_secs(300))
            && verify_webhook_signature(
                secret.as_bytes(),
                &timestamp,
                &body,
                &header(SIGNATURE_HEADER),
            );
    let answered = if !signature_ok {
        401
    } else if r
        .fail_first
        .fetch_update(Ordering::SeqCst, Ordering::SeqCst, |n| n.checked_sub(1))
        .is_ok()
    {
        500
    } else {
        204
    };
    r.got.lock().unwrap().push(Received {
        body: serde_json::from_slice(&body).unwrap_or(serde_json::Value::Null),
        signature_ok,
        answered,
    });
    AxumStatus::from_u16(answered).unwrap()
}

impl Receiver {
    async fn start() -> (String, Receiver) {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let url = format!("http://{}/meoktong", listener.local_addr().unwrap());
        let r = Receiver::default();
        let app = Router::new()
            .route("/meoktong", post(receive))
            .with_state(r.clone());
        tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
        (url, r)
    }

    fn got(&self) -> Vec<Received> {
        self.got.lock().unwrap().clone()
    }

    fn set_secret(&self, s: &str) {
        *self.secret.lock().unwrap() = s.to_string();
    }

    async fn wait_for(&self, what: &str, n: usize) -> Vec<Received> {
        eventually(what, PATIENCE, || async {
            let got = self.got();
            (got.len() >= n).then_some(got)
        })
        .await
    }
}

fn talk() -> DependencySettings {
    DependencySettings {
        slug: TALK.into(),
        name: "카카오톡".into(),
        name_en: Some("KakaoTalk".into()),
        category: Category::Messenger,
        platform: Some("kakao".into()),
        description: None,
        check: Vec::new(),
    }
}

/// The app with its workers (log SMS), no probes, a short group window, KakaoTalk in the
/// catalog; `allow_private` is `probe.allow_private_targets` (the receiver is on loopback).
async fn spawn(allow_private: bool, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    spawn_app_with(
        Backend::default_for_tests(),
        move |s| {
            s.probe.enabled = false;
            s.probe.allow_private_targets = allow_private;
            s.detection.group_window = Duration::from_millis(300);
            s.dependency = vec![talk()];
            tweak(s);
        },
        meoktong::BuildOptions {
            run_workers: true,
            ..Default::default()
        },
    )
    .await
}

/// Signs a merchant up on the dashboard and subscribes it to KakaoTalk; returns its id.
async fn merchant(c: &Client<'_>, name: &str, phone: &str, email: &str) -> i64 {
    c.sign_up(name, phone, email).await;
    let saved = c
        .submit("/dashboard/catalog", "/dashboard/catalog", &[("dep", TALK)])
        .await;
    assert_eq!(saved.status, StatusCode::SEE_OTHER, "{}", saved.body);
    merchants::list(&c.app.db, &c.app.crypto)
        .await
        .unwrap()
        .into_iter()
        .find(|m| m.business_name == name)
        .unwrap()
        .id
}

/// The secret a page shows once, if it shows one.
fn shown_secret(page: &Page) -> Option<String> {
    let at = page.body.find("id=\"webhook-secret\">")? + "id=\"webhook-secret\">".len();
    let s: String = page.body[at..].chars().take_while(|c| *c != '<').collect();
    Some(s)
}

/// Sets the webhook on the dashboard; returns the secret shown.
async fn set_webhook(c: &Client<'_>, url: &str) -> String {
    let page = c
        .submit("/dashboard/contacts", "/dashboard/webhook", &[("url", url)])
        .await;
    assert_eq!(page.status, StatusCode::OK, "{}", page.body);
    let secret = shown_secret(&page).expect("the new secret is shown");
    assert!(
        secret.starts_with("whsec_") && secret.len() > 40,
        "{secret}"
    );
    secret
}

async fn open_incident(app: &TestApp, slug: &str, started_ago: Duration) -> i64 {
    let now = now_ms();
    let started = now - i64::try_from(started_ago.as_millis()).unwrap();
    let dep = catalog::dependency_by_slug(&app.db, slug)
        .await
        .unwrap()
        .unwrap();
    let txn = app.db.conn.begin().await.unwrap();
    let id = incidents::open(&txn, dep.id, "down", started, now, &serde_json::json!({}))
        .await
        .unwrap();
    txn.commit().await.unwrap();
    id
}

async fn rows(app: &TestApp, channel: &str) -> Vec<outbox::Model> {
    outbox::Entity::find()
        .filter(outbox::Column::Channel.eq(channel))
        .all(&app.db.conn)
        .await
        .unwrap()
}

fn metric(text: &str, channel: &str, outcome: &str) -> f64 {
    let prefix =
        format!("meoktong_notifications_total{{channel=\"{channel}\",outcome=\"{outcome}\"}} ");
    text.lines()
        .find_map(|l| l.strip_prefix(&prefix))
        .and_then(|v| v.trim().parse().ok())
        .unwrap_or(0.0)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_incident_posts_one_signed_webhook_beside_the_sms_and_its_recovery_another() {
    let app = spawn(true, |_| {}).await;
    let (url, receiver) = Receiver::start().await;
    let c = Client::new(&app);
    let merchant_id = merchant(&c, "행복분식", "010-2000-0001", "owner@example.com").await;
    let secret = set_webhook(&c, &url).await;
    receiver.set_secret(&secret);
    let again = c.get("/dashboard/contacts").await;
    assert!(again.body.contains(&url), "the URL in use is shown");
    assert!(
        !again.body.contains(&secret),
        "the secret is shown only once"
    );

    let started_ago = Duration::from_secs(90);
    let incident_id = open_incident(&app, TALK, started_ago).await;
    let got = receiver.wait_for("the down webhook", 1).await;
    let down = &got[0];
    assert!(down.signature_ok && down.answered == 204, "{down:?}");
    let b = &down.body;
    assert_eq!(b["event"], "down");
    assert_eq!(b["merchant_id"], merchant_id);
    assert_eq!(b["incident_id"], incident_id);
    assert_eq!(b["incident_ids"], serde_json::json!([incident_id]));
    assert_eq!(b["dependencies"][0]["slug"], TALK);
    assert_eq!(b["dependencies"][0]["name"], "카카오톡");
    assert_eq!(b["dependencies"][0]["name_en"], "KakaoTalk");
    assert!(b["resolved_at"].is_null(), "{b}");
    let started = chrono::DateTime::parse_from_rfc3339(b["started_at"].as_str().unwrap())
        .expect("RFC 3339 with offset");
    let expected = now_ms() - i64::try_from(started_ago.as_millis()).unwrap();
    assert!(
        (started.timestamp_millis() - expected).abs() < 30_000,
        "{b}"
    );
    let link = b["link"].as_str().unwrap();
    assert!(link.starts_with(&format!("{}/a/", app.address)), "{link}");
    let page = app.client.get(link).send().await.unwrap();
    assert_eq!(page.status(), StatusCode::OK, "the link is the alert page");

    // Beside the SMS, not instead of it, and not an acknowledgement.
    eventually("the SMS", PATIENCE, || async {
        (!rows(&app, "sms").await.is_empty()).then_some(())
    })
    .await;
    let hook_rows = rows(&app, "webhook").await;
    assert_eq!(hook_rows.len(), 1);
    assert_eq!(hook_rows[0].state, "delivered");
    assert!(
        !hook_rows[0].recipient_enc.contains("127.0.0.1"),
        "encrypted"
    );
    let notice = notices::Entity::find_by_id(hook_rows[0].notice_id)
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(notice.status, "open", "a webhook is no acknowledgement");
    assert!(notice.acked_at.is_none());
    tokio::time::sleep(SETTLE).await;
    assert_eq!(receiver.got().len(), 1, "sent once");
    // The history shows the webhook by its host only.
    let history = c.get("/dashboard/history").await;
    let host = url.trim_start_matches("http://").split('/').next().unwrap();
    assert!(
        history.body.contains("웹훅") && history.body.contains(host),
        "{}",
        history.body
    );
    assert!(!history.body.contains(&url), "not the whole URL");

    // Recovery: one more, with resolved_at.
    let now = now_ms();
    incidents::resolve(&app.db.conn, incident_id, now - 1000, now)
        .await
        .unwrap();
    let got = receiver.wait_for("the recovery webhook", 2).await;
    let rec = &got[1];
    assert!(rec.signature_ok, "{rec:?}");
    assert_eq!(rec.body["event"], "recovery");
    assert_eq!(rec.body["incident_id"], incident_id);
    assert!(rec.body["resolved_at"].is_string(), "{}", rec.body);
    assert_ne!(rec.body["id"], b["id"], "each notice has its own id");

    let metrics = app
        .client
        .get(app.url("/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(metric(&metrics, "webhook", "delivered") >= 2.0, "{metrics}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_answering_500_for_a_while_gets_the_alert_later_once() {
    let app = spawn(true, |_| {}).await;
    let (url, receiver) = Receiver::start().await;
    receiver.fail_first.store(2, Ordering::SeqCst);
    let c = Client::new(&app);
    merchant(&c, "가게 1", "010-2000-0002", "s1@example.com").await;
    receiver.set_secret(&set_webhook(&c, &url).await);
    open_incident(&app, TALK, Duration::from_secs(30)).await;

    eventually("delivery after two 500s", PATIENCE, || async {
        receiver
            .got()
            .iter()
            .any(|r| r.answered == 204)
            .then_some(())
    })
    .await;
    tokio::time::sleep(SETTLE).await;
    let got = receiver.got();
    let answers: Vec<u16> = got.iter().map(|r| r.answered).collect();
    assert_eq!(answers, vec![500, 500, 204], "{got:?}");
    assert!(got.iter().all(|r| r.body == got[0].body), "same body");
    let row = &rows(&app, "webhook").await[0];
    assert_eq!((row.state.as_str(), row.attempts), ("delivered", 3));
    let attempts = delivery_attempts::Entity::find()
        .filter(delivery_attempts::Column::OutboxId.eq(row.id))
        .all(&app.db.conn)
        .await
        .unwrap();
    let outcomes: Vec<&str> = attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(
        outcomes,
        vec!["transient_error", "transient_error", "accepted"]
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receiver_holding_a_forged_or_old_secret_refuses_and_nothing_is_retried() {
    let app = spawn(true, |_| {}).await;
    let (url, receiver) = Receiver::start().await;
    let c = Client::new(&app);
    merchant(&c, "가게 2", "010-2000-0003", "s2@example.com").await;
    let secret = set_webhook(&c, &url).await;
    // A forger without the secret cannot make a signature the receiver accepts.
    let body = br#"{"event":"down"}"#;
    let forged = meoktong_notify::webhook_signature(b"whsec_guessed", "1700000000", body);
    assert!(!verify_webhook_signature(
        secret.as_bytes(),
        "1700000000",
        body,
        &forged
    ));
    // The merchant made a new secret and the receiver still holds the first one.
    let page = c
        .submit("/dashboard/contacts", "/dashboard/webhook/secret", &[])
        .await;
    let rotated = shown_secret(&page).expect("the new secret is shown");
    assert_ne!(rotated, secret);
    receiver.set_secret(&secret);
    open_incident(&app, TALK, Duration::from_secs(30)).await;

    let got = receiver.wait_for("the webhook", 1).await;
    assert_eq!((got[0].signature_ok, got[0].answered), (false, 401));
    eventually("the row marked failed", PATIENCE, || async {
        rows(&app, "webhook")
            .await
            .into_iter()
            .find(|r| r.state == "failed")
    })
    .await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(receiver.got().len(), 1, "a 401 is not retried");
}

#[tokio::test]
async fn a_loopback_or_plain_http_url_is_refused_unless_private_targets_are_allowed() {
    let app = spawn(false, |_| {}).await;
    let c = Client::new(&app);
    c.sign_up("가게", "010-2000-0004", "ssrf@example.com").await;
    for (url, message) in [
        ("https://127.0.0.1:8443/hook", "내부망, 루프백"),
        ("https://[::1]/hook", "내부망, 루프백"),
        ("https://localhost/hook", "내부망, 루프백"),
        ("https://169.254.169.254/latest/meta-data", "내부망, 루프백"),
        ("http://pos.example.com/hook", "https:// 주소만"),
        ("https://user:pw@pos.example.com/hook", "아이디나 비밀번호"),
        ("not a url", "https://로 시작하는"),
    ] {
        let page = c
            .submit("/dashboard/contacts", "/dashboard/webhook", &[("url", url)])
            .await;
        assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "{url}");
        assert!(page.body.contains(message), "{url}: {}", page.body);
        assert!(shown_secret(&page).is_none());
    }
    let en = c
        .submit(
            "/dashboard/contacts?lang=en",
            "/dashboard/webhook?lang=en",
            &[("url", "https://127.0.0.1/hook")],
        )
        .await;
    assert!(en.body.contains("Private, loopback"), "{}", en.body);
    let stored = webhooks::Entity::find().all(&app.db.conn).await.unwrap();
    assert!(stored.is_empty(), "nothing stored: {stored:?}");
}

#[tokio::test]
async fn the_form_sets_and_clears_the_webhook_and_needs_csrf() {
    let app = spawn(true, |_| {}).await;
    let c = Client::new(&app);
    c.sign_up("가게", "010-2000-0005", "form@example.com").await;
    let url = "http://127.0.0.1:9/meoktong";

    let no_csrf = c.post("/dashboard/webhook", &[("url", url)]).await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    let wrong = c
        .post("/dashboard/webhook", &[("csrf", "forged"), ("url", url)])
        .await;
    assert_eq!(wrong.status, StatusCode::FORBIDDEN);
    assert!(
        webhooks::Entity::find()
            .all(&app.db.conn)
            .await
            .unwrap()
            .is_empty()
    );

    let page = c.get("/dashboard/contacts").await;
    assert!(page.body.contains("웹훅"), "Korean first");
    let secret = set_webhook(&c, url).await;
    let stored = webhooks::Entity::find().all(&app.db.conn).await.unwrap();
    assert_eq!(stored.len(), 1);
    assert!(!stored[0].url_enc.contains("127.0.0.1"), "URL encrypted");
    assert!(!stored[0].secret_enc.contains(&secret), "secret encrypted");
    let page = c.get("/dashboard/contacts?lang=en").await;
    assert!(page.body.contains(url) && page.body.contains("How to verify the signature"));
    assert!(page.body.contains("X-Meoktong-Signature"));

    // A new URL keeps the secret (nothing shown); a new secret is shown once.
    let changed = c
        .submit(
            "/dashboard/contacts",
            "/dashboard/webhook",
            &[("url", "http://127.0.0.1:10/other")],
        )
        .await;
    assert_eq!(changed.status, StatusCode::SEE_OTHER);
    let page = c.get("/dashboard/contacts").await;
    assert!(page.body.contains("http://127.0.0.1:10/other"));
    assert!(shown_secret(&page).is_none());

    let removed = c
        .submit("/dashboard/contacts", "/dashboard/webhook/delete", &[])
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    assert!(
        webhooks::Entity::find()
            .all(&app.db.conn)
            .await
            .unwrap()
            .is_empty()
    );
    let page = c.get("/dashboard/contacts").await;
    assert!(!page.body.contains("127.0.0.1:10"));
}

#[tokio::test]
async fn another_merchant_can_neither_see_nor_change_the_webhook() {
    let app = spawn(true, |_| {}).await;
    let a = Client::new(&app);
    a.sign_up("가게 A", "010-2000-0006", "a@example.com").await;
    let url = "http://127.0.0.1:9/only-for-a";
    set_webhook(&a, url).await;

    let b = Client::new(&app);
    b.sign_up("가게 B", "010-2000-0007", "b@example.com").await;
    let page = b.get("/dashboard/contacts").await;
    assert!(!page.body.contains("only-for-a"), "{}", page.body);
    // B's actions touch only B's (absent) webhook.
    b.submit("/dashboard/contacts", "/dashboard/webhook/delete", &[])
        .await;
    let rotate = b
        .submit("/dashboard/contacts", "/dashboard/webhook/secret", &[])
        .await;
    assert_eq!(rotate.status, StatusCode::NOT_FOUND);
    let page = a.get("/dashboard/contacts").await;
    assert!(page.body.contains(url), "A's webhook is still there");
    assert_eq!(
        webhooks::Entity::find()
            .all(&app.db.conn)
            .await
            .unwrap()
            .len(),
        1
    );
    // Signed out, nothing.
    let anon = Client::new(&app);
    let page = anon.post("/dashboard/webhook", &[("url", url)]).await;
    assert_ne!(page.status, StatusCode::OK);
    assert!(!page.body.contains("only-for-a"));
}

/// An API token made on the dashboard by a newly signed-up merchant.
async fn api_token(app: &TestApp, name: &str, phone: &str, email: &str) -> String {
    let c = Client::new(app);
    c.sign_up(name, phone, email).await;
    let page = c
        .submit("/dashboard/tokens", "/dashboard/tokens", &[("name", "pos")])
        .await;
    page.body
        .split("id=\"new-token\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test]
async fn the_json_api_sets_rotates_and_removes_the_webhook_for_its_own_merchant_only() {
    let app = spawn(true, |_| {}).await;
    let a = api_token(&app, "가게 A", "010-2000-0008", "api-a@example.com").await;
    let b = api_token(&app, "가게 B", "010-2000-0009", "api-b@example.com").await;
    let hook = app.url("/api/v1/me/webhook");
    let call = |req: reqwest::RequestBuilder, token: &str| req.bearer_auth(token).send();

    let none: serde_json::Value = call(app.client.get(&hook), &a)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(none["url"].is_null(), "{none}");
    let url = "http://127.0.0.1:9/api-set";
    let set = call(
        app.client.put(&hook).json(&serde_json::json!({"url": url})),
        &a,
    )
    .await
    .unwrap();
    assert_eq!(set.status(), StatusCode::OK);
    let set: serde_json::Value = set.json().await.unwrap();
    assert_eq!(set["url"], url);
    assert_eq!(set["signature_header"], "X-Meoktong-Signature");
    let secret = set["secret"].as_str().unwrap().to_string();
    assert!(secret.starts_with("whsec_"));
    let read: serde_json::Value = call(app.client.get(&hook), &a)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(read["url"], url);
    assert!(
        read.get("secret").is_none(),
        "the secret is never read back"
    );

    let rotated: serde_json::Value =
        call(app.client.post(app.url("/api/v1/me/webhook/secret")), &a)
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
    assert_ne!(rotated["secret"].as_str().unwrap(), secret);

    let test = call(app.client.post(app.url("/api/v1/me/webhook/test")), &a)
        .await
        .unwrap();
    assert_eq!(test.status(), StatusCode::ACCEPTED);
    let test_b = call(app.client.post(app.url("/api/v1/me/webhook/test")), &b)
        .await
        .unwrap();
    assert_eq!(test_b.status(), StatusCode::NOT_FOUND, "B has no webhook");

    let bad = call(
        app.client
            .put(&hook)
            .json(&serde_json::json!({"url": "ftp://x"})),
        &a,
    )
    .await
    .unwrap();
    assert_eq!(bad.status(), StatusCode::UNPROCESSABLE_ENTITY);
    let bad: serde_json::Value = bad.json().await.unwrap();
    assert_eq!(bad["field"], "url", "{bad}");

    // B sees nothing of A's and cannot touch it.
    let theirs: serde_json::Value = call(app.client.get(&hook), &b)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(theirs["url"].is_null(), "{theirs}");
    let rotate_b = call(app.client.post(app.url("/api/v1/me/webhook/secret")), &b)
        .await
        .unwrap();
    assert_eq!(rotate_b.status(), StatusCode::NOT_FOUND);
    let del_b = call(app.client.delete(&hook), &b).await.unwrap();
    assert_eq!(del_b.status(), StatusCode::NO_CONTENT);
    let still: serde_json::Value = call(app.client.get(&hook), &a)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(still["url"], url);

    let del = call(app.client.delete(&hook), &a).await.unwrap();
    assert_eq!(del.status(), StatusCode::NO_CONTENT);
    let gone: serde_json::Value = call(app.client.get(&hook), &a)
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert!(gone["url"].is_null());
    // Without a token: 401.
    let anon = app.client.get(&hook).send().await.unwrap();
    assert_eq!(anon.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn a_key_rotation_rewrites_the_webhook_url_and_secret_on_every_backend() {
    use meoktong_storage::Crypto;
    use meoktong_tests::TestDb;
    for backend in Backend::each() {
        let tdb = TestDb::new(backend).await;
        let db = tdb.connect().await;
        let old = Crypto::from_key(&[1u8; 32]);
        let created = meoktong_storage::webhooks::set_url(
            &db,
            &old,
            7,
            "https://pos.example.com/hook",
            "whsec_old",
            None,
            1,
        )
        .await
        .unwrap();
        assert!(created);
        let rotating = Crypto::rotating(&[2u8; 32], &[1u8; 32]);
        let s = meoktong_storage::rekey::rekey(&db, &rotating)
            .await
            .unwrap();
        assert_eq!(s.webhooks, 1, "{backend:?}");
        let new = Crypto::from_key(&[2u8; 32]);
        let w = meoktong_storage::webhooks::get(&db, &new, 7)
            .await
            .unwrap()
            .unwrap();
        assert_eq!(
            (w.url.as_str(), w.secret.as_str()),
            ("https://pos.example.com/hook", "whsec_old"),
            "{backend:?}: readable with the new key alone"
        );
        assert!(!format!("{w:?}").contains("whsec_old"), "Debug redacts");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_silent_store_heartbeat_is_posted_as_store_offline_then_store_back() {
    use meoktong::commands::heartbeat::{HeartbeatSpec, create_heartbeat};
    let app = spawn(true, |_| {}).await;
    let (url, receiver) = Receiver::start().await;
    let ids = support::import(
        &app.db,
        &app.crypto,
        &[support::shop(
            "바삭 분식",
            "+821011112222",
            "a@example.com",
            &[],
        )],
    )
    .await;
    let secret = "whsec_store";
    meoktong_storage::webhooks::set_url(&app.db, &app.crypto, ids[0], &url, secret, None, now_ms())
        .await
        .unwrap();
    receiver.set_secret(secret);
    let spec = HeartbeatSpec {
        name: "counter POS",
        period: Duration::from_secs(1),
        grace: Duration::from_secs(1),
    };
    let hb = create_heartbeat(&app.db, &app.crypto, &app.address, "010-1111-2222", spec)
        .await
        .unwrap();
    assert_eq!(
        app.client.get(&hb).send().await.unwrap().status(),
        StatusCode::OK
    );

    let got = receiver.wait_for("the store-offline webhook", 1).await;
    assert!(got[0].signature_ok, "{:?}", got[0]);
    assert_eq!(got[0].body["event"], "store_offline");
    assert_eq!(got[0].body["merchant_id"], ids[0]);
    assert!(
        got[0].body["dependencies"][0]["slug"]
            .as_str()
            .unwrap()
            .starts_with("store-internet-")
    );
    assert_eq!(
        app.client.get(&hb).send().await.unwrap().status(),
        StatusCode::OK
    );
    let got = receiver.wait_for("the store-back webhook", 2).await;
    assert_eq!(got[1].body["event"], "store_back");
    assert!(got[1].body["resolved_at"].is_string(), "{}", got[1].body);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_test_button_posts_a_signed_test_event() {
    let app = spawn(true, |_| {}).await;
    let (url, receiver) = Receiver::start().await;
    let c = Client::new(&app);
    let merchant_id = merchant(&c, "시험 가게", "010-2000-0010", "test@example.com").await;
    let no_hook = c
        .submit("/dashboard/contacts", "/dashboard/webhook/test", &[])
        .await;
    assert_eq!(no_hook.status, StatusCode::NOT_FOUND);
    receiver.set_secret(&set_webhook(&c, &url).await);
    let sent = c
        .submit("/dashboard/contacts", "/dashboard/webhook/test", &[])
        .await;
    assert_eq!(sent.status, StatusCode::SEE_OTHER, "{}", sent.body);
    let got = receiver.wait_for("the test event", 1).await;
    assert!(
        got[0].signature_ok && got[0].answered == 204,
        "{:?}",
        got[0]
    );
    assert_eq!(got[0].body["event"], "test");
    assert_eq!(got[0].body["merchant_id"], merchant_id);
    assert!(got[0].body["incident_id"].is_null());
    assert!(got[0].body["text"].as_str().unwrap().contains("테스트"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stored_loopback_url_is_refused_at_send_time_when_private_targets_are_not_allowed() {
    // Saved while the operator allowed private targets, sent after they stopped allowing them.
    let app = spawn(false, |_| {}).await;
    let (url, receiver) = Receiver::start().await;
    let ids = support::import(
        &app.db,
        &app.crypto,
        &[support::shop(
            "가게",
            "+821055556666",
            "g@example.com",
            &[TALK],
        )],
    )
    .await;
    // https, so that the address (not the scheme) is what is refused.
    let url = url.replace("http://", "https://");
    meoktong_storage::webhooks::set_url(
        &app.db,
        &app.crypto,
        ids[0],
        &url,
        "whsec_x",
        None,
        now_ms(),
    )
    .await
    .unwrap();
    open_incident(&app, TALK, Duration::from_secs(30)).await;
    let row = eventually("the webhook row refused", PATIENCE, || async {
        rows(&app, "webhook")
            .await
            .into_iter()
            .find(|r| r.state == "failed")
    })
    .await;
    assert!(
        row.last_error
            .as_deref()
            .unwrap_or_default()
            .contains("SSRF"),
        "{row:?}"
    );
    tokio::time::sleep(SETTLE).await;
    assert!(
        receiver.got().is_empty(),
        "nothing reached the loopback receiver"
    );
}

//! Twilio's webhooks, over real HTTP: signatures, delivery callbacks in any order, and the
//! merchant's SMS replies (acknowledge, STOP, START).
//!
//! The app's `public_url` is a name the test never connects to: signatures must be checked
//! against it, not against the Host header the request arrives with. The Twilio auth token
//! comes from `MEOKTONG_TEST_TWILIO_TOKEN`, which `.cargo/config.toml` sets for every process
//! cargo runs (tests cannot set variables); without it the tests fail rather than skip.
mod notice_fixture;

use meoktong_config::{SmsProviderKind, SmsProviderSettings};
use meoktong_storage::entity::{audit_log, delivery_attempts};
use meoktong_testkit::TwilioStandIn;
use meoktong_tests::{Backend, TestApp, spawn_app_with};
use notice_fixture::{Notice, PHONE, Spec, kakaotalk, notice, notice_row, row};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

const TOKEN_ENV: &str = "MEOKTONG_TEST_TWILIO_TOKEN";
const PUBLIC_URL: &str = "https://alerts.meoktong.test";
const STATUS: &str = "/hooks/twilio/status";
const INBOUND: &str = "/hooks/twilio/inbound";

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

fn twilio_settings(base_url: &str) -> SmsProviderSettings {
    SmsProviderSettings {
        provider: SmsProviderKind::Twilio,
        account_sid: "AC00000000000000000000000000000000".into(),
        from: "+15005550006".into(),
        auth_token_env: TOKEN_ENV.into(),
        base_url: base_url.into(),
        ..SmsProviderSettings::default()
    }
}

/// The app with one Twilio account and the fixture dependency; no workers, so the outbox
/// rows stay exactly where the webhooks put them.
async fn spawn() -> TestApp {
    spawn_app_with(
        Backend::default_for_tests(),
        |s| {
            s.server.public_url = PUBLIC_URL.into();
            s.sms = vec![twilio_settings("http://127.0.0.1:9")];
            s.dependency = vec![kakaotalk()];
        },
        Default::default(),
    )
    .await
}

fn pairs(params: &[(&str, &str)]) -> Vec<(String, String)> {
    params
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect()
}

/// Posts `params` to `path_and_query`, signed with `token` over `signed_url`.
async fn post(
    app: &TestApp,
    path_and_query: &str,
    params: &[(&str, &str)],
    signature: Option<String>,
) -> reqwest::Response {
    let mut req = app
        .client
        .post(app.url(path_and_query))
        .form(&pairs(params));
    if let Some(sig) = signature {
        req = req.header("X-Twilio-Signature", sig);
    }
    req.send().await.expect("post webhook")
}

/// Posts as Twilio would: signed over `{public_url}{path}?{query}`.
async fn post_signed(
    app: &TestApp,
    token: &str,
    path_and_query: &str,
    params: &[(&str, &str)],
) -> reqwest::Response {
    let sig = meoktong_notify::twilio_signature(
        token,
        &format!("{PUBLIC_URL}{path_and_query}"),
        &pairs(params),
    );
    post(app, path_and_query, params, Some(sig)).await
}

async fn callback(
    app: &TestApp,
    token: &str,
    sid: &str,
    status: &str,
    error_code: Option<&str>,
) -> u16 {
    let mut params = vec![
        ("MessageSid", sid),
        ("SmsSid", sid),
        ("MessageStatus", status),
        ("SmsStatus", status),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("From", "+15005550006"),
        ("To", PHONE),
        ("ApiVersion", "2010-04-01"),
    ];
    if let Some(code) = error_code {
        params.push(("ErrorCode", code));
    }
    post_signed(app, token, STATUS, &params)
        .await
        .status()
        .as_u16()
}

async fn reply(app: &TestApp, token: &str, from: &str, body: &str) -> (u16, String, String) {
    let params = [
        ("MessageSid", "SM0123456789abcdef0123456789abcdef"),
        ("AccountSid", "AC00000000000000000000000000000000"),
        ("From", from),
        ("To", "+15005550006"),
        ("Body", body),
        ("NumMedia", "0"),
    ];
    let r = post_signed(app, token, INBOUND, &params).await;
    let status = r.status().as_u16();
    let content_type = r
        .headers()
        .get("content-type")
        .and_then(|v| v.to_str().ok())
        .unwrap_or("")
        .to_string();
    (status, content_type, r.text().await.expect("body"))
}

async fn metrics(app: &TestApp) -> String {
    app.client
        .get(app.url("/metrics"))
        .send()
        .await
        .expect("metrics")
        .text()
        .await
        .expect("body")
}

async fn sms_notice(app: &TestApp) -> Notice {
    let m = notice_fixture::merchant(app, None).await;
    notice(app, &m, Spec::default()).await
}

#[tokio::test]
async fn forged_or_missing_signatures_are_refused_on_both_hooks() {
    let token = twilio_token();
    let app = spawn().await;
    let n = sms_notice(&app).await;
    let sid = n.sid.clone().expect("sid");
    let params = [("MessageSid", sid.as_str()), ("MessageStatus", "delivered")];
    let inbound = [("From", PHONE), ("Body", "STOP")];
    for (path, p) in [(STATUS, &params[..]), (INBOUND, &inbound[..])] {
        let missing = post(&app, path, p, None).await;
        assert_eq!(missing.status(), 403, "{path} without a signature");
        let wrong_token = meoktong_notify::twilio_signature(
            "not-the-token",
            &format!("{PUBLIC_URL}{path}"),
            &pairs(p),
        );
        assert_eq!(
            post(&app, path, p, Some(wrong_token)).await.status(),
            403,
            "{path} signed with another token"
        );
        // Signed over the address the request really went to (the Host header): still wrong.
        let by_host = meoktong_notify::twilio_signature(&token, &app.url(path), &pairs(p));
        assert_eq!(
            post(&app, path, p, Some(by_host)).await.status(),
            403,
            "{path} signed over the Host"
        );
        assert_eq!(
            post(&app, path, p, Some("garbage".into())).await.status(),
            403,
            "{path} garbage signature"
        );
    }
    assert_eq!(
        row(&app, n.sms_id).await.state,
        "accepted",
        "a forged callback changes nothing"
    );
    assert_eq!(row(&app, n.email_id).await.state, "waiting");
    let contacts = meoktong_storage::contacts::by_phone(&app.db, &app.crypto, PHONE)
        .await
        .expect("contacts");
    assert!(
        contacts.iter().all(|c| !c.sms_opted_out),
        "a forged STOP changes nothing"
    );
}

#[tokio::test]
async fn the_query_string_is_part_of_the_signed_url() {
    let token = twilio_token();
    let app = spawn().await;
    let n = sms_notice(&app).await;
    let sid = n.sid.clone().expect("sid");
    let params = [("MessageSid", sid.as_str()), ("MessageStatus", "sent")];
    let path = format!("{STATUS}?attempt=1");
    let without_query = meoktong_notify::twilio_signature(
        &token,
        &format!("{PUBLIC_URL}{STATUS}"),
        &pairs(&params),
    );
    assert_eq!(
        post(&app, &path, &params, Some(without_query))
            .await
            .status(),
        403
    );
    assert_eq!(
        post_signed(&app, &token, &path, &params).await.status(),
        200
    );
}

#[tokio::test]
async fn delivered_cancels_the_waiting_email() {
    let token = twilio_token();
    let app = spawn().await;
    let n = sms_notice(&app).await;
    let sid = n.sid.clone().expect("sid");
    assert_eq!(callback(&app, &token, &sid, "sent", None).await, 200);
    assert_eq!(
        row(&app, n.sms_id).await.state,
        "accepted",
        "`sent` is recorded only"
    );
    assert_eq!(callback(&app, &token, &sid, "delivered", None).await, 200);
    let sms = row(&app, n.sms_id).await;
    assert_eq!(sms.state, "delivered");
    assert!(sms.delivered_at.is_some());
    assert_eq!(
        row(&app, n.email_id).await.state,
        "cancelled",
        "the email fallback is no longer needed"
    );
    let m = metrics(&app).await;
    assert!(
        m.contains(r#"meoktong_notifications_total{channel="sms",outcome="delivered"} 1"#),
        "{m}"
    );
    let attempts = delivery_attempts::Entity::find()
        .filter(delivery_attempts::Column::OutboxId.eq(n.sms_id))
        .all(&app.db.conn)
        .await
        .expect("attempts");
    let outcomes: Vec<&str> = attempts.iter().map(|a| a.outcome.as_str()).collect();
    assert_eq!(outcomes, ["sent", "delivered"]);
}

#[tokio::test]
async fn undelivered_with_an_error_code_sends_the_email_at_once() {
    let token = twilio_token();
    let app = spawn().await;
    let n = sms_notice(&app).await;
    let sid = n.sid.clone().expect("sid");
    assert_eq!(
        callback(&app, &token, &sid, "undelivered", Some("30003")).await,
        200
    );
    let sms = row(&app, n.sms_id).await;
    assert_eq!(sms.state, "failed");
    assert!(
        sms.last_error.as_deref().unwrap_or("").contains("30003"),
        "{:?}",
        sms.last_error
    );
    let email = row(&app, n.email_id).await;
    assert_eq!(email.state, "pending", "the email is due now");
    assert!(email.next_attempt_at <= meoktong_storage::now_ms());
    let attempt = delivery_attempts::Entity::find()
        .filter(delivery_attempts::Column::OutboxId.eq(n.sms_id))
        .one(&app.db.conn)
        .await
        .expect("query")
        .expect("the callback is recorded");
    assert_eq!(attempt.outcome, "undelivered");
    assert_eq!(attempt.error_code.as_deref(), Some("30003"));
    let m = metrics(&app).await;
    assert!(
        m.contains(r#"meoktong_notifications_total{channel="sms",outcome="failed"} 1"#),
        "{m}"
    );
    // A duplicate changes nothing and counts nothing.
    assert_eq!(
        callback(&app, &token, &sid, "undelivered", Some("30003")).await,
        200
    );
    assert_eq!(row(&app, n.email_id).await.state, "pending");
    let m = metrics(&app).await;
    assert!(
        m.contains(r#"meoktong_notifications_total{channel="sms",outcome="failed"} 1"#),
        "{m}"
    );
}

#[tokio::test]
async fn duplicate_and_late_callbacks_never_undo_delivered() {
    let token = twilio_token();
    let app = spawn().await;
    let n = sms_notice(&app).await;
    let sid = n.sid.clone().expect("sid");
    for (status, code) in [
        ("delivered", None),
        ("delivered", None),
        ("sent", None),
        ("queued", None),
        ("failed", Some("30008")),
        ("undelivered", Some("30003")),
    ] {
        assert_eq!(
            callback(&app, &token, &sid, status, code).await,
            200,
            "{status}"
        );
        assert_eq!(
            row(&app, n.sms_id).await.state,
            "delivered",
            "after a late `{status}`"
        );
        assert_eq!(
            row(&app, n.email_id).await.state,
            "cancelled",
            "after a late `{status}`"
        );
    }
    let m = metrics(&app).await;
    assert!(
        m.contains(r#"meoktong_notifications_total{channel="sms",outcome="delivered"} 1"#),
        "{m}"
    );
    assert!(!m.contains(r#"outcome="failed"} 1"#), "{m}");
}

#[tokio::test]
async fn an_unknown_message_sid_is_acknowledged_and_ignored() {
    let token = twilio_token();
    let app = spawn().await;
    let n = sms_notice(&app).await;
    assert_eq!(
        callback(
            &app,
            &token,
            "SMffffffffffffffffffffffffffffffff",
            "failed",
            Some("30003")
        )
        .await,
        200
    );
    assert_eq!(row(&app, n.sms_id).await.state, "accepted");
    assert_eq!(row(&app, n.email_id).await.state, "waiting");
}

#[tokio::test]
async fn replying_hwagin_acknowledges_the_latest_alert() {
    let token = twilio_token();
    let app = spawn().await;
    let m = notice_fixture::merchant(&app, None).await;
    // The SMS is still queued and the email waiting: the reply stops both.
    let n = notice(
        &app,
        &m,
        Spec {
            sms_state: "pending",
            sid: None,
            ..Spec::default()
        },
    )
    .await;
    let (status, content_type, body) = reply(&app, &token, PHONE, " 확인 ").await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/xml"),
        "{content_type}"
    );
    assert!(
        body.contains("<Response><Message>") && body.contains("확인"),
        "{body}"
    );
    let notice = notice_row(&app, n.id).await;
    assert_eq!(notice.status, "acked");
    assert_eq!(notice.acked_via.as_deref(), Some("sms"));
    assert_eq!(row(&app, n.sms_id).await.state, "cancelled");
    assert_eq!(row(&app, n.email_id).await.state, "cancelled");
    let ack = meoktong_storage::entity::acknowledgements::Entity::find()
        .filter(meoktong_storage::entity::acknowledgements::Column::NoticeId.eq(n.id))
        .one(&app.db.conn)
        .await
        .expect("query")
        .expect("an acknowledgement row");
    assert_eq!(ack.contact_id, Some(m.contact_id));
    // Again: still one short answer, nothing else changes.
    let (status, _, body) = reply(&app, &token, PHONE, "ok").await;
    assert_eq!(status, 200);
    assert!(body.contains("<Message>"), "{body}");
}

#[tokio::test]
async fn stop_and_start_opt_out_and_back_in() {
    let token = twilio_token();
    let app = spawn().await;
    let m = notice_fixture::merchant(&app, None).await;
    let opted_out = || async {
        meoktong_storage::contacts::by_phone(&app.db, &app.crypto, PHONE)
            .await
            .expect("contacts")[0]
            .sms_opted_out
    };
    let (status, content_type, _) = reply(&app, &token, PHONE, "STOP").await;
    assert_eq!(status, 200);
    assert!(
        content_type.starts_with("application/xml"),
        "{content_type}"
    );
    assert!(opted_out().await);
    let audit = audit_log::Entity::find()
        .filter(audit_log::Column::Action.eq("contact.sms_opt_out"))
        .one(&app.db.conn)
        .await
        .expect("query")
        .expect("the opt-out is audited");
    assert_eq!(audit.target_id, Some(m.contact_id));
    assert!(
        !audit.detail.contains("12345678"),
        "no full phone number in the audit log: {}",
        audit.detail
    );
    assert_eq!(reply(&app, &token, PHONE, "start").await.0, 200);
    assert!(!opted_out().await);
    assert_eq!(reply(&app, &token, PHONE, "unsubscribe").await.0, 200);
    assert!(opted_out().await);
    assert_eq!(reply(&app, &token, PHONE, "UNSTOP").await.0, 200);
    assert!(!opted_out().await);
}

#[tokio::test]
async fn other_replies_and_strangers_get_an_empty_response() {
    let token = twilio_token();
    let app = spawn().await;
    let m = notice_fixture::merchant(&app, None).await;
    let n = notice(&app, &m, Spec::default()).await;
    let (status, content_type, body) = reply(&app, &token, PHONE, "언제 복구돼요?").await;
    assert_eq!(
        (status, body.contains("<Response/>")),
        (200, true),
        "{body}"
    );
    assert!(content_type.starts_with("application/xml"));
    let (status, _, body) = reply(&app, &token, "+821099998888", "확인").await;
    assert_eq!(
        (status, body.contains("<Response/>")),
        (200, true),
        "{body}"
    );
    assert_eq!(
        notice_row(&app, n.id).await.status,
        "open",
        "a stranger cannot acknowledge"
    );
}

/// The whole loop with the Twilio stand-in: the dispatcher sends the SMS with its
/// `StatusCallback`, the stand-in reports it undelivered (signed its own way), the email goes
/// out at once; the merchant's `확인` reply stops the alert.
#[tokio::test]
async fn stand_in_callbacks_and_replies_drive_the_outbox() {
    let token = twilio_token();
    let twilio = TwilioStandIn::start("AC00000000000000000000000000000000", &token).await;
    // The harness sets public_url to the app's real address, which the stand-in calls back.
    let base = twilio.base_url();
    let app = spawn_app_with(
        Backend::default_for_tests(),
        |s| {
            s.sms = vec![twilio_settings(&base)];
            s.dependency = vec![kakaotalk()];
            s.probe.enabled = false;
        },
        meoktong::BuildOptions {
            run_workers: true,
            ..Default::default()
        },
    )
    .await;
    let m = notice_fixture::merchant(&app, None).await;
    // Written as `pending`: the dispatcher sends it. The planner has nothing to add: the
    // fixture's notice already covers the incident.
    let n = notice(
        &app,
        &m,
        Spec {
            sms_state: "pending",
            sid: None,
            ..Spec::default()
        },
    )
    .await;
    let sent = twilio
        .wait_for_messages(1, std::time::Duration::from_secs(20))
        .await
        .expect("the SMS reaches Twilio");
    let sid = sent[0].sid.clone();
    assert_eq!(
        sent[0].status_callback.as_deref(),
        Some(format!("http://127.0.0.1:{}{STATUS}", app.port).as_str())
    );
    wait_for_state(&app, n.sms_id, "accepted").await;
    assert_eq!(
        twilio
            .send_status_callback(&sid, "sent", None)
            .await
            .expect("callback"),
        200
    );
    assert_eq!(
        twilio
            .send_status_callback(&sid, "undelivered", Some(30003))
            .await
            .expect("callback"),
        200
    );
    assert_eq!(row(&app, n.sms_id).await.state, "failed");
    // Dev mode writes email to the dev outbox: the fallback is sent, not just due.
    wait_for_state(&app, n.email_id, "accepted").await;
    let r = twilio
        .send_inbound(&app.url(INBOUND), PHONE, "확인")
        .await
        .expect("inbound");
    assert_eq!(r.status, 200);
    assert!(r.body.contains("<Message>"), "{}", r.body);
    assert_eq!(notice_row(&app, n.id).await.status, "acked");
    let forged = twilio
        .send_status_callback_signed(&sid, "delivered", None, meoktong_testkit::Signing::Wrong)
        .await
        .expect("callback");
    assert_eq!(forged.status, 403);
}

async fn wait_for_state(app: &TestApp, id: i64, state: &str) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(20);
    loop {
        let current = row(app, id).await.state;
        if current == state {
            return;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "outbox row {id} stayed `{current}`, expected `{state}`"
        );
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
}

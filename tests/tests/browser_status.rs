//! Status communication (issue 20) end to end: a visitor subscribes by email in headless
//! Chromium (the confirmation crosses a real SMTP conversation), an operator at 1280 px
//! declares an incident, posts two updates and resolves it, the subscriber gets three
//! messages and leaves with one click. Beside it, without a browser: an SMS subscription
//! confirmed by code, the abuse limits, a maintenance window told as `[점검]` and missing
//! from uptime, Kakao's -9798 told as maintenance, a declared incident reaching subscribed
//! merchants, and a false alarm correcting exactly those who were told.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod browser_kit;
mod common;
mod support;

use browser_kit::*;
use common::Client as Http;
use fantoccini::Locator;
use meoktong::BuildOptions;
use meoktong_config::{EmailSettings, Settings, SmsProviderSettings};
use meoktong_probe::simulator::{Mode, Service, Simulator};
use meoktong_storage::entity::{incidents, notices, outbox, status_subscribers};
use meoktong_storage::status_comms::maintenance::{self, NewWindow};
use meoktong_storage::{catalog, now_ms};
use meoktong_testkit::SmtpServer;
use meoktong_tests::{Backend, TestApp, spawn_app_with};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use std::path::Path;
use std::time::Duration;
use support::{PATIENCE, SETTLE, eventually};

const OPERATOR: &str = "ops@example.com";
const OPERATOR_PASSWORD: &str = "operator password 1";

async fn operator(app: &TestApp) {
    let hash =
        tokio::task::spawn_blocking(|| meoktong_web::auth::password::hash(OPERATOR_PASSWORD))
            .await
            .unwrap()
            .unwrap();
    meoktong_storage::users::create(
        &app.db,
        &app.crypto,
        meoktong_storage::users::NewUser {
            email: OPERATOR,
            password_hash: &hash,
            role: "operator",
            merchant_id: None,
            association_id: None,
        },
        "test",
    )
    .await
    .unwrap();
}

/// The presets (no probes: incidents come from the operator), a log SMS provider, the SMTP
/// stand-in as `[email]`, a one-second group window.
async fn app_with(smtp: Option<&SmtpServer>, tweak: impl FnOnce(&mut Settings)) -> TestApp {
    let smtp_url = smtp.map(|s| s.url());
    spawn_app_with(
        Backend::default_for_tests(),
        move |s| {
            s.catalog.enable = common::PRESETS.iter().map(|p| p.to_string()).collect();
            s.catalog.kakaotalk_channel = Some("_MeoktongTest".into());
            s.probe.enabled = false;
            s.sms = vec![SmsProviderSettings::default()];
            s.email = smtp_url.map(|smtp_url| EmailSettings {
                smtp_url,
                from: "Meoktong <alerts@meoktong.example>".into(),
                password_env: None,
            });
            s.detection.group_window = Duration::from_secs(1);
            tweak(s);
        },
        BuildOptions {
            run_workers: true,
            ..BuildOptions::default()
        },
    )
    .await
}

/// Mails the SMTP stand-in received for `to`, oldest first.
fn mails_to(smtp: &SmtpServer, to: &str) -> Vec<String> {
    smtp.received()
        .into_iter()
        .filter(|m| m.to.iter().any(|t| t.contains(to)))
        .map(|m| m.text().unwrap_or_default())
        .collect()
}

async fn mails(smtp: &SmtpServer, to: &str, n: usize) -> Vec<String> {
    eventually(&format!("{n} mails to {to}"), PATIENCE, || async {
        let m = mails_to(smtp, to);
        (m.len() >= n).then_some(m)
    })
    .await
}

fn path_in(text: &str, prefix: &str) -> String {
    let at = text
        .find(prefix)
        .unwrap_or_else(|| panic!("{prefix} in {text}"));
    text[at..].split_whitespace().next().unwrap().to_string()
}

async fn newest_incident(app: &TestApp) -> incidents::Model {
    incidents::Entity::find()
        .order_by_desc(incidents::Column::Id)
        .one(&app.db.conn)
        .await
        .unwrap()
        .expect("an incident")
}

#[tokio::test]
async fn a_visitor_subscribes_by_email_hears_two_updates_and_the_recovery_then_leaves_in_one_click()
{
    if !Path::new(CHROMIUM).exists() || !Path::new(CHROMEDRIVER).exists() {
        assert!(
            std::env::var("MEOKTONG_SKIP_BROWSER").is_ok_and(|v| v == "1"),
            "chromium and chromedriver are not installed; MEOKTONG_SKIP_BROWSER=1 skips this test"
        );
        return;
    }
    let smtp = SmtpServer::start().await;
    let app = app_with(Some(&smtp), |_| {}).await;
    operator(&app).await;
    let (_driver, driver_url) = start_driver().await;
    let ops_profile = tempfile::tempdir().unwrap();
    let ops = desktop(&driver_url, ops_profile.path()).await;

    // The operator declares what the probes missed: Talk channel messages not arriving.
    ops.goto(&app.url("/login")).await.unwrap();
    fill(&ops, "#f-email", OPERATOR).await;
    fill(&ops, "#f-password", OPERATOR_PASSWORD).await;
    click_to(&ops, "button.primary", "/operator").await;
    click(&ops, "#declare-form input[value='kakaotalk-channel']").await;
    fill(
        &ops,
        "#declare-form textarea[name=text]",
        "카카오톡 채널 메시지가 늦게 도착합니다.",
    )
    .await;
    click_to(&ops, "#declare-form button.primary", "/operator?done=saved").await;
    let incident = newest_incident(&app).await;
    assert!(incident.resolved_at.is_none());

    // A passer-by sees it on the status page and subscribes by email.
    let profile = tempfile::tempdir().unwrap();
    let c = browser(&driver_url, profile.path()).await;
    c.goto(&app.url("/status")).await.unwrap();
    let page = c.source().await.unwrap();
    assert!(page.contains("일부 서비스 장애"), "the banner: {page}");
    assert!(page.contains("마지막 확인"), "{page}");
    assert!(
        page.contains("카카오톡 채널 메시지가 늦게 도착합니다."),
        "{page}"
    );
    shot(&c, "status").await;
    click_to(&c, "a[href='/status/subscribe']", "/status/subscribe").await;
    click(&c, "input[value='kakaotalk-channel']").await;
    fill(&c, "#address", "visitor@example.com").await;
    click_to(&c, "button.primary", "/status/subscribe/sent").await;
    let confirmation = mails(&smtp, "visitor@example.com", 1).await.remove(0);
    let link = path_in(&confirmation, "/status/subscribe/confirm/");
    let link = link.trim_start_matches(app.address.as_str()).to_string();
    // Nothing is sent before the confirmation.
    let pending = status_subscribers::Entity::find()
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert!(pending.confirmed_at.is_none());
    c.goto(&app.url(&link)).await.unwrap();
    click(&c, "#confirm").await;
    let done = page_saying(&c, "구독되었습니다").await;
    assert!(
        done.contains("/u/"),
        "the page offers the way out too: {done}"
    );

    // Two updates and the recovery, each after the group window: three messages.
    let update_form = format!("#op-incident-{} form.update-form", incident.id);
    for (status, body) in [
        (
            "identified",
            "카카오 데이터센터 전원 문제로 확인되었습니다.",
        ),
        ("monitoring", "복구 조치 후 지켜보고 있습니다."),
        ("resolved", "정상화되었습니다."),
    ] {
        let before = mails_to(&smtp, "visitor@example.com").len();
        ops.goto(&app.url("/operator")).await.unwrap();
        ops.find(Locator::Css(&format!("{update_form} select[name=status]")))
            .await
            .unwrap()
            .select_by_value(status)
            .await
            .unwrap();
        fill(&ops, &format!("{update_form} textarea[name=body]"), body).await;
        click_to(
            &ops,
            &format!("{update_form} button.primary"),
            "/operator?done=saved",
        )
        .await;
        let got = mails(&smtp, "visitor@example.com", before + 1).await;
        let last = got.last().unwrap();
        assert!(last.contains(body), "{last}");
        assert!(
            last.contains("/u/"),
            "every message can unsubscribe: {last}"
        );
    }
    let all = mails_to(&smtp, "visitor@example.com");
    assert_eq!(all.len(), 4, "the confirmation and three updates: {all:#?}");
    assert!(
        newest_incident(&app).await.resolved_at.is_some(),
        "resolved by hand"
    );

    // The incident page shows the timeline.
    c.goto(&app.url(&format!("/status/incidents/{}", incident.id)))
        .await
        .unwrap();
    let page = c.source().await.unwrap();
    for words in [
        "조사 중",
        "원인 확인",
        "모니터링",
        "복구",
        "운영자가 확인한 장애",
    ] {
        assert!(page.contains(words), "{words}: {page}");
    }
    shot(&c, "status-incident").await;
    c.goto(&app.url("/status/kakaotalk-channel")).await.unwrap();
    shot(&c, "status-dependency").await;

    // One click on the link in the last message, and nothing more arrives.
    let unsubscribe = path_in(all.last().unwrap(), "/u/");
    let unsubscribe = unsubscribe
        .trim_start_matches(app.address.as_str())
        .to_string();
    c.goto(&app.url(&unsubscribe)).await.unwrap();
    let page = c.source().await.unwrap();
    assert!(page.contains("구독이 해지되었습니다"), "{page}");
    ops.goto(&app.url("/operator")).await.unwrap();
    ops.find(Locator::Css(&format!("{update_form} select[name=status]")))
        .await
        .unwrap()
        .select_by_value("monitoring")
        .await
        .unwrap();
    fill(
        &ops,
        &format!("{update_form} textarea[name=body]"),
        "사후 점검 중",
    )
    .await;
    click_to(
        &ops,
        &format!("{update_form} button.primary"),
        "/operator?done=saved",
    )
    .await;
    tokio::time::sleep(SETTLE).await;
    assert_eq!(
        mails_to(&smtp, "visitor@example.com").len(),
        4,
        "unsubscribed"
    );
    let feed = app
        .client
        .get(app.url("/status/feed.atom"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(feed.contains("KST") && feed.contains("원인 확인"), "{feed}");
    let json: serde_json::Value = app
        .client
        .get(app.url("/status.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let inc = &json["incidents"][0];
    assert_eq!(inc["declared"], true, "{json}");
    assert!(inc["updates"].as_array().unwrap().len() >= 4, "{json}");
    c.close().await.unwrap();
    ops.close().await.unwrap();
}

/// Waits (up to 5 s) for the page to say `words` (a form posted to its own address).
async fn page_saying(c: &fantoccini::Client, words: &str) -> String {
    for _ in 0..50 {
        let page = c.source().await.unwrap();
        if page.contains(words) {
            return page;
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    panic!("the page never said {words}: {}", c.source().await.unwrap());
}

/// The newest SMS body queued to `e164`.
async fn sms_to(app: &TestApp, e164: &str) -> Option<String> {
    outbox::Entity::find()
        .filter(outbox::Column::Channel.eq("sms"))
        .order_by_desc(outbox::Column::Id)
        .all(&app.db.conn)
        .await
        .unwrap()
        .into_iter()
        .find(|m| {
            app.crypto
                .decrypt(&m.recipient_enc)
                .is_ok_and(|r| r == e164)
        })
        .map(|m| m.body)
}

async fn subscribe(http: &Http<'_>, channel: &str, address: &str) -> common::Page {
    http.submit(
        "/status/subscribe",
        "/status/subscribe",
        &[
            ("dep", "kakao-login"),
            ("channel", channel),
            ("address", address),
        ],
    )
    .await
}

#[tokio::test]
async fn an_sms_subscription_is_confirmed_by_code_and_the_limits_hold() {
    let app = app_with(None, |_| {}).await;
    let http = Http::new(&app);
    // No service chosen, a bad number: the form says so.
    let page = http
        .submit(
            "/status/subscribe",
            "/status/subscribe",
            &[("channel", "sms"), ("address", "010-1111-2222")],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = subscribe(&http, "sms", "02-123-4567").await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY, "a landline");
    // Without the form's CSRF token: refused.
    let page = http
        .post(
            "/status/subscribe",
            &[
                ("dep", "kakao-login"),
                ("channel", "sms"),
                ("address", "010-5555-0000"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);

    let page = subscribe(&http, "sms", "010-5555-0001").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let code_page = page.location.unwrap();
    assert!(code_page.starts_with("/status/subscribe/code?s="));
    let id = code_page.rsplit('=').next().unwrap().to_string();
    let sms = sms_to(&app, "+821055550001").await.expect("a code by SMS");
    let code = common::six_digits(&sms);
    let wrong = if code == "000000" { "111111" } else { "000000" };
    let page = http
        .submit(
            &code_page,
            "/status/subscribe/code",
            &[("s", &id), ("code", wrong)],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    let page = http
        .submit(
            &code_page,
            "/status/subscribe/code",
            &[("s", &id), ("code", &code)],
        )
        .await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(page.body.contains("구독되었습니다"), "{}", page.body);
    let s = status_subscribers::Entity::find_by_id(id.parse::<i64>().unwrap())
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert!(s.confirmed_at.is_some());

    // Per number: three confirmations a day, whatever else happens.
    for _ in 0..2 {
        assert_eq!(
            subscribe(&http, "sms", "010-5555-0001").await.status,
            StatusCode::SEE_OTHER
        );
    }
    let page = subscribe(&http, "sms", "010-5555-0001").await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(
        page.body.contains("오늘 확인 메시지를 더 보낼 수 없습니다"),
        "{}",
        page.body
    );
    // Per client address: ten SMS sign-ups per four hours (the three above, the refused one
    // among them, count too).
    let mut refused_at = None;
    for n in 2..20 {
        let page = subscribe(&http, "sms", &format!("010-5555-{n:04}")).await;
        if page.status == StatusCode::TOO_MANY_REQUESTS {
            assert!(
                page.body.contains("여기서 신청이 너무 많았습니다"),
                "{}",
                page.body
            );
            refused_at = Some(n);
            break;
        }
    }
    assert_eq!(refused_at, Some(8), "4 sign-ups, then 6 more, then refused");
    // Email has its own budget per client.
    let page = subscribe(&http, "email", "someone@example.com").await;
    assert_eq!(page.status, StatusCode::SEE_OTHER);
}

async fn merchant(app: &TestApp, name: &str, phone: &str, email: &str, deps: &[&str]) -> i64 {
    support::import(
        &app.db,
        &app.crypto,
        &[support::shop(name, phone, email, deps)],
    )
    .await[0]
}

async fn sent_sms_of(app: &TestApp, merchant_id: i64, kind: &str) -> String {
    eventually(
        &format!("a {kind} SMS to {merchant_id}"),
        PATIENCE,
        || async {
            support::sent_sms(&app.db, merchant_id, kind)
                .await
                .map(|m| m.body)
        },
    )
    .await
}

/// Kakao Login probed every second at the simulator.
async fn probed_app(sim: &meoktong_probe::simulator::SimulatorHandle) -> TestApp {
    let dep = support::simulated(&sim.base_url(), "kakao-login", Duration::from_secs(1));
    spawn_app_with(
        Backend::default_for_tests(),
        move |s| {
            s.dependency = vec![dep];
            s.sms = vec![SmsProviderSettings::default()];
            s.detection.group_window = Duration::from_secs(1);
        },
        BuildOptions {
            run_workers: true,
            ..BuildOptions::default()
        },
    )
    .await
}

async fn uptime_of(app: &TestApp) -> String {
    let page = app
        .client
        .get(app.url("/status/kakao-login"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    let at = page.find("가용률").expect("an uptime label");
    page[at..].split('%').next().unwrap().to_string()
}

#[tokio::test]
async fn an_outage_in_a_maintenance_window_is_told_as_maintenance_and_left_out_of_uptime() {
    let sim = Simulator::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let app = probed_app(&sim).await;
    let shop = merchant(
        &app,
        "점검분식",
        "+821066660001",
        "a@example.com",
        &["kakao-login"],
    )
    .await;
    let dep = catalog::dependency_by_slug(&app.db, "kakao-login")
        .await
        .unwrap()
        .unwrap();
    let now = now_ms();
    maintenance::schedule(
        &app.db,
        NewWindow {
            dependency_id: dep.id,
            starts_at: now - 1000,
            ends_at: now + 3_600_000,
            title: "카카오 로그인 정기 점검",
            source: "config",
            user_id: None,
        },
        now,
    )
    .await
    .unwrap();
    sim.set_mode(Service::parse("kakao-login").unwrap(), Mode::Down);
    let sms = sent_sms_of(&app, shop, "down").await;
    assert!(sms.starts_with("[점검] "), "{sms}");
    assert!(sms.contains("점검 중입니다"), "{sms}");
    // Let the outage last a few seconds: it still does not count against uptime.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let up = uptime_of(&app).await;
    assert!(up.ends_with("100.00"), "{up}");
    let page = app
        .client
        .get(app.url("/status"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        page.contains("카카오 로그인 정기 점검") && page.contains("점검"),
        "{page}"
    );
}

#[tokio::test]
async fn kakaos_maintenance_answer_is_told_as_maintenance_without_a_window() {
    let sim = Simulator::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let app = probed_app(&sim).await;
    let shop = merchant(
        &app,
        "코드분식",
        "+821066660002",
        "b@example.com",
        &["kakao-login"],
    )
    .await;
    // Kakao answers 200 with {"code": -9798, "msg": "서비스 점검중입니다."}.
    sim.set_mode(Service::parse("kakao-login").unwrap(), Mode::ProviderError);
    let sms = sent_sms_of(&app, shop, "down").await;
    assert!(sms.starts_with("[점검] "), "{sms}");
    // A plain outage is still an outage.
    let sim2 = Simulator::start("127.0.0.1:0".parse().unwrap())
        .await
        .unwrap();
    let app2 = probed_app(&sim2).await;
    let shop2 = merchant(
        &app2,
        "장애분식",
        "+821066660003",
        "c@example.com",
        &["kakao-login"],
    )
    .await;
    sim2.set_mode(Service::parse("kakao-login").unwrap(), Mode::Down);
    let sms = sent_sms_of(&app2, shop2, "down").await;
    assert!(sms.starts_with("[장애] "), "{sms}");
}

async fn sign_in_operator(app: &TestApp) -> Http<'_> {
    operator(app).await;
    let http = Http::new(app);
    let page = http
        .submit(
            "/login",
            "/login",
            &[("email", OPERATOR), ("password", OPERATOR_PASSWORD)],
        )
        .await;
    assert_eq!(page.location.as_deref(), Some("/operator"));
    http
}

#[tokio::test]
async fn a_declared_incident_reaches_subscribed_merchants_and_a_false_alarm_corrects_exactly_them()
{
    let smtp = SmtpServer::start().await;
    let app = app_with(Some(&smtp), |_| {}).await;
    let told = merchant(
        &app,
        "채널분식",
        "+821077770001",
        "t@example.com",
        &["kakaotalk-channel"],
    )
    .await;
    let other = merchant(
        &app,
        "토스분식",
        "+821077770002",
        "o@example.com",
        &["toss-payments"],
    )
    .await;
    let ops = sign_in_operator(&app).await;
    // A merchant cannot declare, nor can a form without the session's CSRF token.
    let no_csrf = ops
        .post(
            "/operator/incidents",
            &[("dep", "kakaotalk-channel"), ("text", "x")],
        )
        .await;
    assert_eq!(no_csrf.status, StatusCode::FORBIDDEN);
    let page = ops
        .submit(
            "/operator",
            "/operator/incidents",
            &[
                ("dep", "kakaotalk-channel"),
                ("text", "채널 메시지 수신 지연"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let sms = sent_sms_of(&app, told, "down").await;
    assert!(
        sms.starts_with("[장애] "),
        "told as for a probe-detected one: {sms}"
    );
    let incident = newest_incident(&app).await;
    let audit = meoktong_storage::entity::audit_log::Entity::find()
        .filter(meoktong_storage::entity::audit_log::Column::Action.eq("incident.declare"))
        .all(&app.db.conn)
        .await
        .unwrap();
    assert_eq!(audit.len(), 1);

    // Before it is called off, the damage-report form opens this outage.
    let form_of = |id: i64| {
        let (client, url) = (
            app.client.clone(),
            app.url(&format!("/reports/new?incident={id}")),
        );
        async move { client.get(url).send().await.unwrap().text().await.unwrap() }
    };
    let before = form_of(incident.id).await;
    assert!(before.contains("id=\"windows\""), "{before}");
    // False alarm: one correction, to the merchant who was told, on the channel they were told.
    let page = ops
        .submit(
            "/operator",
            &format!("/operator/incidents/{}/false-alarm", incident.id),
            &[],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    let correction = eventually("a correction", PATIENCE, || async {
        notices::Entity::find()
            .filter(notices::Column::Kind.eq("correction"))
            .all(&app.db.conn)
            .await
            .ok()
            .filter(|v| !v.is_empty())
    })
    .await;
    assert_eq!(correction.len(), 1, "one correction");
    assert_eq!(correction[0].merchant_id, told);
    let msg = outbox::Entity::find()
        .filter(outbox::Column::NoticeId.eq(correction[0].id))
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(msg.channel, "sms");
    assert!(
        msg.body.starts_with("[정정] ") && msg.body.contains("오경보"),
        "{}",
        msg.body
    );
    assert_eq!(
        app.crypto.decrypt(&msg.recipient_enc).unwrap(),
        "+821077770001"
    );
    tokio::time::sleep(SETTLE).await;
    assert!(
        support::notices_of(&app.db, other, "correction")
            .await
            .is_empty()
    );
    assert!(
        support::notices_of(&app.db, told, "recovery")
            .await
            .is_empty(),
        "a false alarm is not followed by a recovery"
    );
    // It leaves uptime: 100 % again, and the incident reads as a false alarm.
    let page = app
        .client
        .get(app.url(&format!("/status/incidents/{}", incident.id)))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(page.contains("오경보"), "{page}");
    // And it leaves the damage-report flow: no event to report, not offered in the list.
    let after = form_of(incident.id).await;
    assert!(!after.contains("id=\"windows\""), "{after}");
    assert!(
        !after.contains(&format!("<option value=\"{}\"", incident.id)),
        "{after}"
    );
    let dep_page = app
        .client
        .get(app.url("/status/kakaotalk-channel"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(dep_page.contains("100.00%"), "{dep_page}");
    // The badge says the state and the uptime.
    let badge = app
        .client
        .get(app.url("/status/kakaotalk-channel/badge.svg"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        badge.headers()["content-type"],
        "image/svg+xml; charset=utf-8"
    );
    let svg = badge.text().await.unwrap();
    assert!(svg.starts_with("<svg") && svg.contains("100.00%"), "{svg}");
}

//! What guards every page and endpoint: JSON errors everywhere under `/api/v1`, localized
//! HTML error pages elsewhere, CSRF on the remaining forms, anti-framing headers, limits on
//! the SMS a signed-up user can trigger, and language links that keep the page's query.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod common;
mod reports_world;

use common::Client;
use meoktong_storage::entity::{damage_reports, merchants};
use meoktong_storage::{accounts, contact_book, now_ms, users};
use reports_world::{get, good, merchant, only_report, recovery_link, sign_in, submit, world};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use serde_json::{Value, json};

/// An app with a few presets that need no operator settings.
async fn app() -> meoktong_tests::TestApp {
    meoktong_tests::spawn_app_with(
        meoktong_tests::Backend::default_for_tests(),
        |s| {
            s.catalog.enable = ["kakao-login", "naver-login", "toss-payments"]
                .iter()
                .map(|p| p.to_string())
                .collect()
        },
        meoktong::BuildOptions::default(),
    )
    .await
}

async fn api_token(c: &Client<'_>) -> String {
    let page = c
        .submit(
            "/dashboard/tokens",
            "/dashboard/tokens",
            &[("name", "test")],
        )
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

async fn merchant_id(app: &meoktong_tests::TestApp, name: &str) -> i64 {
    merchants::Entity::find()
        .filter(merchants::Column::BusinessName.eq(name))
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap()
        .id
}

fn assert_json_error(status: StatusCode, body: &str, want: StatusCode, error: &str) -> Value {
    assert_eq!(status, want, "{body}");
    let v: Value = serde_json::from_str(body).unwrap_or_else(|_| panic!("JSON, got «{body}»"));
    assert_eq!(v["error"], error, "{v}");
    assert!(v["message"].as_str().is_some_and(|m| !m.is_empty()), "{v}");
    assert!(v.get("field").is_some(), "{v}");
    v
}

#[tokio::test]
async fn api_errors_are_json_for_bad_parameters_unknown_paths_and_wrong_methods() {
    let app = app().await;
    let c = Client::new(&app);
    c.sign_up("JSON 가게", "010-3100-0001", "json@example.com")
        .await;
    let t = api_token(&c).await;
    let send = |method: reqwest::Method, path: &str| {
        app.client
            .request(method, app.url(path))
            .bearer_auth(&t)
            .send()
    };
    let cases = [
        ("/api/v1/incidents/abc", "id"),
        ("/api/v1/me/notifications?limit=x", "limit"),
        ("/api/v1/reports?incident=x", "incident"),
        ("/api/v1/me/notifications/1x", "id"),
    ];
    for (path, field) in cases {
        let r = send(reqwest::Method::GET, path).await.unwrap();
        let (status, body) = (r.status(), r.text().await.unwrap());
        let v = assert_json_error(status, &body, StatusCode::BAD_REQUEST, "bad_request");
        assert_eq!(v["field"], field, "{path}: {v}");
    }
    let r = send(reqwest::Method::GET, "/api/v1/no-such-thing")
        .await
        .unwrap();
    let (status, body) = (r.status(), r.text().await.unwrap());
    assert_json_error(status, &body, StatusCode::NOT_FOUND, "not_found");
    let r = send(reqwest::Method::DELETE, "/api/v1/incidents")
        .await
        .unwrap();
    assert!(r.headers().get("allow").is_some(), "Allow is kept");
    let (status, body) = (r.status(), r.text().await.unwrap());
    assert_json_error(
        status,
        &body,
        StatusCode::METHOD_NOT_ALLOWED,
        "method_not_allowed",
    );
    // A JSON body that does not parse, and one of the wrong type.
    let r = app
        .client
        .post(app.url("/api/v1/me/contacts"))
        .bearer_auth(&t)
        .header("content-type", "text/plain")
        .body("hello")
        .send()
        .await
        .unwrap();
    let (status, body) = (r.status(), r.text().await.unwrap());
    assert!(status.is_client_error());
    serde_json::from_str::<Value>(&body).unwrap();
}

#[tokio::test]
async fn a_stale_csrf_token_on_a_page_gets_a_small_localized_html_page() {
    let app = app().await;
    let c = Client::new(&app);
    c.sign_up("폼 가게", "010-3100-0002", "form@example.com")
        .await;
    let stale = [("csrf", "stale-token-stale-token-stale-token-xx")];
    let r = app
        .client
        .post(app.url("/dashboard/tokens"))
        .header("cookie", c.cookies())
        .form(&stale)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN);
    let ct = r.headers()["content-type"].to_str().unwrap().to_string();
    assert!(ct.starts_with("text/html"), "{ct}");
    let body = r.text().await.unwrap();
    assert!(body.contains("<html lang=\"ko\">"), "{body}");
    assert!(
        body.contains("보안 확인 값이 없거나 만료되었습니다"),
        "{body}"
    );
    assert!(!body.contains("\"error\""), "no raw JSON: {body}");

    // Once English is chosen (remembered in `mt_lang`), the page is in English.
    assert_eq!(c.get("/dashboard?lang=en").await.status, StatusCode::OK);
    assert!(c.cookies().contains("mt_lang=en"));
    let page = c.post("/dashboard/tokens", &stale).await;
    assert_eq!(page.status, StatusCode::FORBIDDEN);
    assert!(page.body.contains("<html lang=\"en\">"));
    assert!(page.body.contains("security token"), "{}", page.body);

    // An unknown page is a page too; the API keeps JSON.
    let page = c.get("/no/such/page").await;
    assert_eq!(page.status, StatusCode::NOT_FOUND);
    assert!(page.body.contains("There is no such page."));
}

#[tokio::test]
async fn password_reset_and_report_reviews_need_the_csrf_token() {
    let w = world().await;
    let app = &w.app;

    // POST /password/reset/{token}: the anonymous double-submit token.
    let m = merchant(&w, "리셋분식", "010-3100-0003", w.assoc_a).await;
    let owner = sign_in(&w, "reset@example.com", "merchant", Some(m), None).await;
    let user = users::find_by_email(&app.db, &app.crypto, "reset@example.com")
        .await
        .unwrap()
        .unwrap();
    let token = "reset-token-for-the-csrf-test-0123456789";
    let owner_of = accounts::TokenOwner {
        user_id: Some(user.id),
        merchant_id: Some(m),
        contact_id: None,
    };
    let now = now_ms();
    accounts::create_token(
        &app.db,
        &app.crypto,
        meoktong_web::routes::account::RESET_PURPOSE,
        token,
        owner_of,
        now + 3_600_000,
        now,
    )
    .await
    .unwrap();
    let reset = format!("/password/reset/{token}");
    let new_password = [("password", "a brand new password")];
    let r = app
        .client
        .post(app.url(&reset))
        .header("cookie", &owner.cookie)
        .form(&new_password)
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "no token");
    let page = get(app, &reset, &owner.cookie).await;
    assert_eq!(page.status, 200);
    let r = app
        .client
        .post(app.url(&reset))
        .header("cookie", &page.cookie)
        .form(&[
            ("csrf", "x".repeat(43).as_str()),
            ("password", "a brand new password"),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::FORBIDDEN, "wrong token");
    let still = users::find_by_email(&app.db, &app.crypto, "reset@example.com")
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        still.password_hash, user.password_hash,
        "password unchanged"
    );
    assert_eq!(get(app, &reset, "").await.status, 200, "link still unused");

    // A report to review.
    let page = get(
        app,
        &format!("/reports/new?incident={}", w.incident),
        &owner.cookie,
    )
    .await;
    let (status, _) = submit(app, &page, &good(w.incident, w.assoc_a), vec![], "").await;
    assert_eq!(status, 303);
    let report = only_report(app).await;
    let staff = sign_in(
        &w,
        "staff@assoc.example",
        "association",
        None,
        Some(w.assoc_a),
    )
    .await;

    // POST /association/reports/{id}/review: the session's token in the form.
    let html = format!("/association/reports/{}/review", report.id);
    for form in [
        vec![("action", "verify")],
        vec![
            ("action", "verify"),
            ("csrf", "forged-forged-forged-forged"),
        ],
    ] {
        let r = app
            .client
            .post(app.url(&html))
            .header("cookie", &staff.cookie)
            .form(&form)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::FORBIDDEN, "{form:?}");
    }

    // POST /api/v1/reports/{id}/review with the session cookie: X-CSRF-Token required.
    let api = format!("/api/v1/reports/{}/review", report.id);
    for header in [None, Some("forged-forged-forged-forged")] {
        let mut req = app
            .client
            .post(app.url(&api))
            .header("cookie", &staff.cookie)
            .json(&json!({ "action": "verify" }));
        if let Some(h) = header {
            req = req.header("x-csrf-token", h);
        }
        let r = req.send().await.unwrap();
        let (status, body) = (r.status(), r.text().await.unwrap());
        assert_json_error(status, &body, StatusCode::FORBIDDEN, "forbidden");
    }
    let unchanged = damage_reports::Entity::find_by_id(report.id)
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(unchanged.status, "received", "nothing was reviewed");

    // With the right token it goes through.
    let r = app
        .client
        .post(app.url(&api))
        .header("cookie", &staff.cookie)
        .header("x-csrf-token", &staff.csrf)
        .json(&json!({ "action": "verify" }))
        .send()
        .await
        .unwrap();
    assert_eq!(r.status(), StatusCode::OK);
}

fn assert_not_frameable(path: &str, h: &reqwest::header::HeaderMap) {
    assert_eq!(h["x-frame-options"], "DENY", "{path}");
    assert!(
        h["content-security-policy"]
            .to_str()
            .unwrap()
            .contains("frame-ancestors 'none'"),
        "{path}"
    );
    assert_eq!(h["x-content-type-options"], "nosniff", "{path}");
    let referrer = h["referrer-policy"].to_str().unwrap();
    assert!(
        matches!(referrer, "same-origin" | "no-referrer"),
        "{path}: {referrer}"
    );
}

#[tokio::test]
async fn every_html_page_refuses_to_be_framed() {
    let w = world().await;
    let app = &w.app;
    let m = merchant(&w, "액자분식", "010-3100-0004", w.assoc_a).await;
    let owner = sign_in(&w, "frame@example.com", "merchant", Some(m), None).await;
    let staff = sign_in(
        &w,
        "frame@assoc.example",
        "association",
        None,
        Some(w.assoc_a),
    )
    .await;
    let token = recovery_link(&w, m).await;
    let pages = [
        ("/status", ""),
        ("/status/kakaotalk", ""),
        ("/login", ""),
        ("/signup", ""),
        ("/password/forgot", ""),
        ("/reports/new", ""),
        ("/no/such/page", ""),
        ("/dashboard", owner.cookie.as_str()),
        ("/dashboard/contacts", owner.cookie.as_str()),
        ("/dashboard/history", owner.cookie.as_str()),
        ("/reports", owner.cookie.as_str()),
        ("/association/reports", staff.cookie.as_str()),
        ("/association/incidents", staff.cookie.as_str()),
    ];
    let alert = format!("/a/{token}");
    for (path, cookie) in pages.iter().chain([(alert.as_str(), "")].iter()) {
        let r = app
            .client
            .get(app.url(path))
            .header("cookie", *cookie)
            .send()
            .await
            .unwrap();
        let ct = r.headers()["content-type"].to_str().unwrap();
        assert!(ct.starts_with("text/html"), "{path}: {ct}");
        assert_not_frameable(path, r.headers());
    }
    // The report and alert pages keep their stricter Referrer-Policy.
    let r = app.client.get(app.url(&alert)).send().await.unwrap();
    assert_eq!(r.headers()["referrer-policy"], "no-referrer");
    // JSON is not a page, but is never sniffed either.
    let r = app
        .client
        .get(app.url("/api/v1/dependencies"))
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["x-content-type-options"], "nosniff");
}

#[tokio::test]
async fn codes_links_and_test_alerts_are_rate_limited_per_contact_merchant_and_destination() {
    let app = app().await;
    let c = Client::new(&app);
    c.sign_up("문자 가게", "010-3100-0005", "sms@example.com")
        .await;
    let m = merchant_id(&app, "문자 가게").await;
    let contact = contact_book::list(&app.db, &app.crypto, m).await.unwrap()[0].id;
    let send_code = format!("/dashboard/contacts/{contact}/send-code");
    for i in 0..5 {
        let page = c.submit("/dashboard/contacts", &send_code, &[]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "code {i}");
    }
    let page = c.submit("/dashboard/contacts", &send_code, &[]).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.body.contains("한 시간에 5번까지"), "{}", page.body);

    // Another merchant with the same number cannot text it more either.
    let other = Client::new(&app);
    other
        .sign_up("옆 가게", "010-3100-0005", "next-door@example.com")
        .await;
    let m2 = merchant_id(&app, "옆 가게").await;
    let contact2 = contact_book::list(&app.db, &app.crypto, m2).await.unwrap()[0].id;
    let page = other
        .submit(
            "/dashboard/contacts",
            &format!("/dashboard/contacts/{contact2}/send-code?lang=en"),
            &[],
        )
        .await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.body.contains("at most 5 an hour"), "{}", page.body);

    // Email confirmation links: 5 per hour per contact and address.
    let send_link = format!("/dashboard/contacts/{contact}/send-email-link");
    for i in 0..5 {
        let page = c.submit("/dashboard/contacts", &send_link, &[]).await;
        assert_eq!(page.status, StatusCode::SEE_OTHER, "link {i}");
    }
    let page = c.submit("/dashboard/contacts", &send_link, &[]).await;
    assert_eq!(page.status, StatusCode::TOO_MANY_REQUESTS);
    assert!(page.body.contains("확인 메일을 너무 자주"), "{}", page.body);

    // Test alerts: 3 per 10 minutes per merchant, over the dashboard and the API together.
    let t = api_token(&c).await;
    let test = format!("/dashboard/contacts/{contact}/test");
    assert_eq!(
        c.submit("/dashboard/contacts", &test, &[]).await.status,
        StatusCode::SEE_OTHER
    );
    for _ in 0..2 {
        let r = app
            .client
            .post(app.url("/api/v1/me/test-alert"))
            .bearer_auth(&t)
            .send()
            .await
            .unwrap();
        assert_eq!(r.status(), StatusCode::ACCEPTED);
    }
    let r = app
        .client
        .post(app.url("/api/v1/me/test-alert"))
        .bearer_auth(&t)
        .send()
        .await
        .unwrap();
    let (status, body) = (r.status(), r.text().await.unwrap());
    assert_json_error(
        status,
        &body,
        StatusCode::TOO_MANY_REQUESTS,
        "too_many_requests",
    );
    assert_eq!(
        c.submit("/dashboard/contacts", &test, &[]).await.status,
        StatusCode::TOO_MANY_REQUESTS
    );
}

#[tokio::test]
async fn sign_ups_are_rate_limited_per_client_address() {
    // The test client is the load balancer here: its X-Forwarded-For names the client.
    let app = meoktong_tests::spawn_app_with(
        meoktong_tests::Backend::default_for_tests(),
        |s| s.server.trusted_proxies = vec!["127.0.0.1".into()],
        meoktong::BuildOptions::default(),
    )
    .await;
    let sign_up = |n: u32, from: &'static str| {
        let app = &app;
        async move {
            let c = Client::new(app);
            let csrf = c.get("/signup").await.csrf();
            let phone = format!("010-3200-{n:04}");
            let email = format!("many{n}@example.com");
            app.client
                .post(app.url("/signup"))
                .header("cookie", c.cookies())
                .header("x-forwarded-for", from)
                .form(&[
                    ("csrf", csrf.as_str()),
                    ("business_name", "가게"),
                    ("owner_name", "김사장"),
                    ("phone", phone.as_str()),
                    ("email", email.as_str()),
                    ("password", "correct horse battery"),
                ])
                .send()
                .await
                .unwrap()
        }
    };
    for n in 0..10 {
        assert_eq!(
            sign_up(n, "203.0.113.50").await.status(),
            StatusCode::SEE_OTHER,
            "sign-up {n}"
        );
    }
    let r = sign_up(10, "203.0.113.50").await;
    assert_eq!(r.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(r.text().await.unwrap().contains("가입이 너무 많았습니다"));
    assert_eq!(
        sign_up(11, "203.0.113.51").await.status(),
        StatusCode::SEE_OTHER,
        "another address has its own budget"
    );
}

#[tokio::test]
async fn language_links_keep_the_query_and_the_choice_is_remembered_everywhere() {
    let w = world().await;
    let app = &w.app;
    let m = merchant(&w, "언어분식", "010-3100-0006", w.assoc_a).await;
    let token = recovery_link(&w, m).await;
    let form = format!("/reports/new?incident={}&token={token}", w.incident);
    let page = get(app, &form, "").await;
    assert_eq!(page.status, 200);
    let english = format!(
        "href=\"?incident={}&#38;token={token}&#38;lang=en\"",
        w.incident
    );
    assert!(page.body.contains(&english), "{}", page.body);
    assert!(page.body.contains("<html lang=\"ko\">"));

    // Following it pre-fills the same form, in English, and remembers the choice.
    let switched = get(app, &format!("{form}&lang=en"), "").await;
    assert!(switched.body.contains("<html lang=\"en\">"));
    assert!(
        switched.body.contains("value=\"언어분식\""),
        "still pre-filled"
    );
    assert!(switched.body.contains(&format!(
        "href=\"?incident={}&#38;token={token}&#38;lang=ko\"",
        w.incident
    )));

    // The choice made on a report page is remembered like on every other page…
    let r = app
        .client
        .get(app.url(&format!("{form}&lang=en")))
        .send()
        .await
        .unwrap();
    let remembered: Vec<&str> = r
        .headers()
        .get_all("set-cookie")
        .iter()
        .filter_map(|c| c.to_str().ok())
        .filter(|c| c.starts_with("mt_lang="))
        .collect();
    assert_eq!(remembered.len(), 1, "{remembered:?}");
    assert!(remembered[0].starts_with("mt_lang=en;"));

    // …and the remembered `mt_lang` cookie is honoured by the report pages and the alert page.
    let page = get(app, &form, "mt_lang=en").await;
    assert!(page.body.contains("<html lang=\"en\">"), "report form");
    let alert = get(app, &format!("/a/{token}"), "mt_lang=en").await;
    assert_eq!(alert.status, 200);
    assert!(alert.body.contains("<html lang=\"en\">"), "alert page");
    let alert = get(app, &format!("/a/{token}"), "").await;
    assert!(
        alert.body.contains("<html lang=\"ko\">"),
        "Korean by default"
    );
}

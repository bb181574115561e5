//! Accounts and the merchant dashboard, end to end over HTTP.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod common;

use common::{Client, app, last_outbox_body, six_digits};
use meoktong_storage::entity::{contacts, dependency_states, merchants, outbox, users};
use meoktong_storage::{catalog, contact_book, merchants as merchant_store};
use reqwest::StatusCode;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter};

#[tokio::test]
async fn sign_up_creates_merchant_contact_and_user_and_signs_in() {
    let app = app().await;
    let c = Client::new(&app);
    let page = c
        .sign_up("행복분식", "010-1234-5678", "owner@example.com")
        .await;
    assert_eq!(page.location.as_deref(), Some("/dashboard/catalog"));
    let home = c.get("/dashboard").await;
    assert_eq!(home.status, StatusCode::OK);
    assert!(home.body.contains("행복분식"), "{}", home.body);
    let list = merchant_store::list(&app.db, &app.crypto).await.unwrap();
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].phone, "+821012345678");
    let contacts = contact_book::list(&app.db, &app.crypto, list[0].id)
        .await
        .unwrap();
    assert_eq!(contacts.len(), 1);
    assert_eq!(contacts[0].email.as_deref(), Some("owner@example.com"));
    let user = users::Entity::find()
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        (user.role.as_str(), user.merchant_id),
        ("merchant", Some(list[0].id))
    );
    assert!(user.password_hash.starts_with("$argon2id$"));
    // Personal data is encrypted at rest.
    let m = merchants::Entity::find()
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert!(!m.phone_enc.contains("1234"));
}

#[tokio::test]
async fn bad_sign_up_forms_come_back_with_field_messages_and_422() {
    let app = app().await;
    let c = Client::new(&app);
    let page = c
        .submit(
            "/signup",
            "/signup",
            &[
                ("business_name", "가게"),
                ("owner_name", "김"),
                ("phone", "02-123-4567"),
                ("email", "x@"),
                ("password", "short"),
            ],
        )
        .await;
    assert_eq!(page.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(
        page.body.contains("유선 전화는 문자를 받을 수 없습니다"),
        "{}",
        page.body
    );
    assert!(page.body.contains("이메일 주소를 확인해 주세요"));
    assert!(page.body.contains("10자 이상"));
    assert!(
        page.body.contains("value=\"02-123-4567\""),
        "values are kept"
    );
    c.sign_up("가게", "010-1111-2222", "taken@example.com")
        .await;
    let again = Client::new(&app);
    let page = again
        .submit(
            "/signup",
            "/signup",
            &[
                ("business_name", "다른 가게"),
                ("owner_name", "이"),
                ("phone", "010-3333-4444"),
                ("email", "TAKEN@example.com"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    // No account enumeration: the same answer as for a new address; the owner hears of it.
    assert_eq!(page.status, StatusCode::SEE_OTHER);
    assert_eq!(page.location.as_deref(), Some("/signup/sent"));
    let note = common::last_email_to(&app, "taken@example.com")
        .await
        .expect("a note to the owner");
    assert!(note.contains("이미 가입되어 있습니다"), "{note}");
    assert!(!note.contains("/signup/confirm/"), "{note}");
    // English on request.
    let en = again.get("/signup?lang=en").await;
    assert!(en.body.contains("Sign up for Meoktong"));
}

#[tokio::test]
async fn login_logout_and_rate_limit() {
    let app = app().await;
    let c = Client::new(&app);
    c.sign_up("가게", "010-1234-0000", "login@example.com")
        .await;
    let csrf = c.get("/dashboard").await.csrf();
    let out = c.post("/logout", &[("csrf", &csrf)]).await;
    assert_eq!(out.status, StatusCode::SEE_OTHER);
    let gone = c.get("/dashboard").await;
    assert_eq!(gone.status, StatusCode::SEE_OTHER);
    assert_eq!(gone.location.as_deref(), Some("/login?next=/dashboard"));

    let wrong = c
        .submit(
            "/login",
            "/login",
            &[
                ("email", "login@example.com"),
                ("password", "wrong password!"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(wrong.body.contains("이메일 또는 비밀번호가 맞지 않습니다"));
    let ok = c
        .submit(
            "/login?next=/dashboard/contacts",
            "/login?next=/dashboard/contacts",
            &[
                ("email", "Login@Example.com"),
                ("password", "correct horse battery"),
            ],
        )
        .await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(ok.location.as_deref(), Some("/dashboard/contacts"));

    let mut statuses = Vec::new();
    for _ in 0..6 {
        statuses.push(
            c.submit(
                "/login",
                "/login",
                &[
                    ("email", "login@example.com"),
                    ("password", "guess guess guess"),
                ],
            )
            .await
            .status,
        );
    }
    assert!(
        statuses.contains(&StatusCode::TOO_MANY_REQUESTS),
        "{statuses:?}"
    );
}

#[tokio::test]
async fn password_reset_by_emailed_link_works_once() {
    let app = app().await;
    let c = Client::new(&app);
    c.sign_up("가게", "010-5555-0000", "reset@example.com")
        .await;
    let anon = Client::new(&app);
    let sent = anon
        .submit(
            "/password/forgot",
            "/password/forgot",
            &[("email", "reset@example.com")],
        )
        .await;
    assert_eq!(sent.status, StatusCode::OK);
    let unknown = anon
        .submit(
            "/password/forgot",
            "/password/forgot",
            &[("email", "nobody@example.com")],
        )
        .await;
    assert_eq!(
        unknown.body.replace("nobody", "reset"),
        sent.body.replace("nobody", "reset"),
        "same answer either way"
    );
    let mail = last_outbox_body(&app, "email").await;
    let link = mail
        .split_whitespace()
        .find(|w| w.contains("/password/reset/"))
        .expect("a link")
        .to_string();
    let path = &link[link.find("/password/").unwrap()..];
    let short = anon.submit(path, path, &[("password", "short")]).await;
    assert_eq!(short.status, StatusCode::UNPROCESSABLE_ENTITY);
    let done = anon
        .submit(path, path, &[("password", "a brand new password")])
        .await;
    assert_eq!(done.location.as_deref(), Some("/login?reset=1"));
    assert_eq!(
        anon.get(path).await.status,
        StatusCode::NOT_FOUND,
        "single use"
    );
    // The old session ended with the reset; the new password works.
    assert_eq!(c.get("/dashboard").await.status, StatusCode::SEE_OTHER);
    let ok = anon
        .submit(
            "/login",
            "/login",
            &[
                ("email", "reset@example.com"),
                ("password", "a brand new password"),
            ],
        )
        .await;
    assert_eq!(ok.location.as_deref(), Some("/dashboard"));
}

async fn set_state(app: &meoktong_tests::TestApp, slug: &str, state: &str) {
    let dep = catalog::dependency_by_slug(&app.db, slug)
        .await
        .unwrap()
        .unwrap();
    dependency_states::Entity::update_many()
        .col_expr(dependency_states::Column::State, state.into())
        .filter(dependency_states::Column::DependencyId.eq(dep.id))
        .exec(&app.db.conn)
        .await
        .unwrap();
}

#[tokio::test]
async fn subscribing_shows_the_dependency_with_its_state_in_words() {
    let app = app().await;
    let c = Client::new(&app);
    c.sign_up("가게", "010-7777-0000", "sub@example.com").await;
    let catalog = c.get("/dashboard/catalog").await;
    assert!(
        catalog.body.contains("value=\"kakao-login\""),
        "{}",
        catalog.body
    );
    let saved = c
        .submit(
            "/dashboard/catalog",
            "/dashboard/catalog",
            &[
                ("dep", "kakao-login"),
                ("dep", "toss-payments"),
                ("degraded", "toss-payments"),
            ],
        )
        .await;
    assert_eq!(saved.location.as_deref(), Some("/dashboard?done=saved"));
    set_state(&app, "kakao-login", "down").await;
    let home = c.get("/dashboard").await;
    assert!(
        home.body
            .contains("data-slug=\"kakao-login\" data-state=\"down\""),
        "{}",
        home.body
    );
    assert!(home.body.contains("장애"));
    assert!(!home.body.contains("naver-login"));
    let en = c.get("/dashboard?lang=en").await;
    assert!(
        en.body.contains("Kakao Login") && en.body.contains(">Down<"),
        "{}",
        en.body
    );
    // Unknown slugs are refused.
    let bad = c
        .submit(
            "/dashboard/catalog",
            "/dashboard/catalog",
            &[("dep", "no-such-thing")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn contacts_are_added_verified_by_code_and_link_and_tested() {
    let app = app().await;
    let c = Client::new(&app);
    c.sign_up("가게", "010-8888-0000", "owner@hanmail.net")
        .await;
    c.submit(
        "/dashboard/catalog",
        "/dashboard/catalog",
        &[("dep", "kakao-login")],
    )
    .await;
    let page = c.get("/dashboard/contacts").await;
    assert!(
        page.body.contains("모두 kakao 메일입니다"),
        "shared platform warning: {}",
        page.body
    );

    let bad = c
        .submit(
            "/dashboard/contacts",
            "/dashboard/contacts",
            &[("label", "직원"), ("phone", "02-555-1234"), ("email", "")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);
    let added = c
        .submit(
            "/dashboard/contacts",
            "/dashboard/contacts",
            &[
                ("label", "직원"),
                ("phone", ""),
                ("email", "staff@example.com"),
            ],
        )
        .await;
    assert_eq!(added.status, StatusCode::SEE_OTHER);
    let page = c.get("/dashboard/contacts").await;
    assert!(
        !page.body.contains("kakao 메일입니다"),
        "an independent email removes the warning"
    );

    let merchant = merchants::Entity::find()
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    let list = contact_book::list(&app.db, &app.crypto, merchant.id)
        .await
        .unwrap();
    let (first, second) = (list[0].id, list[1].id);
    c.submit(
        "/dashboard/contacts",
        &format!("/dashboard/contacts/{first}/send-code"),
        &[],
    )
    .await;
    let sms = last_outbox_body(&app, "sms").await;
    let code = six_digits(&sms);
    let wrong = c
        .submit(
            "/dashboard/contacts",
            &format!("/dashboard/contacts/{first}/verify-phone"),
            &[("code", "000000x")],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
    let right = c
        .submit(
            "/dashboard/contacts",
            &format!("/dashboard/contacts/{first}/verify-phone"),
            &[("code", &code)],
        )
        .await;
    assert_eq!(right.status, StatusCode::SEE_OTHER, "{}", right.body);

    c.submit(
        "/dashboard/contacts",
        &format!("/dashboard/contacts/{second}/send-email-link"),
        &[],
    )
    .await;
    let mail = last_outbox_body(&app, "email").await;
    let link = mail
        .split_whitespace()
        .find(|w| w.contains("/verify/email/"))
        .unwrap()
        .to_string();
    let verified = c.get(&link[link.find("/verify/").unwrap()..]).await;
    assert_eq!(verified.status, StatusCode::OK);
    let rows = contacts::Entity::find()
        .filter(contacts::Column::MerchantId.eq(merchant.id))
        .all(&app.db.conn)
        .await
        .unwrap();
    assert!(rows.iter().any(|r| r.phone_verified) && rows.iter().any(|r| r.email_verified));

    // Reorder, then a test alert to the first contact lands in the history.
    c.submit(
        "/dashboard/contacts",
        &format!("/dashboard/contacts/{second}/move"),
        &[("dir", "up")],
    )
    .await;
    let list = contact_book::list(&app.db, &app.crypto, merchant.id)
        .await
        .unwrap();
    assert_eq!(list[0].id, second);
    let sent = c
        .submit(
            "/dashboard/contacts",
            &format!("/dashboard/contacts/{first}/test"),
            &[],
        )
        .await;
    assert_eq!(
        sent.location.as_deref(),
        Some("/dashboard/contacts?done=test-sent")
    );
    let test_sms = outbox::Entity::find()
        .filter(outbox::Column::Channel.eq("sms"))
        .all(&app.db.conn)
        .await
        .unwrap();
    assert!(
        test_sms
            .iter()
            .any(|m| m.body.starts_with("[테스트]") && m.body.contains("/a/")),
        "{test_sms:?}"
    );
    let history = c.get("/dashboard/history").await;
    assert!(history.body.contains("[테스트]"), "{}", history.body);
    assert!(
        !history.body.contains("인증번호"),
        "verification messages are not alerts"
    );
    let removed = c
        .submit(
            "/dashboard/contacts",
            &format!("/dashboard/contacts/{first}/delete"),
            &[],
        )
        .await;
    assert_eq!(removed.status, StatusCode::SEE_OTHER);
    let last = c
        .submit(
            "/dashboard/contacts",
            &format!("/dashboard/contacts/{second}/delete"),
            &[],
        )
        .await;
    assert_eq!(
        last.status,
        StatusCode::UNPROCESSABLE_ENTITY,
        "the last contact stays"
    );
}

#[tokio::test]
async fn playbooks_heartbeats_and_tokens() {
    let app = app().await;
    let c = Client::new(&app);
    c.sign_up("가게", "010-9999-0000", "pb@example.com").await;
    let page = c.get("/dashboard/playbooks").await;
    assert!(
        page.body.contains("카드 단말기"),
        "Korean defaults are shown"
    );
    c.submit(
        "/dashboard/playbooks",
        "/dashboard/playbooks/payment",
        &[("text", "계좌이체로 받으세요.\n사장님께 전화")],
    )
    .await;
    let page = c.get("/dashboard/playbooks").await;
    assert!(page.body.contains("계좌이체로 받으세요."));
    let merchant = merchants::Entity::find()
        .one(&app.db.conn)
        .await
        .unwrap()
        .unwrap();
    assert_eq!(
        meoktong_storage::contacts::playbooks(&app.db, merchant.id)
            .await
            .unwrap()
            .len(),
        1
    );

    let hb = c
        .submit(
            "/dashboard/heartbeats",
            "/dashboard/heartbeats",
            &[("name", "포스"), ("period_minutes", "1")],
        )
        .await;
    assert_eq!(hb.status, StatusCode::OK);
    assert!(
        hb.body.contains("/hb/") && hb.body.contains("curl -fsS"),
        "{}",
        hb.body
    );
    let again = c.get("/dashboard/heartbeats").await;
    assert!(
        again.body.contains("포스") && !again.body.contains("/hb/"),
        "the URL is shown once"
    );
    let bad = c
        .submit(
            "/dashboard/heartbeats",
            "/dashboard/heartbeats",
            &[("name", "x"), ("period_minutes", "0")],
        )
        .await;
    assert_eq!(bad.status, StatusCode::UNPROCESSABLE_ENTITY);

    let tok = c
        .submit(
            "/dashboard/tokens",
            "/dashboard/tokens",
            &[("name", "포스 연동")],
        )
        .await;
    let token = tok
        .body
        .split("id=\"new-token\">")
        .nth(1)
        .unwrap()
        .split('<')
        .next()
        .unwrap()
        .to_string();
    let api = app
        .client
        .get(app.url("/api/v1/me/subscriptions"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(api.status(), StatusCode::OK);
}

/// A dependency watched for three days shows its uptime over those three days, labelled so,
/// and no 90-day figure.
#[tokio::test]
async fn uptime_covers_only_the_time_measured_and_says_how_long() {
    use meoktong_storage::entity::dependencies;
    let app = app().await;
    let dep = catalog::dependency_by_slug(&app.db, "kakao-login")
        .await
        .unwrap()
        .unwrap();
    let now = meoktong_storage::now_ms();
    let day = 86_400_000;
    dependencies::Entity::update_many()
        .col_expr(
            dependencies::Column::CreatedAt,
            (now - 3 * day - 60_000).into(),
        )
        .filter(dependencies::Column::Id.eq(dep.id))
        .exec(&app.db.conn)
        .await
        .unwrap();
    // Down for a quarter of a day, a day ago: 1/12 of what was measured.
    let id = meoktong_storage::incidents::open(
        &app.db.conn,
        dep.id,
        "down",
        now - day,
        now - day + 6_000,
        &serde_json::json!({}),
    )
    .await
    .unwrap();
    meoktong_storage::incidents::resolve(&app.db.conn, id, now - day + day / 4, now)
        .await
        .unwrap();
    let c = Client::new(&app);
    for path in ["/status", "/status/kakao-login"] {
        let page = c.get(path).await;
        assert_eq!(page.status, StatusCode::OK);
        let row = page
            .body
            .split("가용률(측정\u{a0}3일)")
            .nth(1)
            .unwrap_or_else(|| panic!("{path}: says how long it was measured: {}", page.body));
        let figure: String = row.trim_start().chars().take(6).collect();
        assert_eq!(
            figure, "91.67%",
            "{path}: 6 h of 3 days and a minute: {row}"
        );
    }
    let en = c.get("/status/kakao-login?lang=en").await;
    assert!(en.body.contains("Uptime (3d\u{a0}measured)"), "{}", en.body);
    let all = c.get("/status").await;
    assert!(
        !all.body.contains("90일 가용률"),
        "nothing here was watched for 90 days: {}",
        all.body
    );
}

#[tokio::test]
async fn public_status_pages_and_atom_feed() {
    let app = app().await;
    let dep = catalog::dependency_by_slug(&app.db, "kakao-login")
        .await
        .unwrap()
        .unwrap();
    let now = meoktong_storage::now_ms();
    let id = meoktong_storage::incidents::open(
        &app.db.conn,
        dep.id,
        "down",
        now - 7_500_000,
        now - 7_400_000,
        &serde_json::json!({}),
    )
    .await
    .unwrap();
    meoktong_storage::incidents::resolve(
        &app.db.conn,
        id,
        now - 7_500_000 + 7_500_000 - 300_000,
        now,
    )
    .await
    .unwrap();
    let c = Client::new(&app);
    let page = c.get("/status").await;
    assert_eq!(page.status, StatusCode::OK);
    assert_eq!(
        (page.body.matches("class=\"bar bar-").count() - 4) % 90,
        0,
        "90 bars per dependency (and a legend of 4)"
    );
    assert!(page.body.contains("bar bar-down"), "today has an outage");
    assert!(
        page.body.contains("2시간"),
        "duration in words: {}",
        page.body
    );
    let one = c.get("/status/kakao-login?lang=en").await;
    assert!(
        one.body.contains("Kakao Login") && one.body.contains("2h"),
        "{}",
        one.body
    );
    assert_eq!(c.get("/status/no-such").await.status, StatusCode::NOT_FOUND);
    let feed = app
        .client
        .get(app.url("/status/feed.atom"))
        .send()
        .await
        .unwrap();
    assert_eq!(
        feed.headers()["content-type"],
        "application/atom+xml; charset=utf-8"
    );
    let xml = feed.text().await.unwrap();
    assert!(
        xml.contains("<feed xmlns=\"http://www.w3.org/2005/Atom\"")
            && xml.contains("[복구] 카카오 로그인"),
        "{xml}"
    );
    assert!(xml.contains(&format!("/status/kakao-login#incident-{id}</id>")));
    let json: serde_json::Value = app
        .client
        .get(app.url("/status.json"))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(json["incidents"][0]["dependency"], "kakao-login");
    let keys: Vec<&String> = json.as_object().unwrap().keys().collect();
    // Issue 20 added `maintenance` (additive: every earlier key is still there).
    assert_eq!(
        keys,
        ["dependencies", "generated_at", "incidents", "maintenance"]
    );
}

#[tokio::test]
async fn operators_see_checks_locations_problems_and_the_outbox() {
    use meoktong_storage::probes::{self, ResultRow};
    let app = app().await;
    let hash =
        tokio::task::spawn_blocking(|| meoktong_web::auth::password::hash("operator password 1"))
            .await
            .unwrap()
            .unwrap();
    meoktong_storage::users::create(
        &app.db,
        &app.crypto,
        meoktong_storage::users::NewUser {
            email: "op@example.com",
            password_hash: &hash,
            role: "operator",
            merchant_id: None,
            association_id: None,
        },
        "test",
    )
    .await
    .unwrap();
    let dep = catalog::dependency_by_slug(&app.db, "kakao-login")
        .await
        .unwrap()
        .unwrap();
    let now = meoktong_storage::now_ms();
    let loc = probes::ensure_location(&app.db, "seoul-kt", "local", now)
        .await
        .unwrap();
    let check = meoktong_storage::operator::checks(&app.db)
        .await
        .unwrap()
        .into_iter()
        .find(|c| c.dependency_id == dep.id)
        .unwrap();
    let row = ResultRow {
        check_id: check.id,
        dependency_id: dep.id,
        location_id: loc,
        slot_at: now,
        started_at: now,
        outcome: "config_error".into(),
        class: None,
        status: Some(401),
        provider_code: Some("-401".into()),
        error: Some("bad key".into()),
        duration_us: 1000,
        timings: None,
    };
    probes::record_results(&app.db, &[row]).await.unwrap();
    let c = Client::new(&app);
    let ok = c
        .submit(
            "/login",
            "/login",
            &[
                ("email", "op@example.com"),
                ("password", "operator password 1"),
            ],
        )
        .await;
    assert_eq!(ok.location.as_deref(), Some("/operator"));
    let page = c.get("/operator").await;
    assert_eq!(page.status, StatusCode::OK);
    assert!(
        page.body.contains("seoul-kt")
            && page.body.contains("code -401")
            && page.body.contains("oidc-discovery"),
        "{}",
        page.body
    );
    assert!(page.body.contains("id=\"outbox-depth\">0<"));
    assert_eq!(
        c.get("/dashboard").await.status,
        StatusCode::NOT_FOUND,
        "operators have no merchant dashboard"
    );
}

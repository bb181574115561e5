//! Issue 16, second security pass, as black-box tests: the redirect after login stays on the
//! site, a stranger's wrong passwords cannot lock the owner out of a known device, forwarded
//! addresses count only from listed proxies, sign-up does not tell whether an address has an
//! account, API tokens belong to every role and die with a password reset, and the JSON API
//! is never cached.
#![allow(clippy::unwrap_used)] // a test that cannot unwrap has failed
mod common;

use common::{Client, Page, app, last_email_to};
use meoktong_storage::users::{self, NewUser};
use meoktong_tests::{Backend, TestApp, spawn_app_with};
use reqwest::StatusCode;

const PASSWORD: &str = "correct horse battery";

fn encoded(s: &str) -> String {
    url::form_urlencoded::byte_serialize(s.as_bytes()).collect()
}

async fn log_in(c: &Client<'_>, email: &str, password: &str, next: Option<&str>) -> Page {
    let action = match next {
        Some(n) => format!("/login?next={}", encoded(n)),
        None => "/login".into(),
    };
    c.submit(
        &action,
        &action,
        &[("email", email), ("password", password)],
    )
    .await
}

async fn log_out(c: &Client<'_>, home: &str) {
    let csrf = c.get(home).await.csrf();
    assert_eq!(
        c.post("/logout", &[("csrf", &csrf)]).await.status,
        StatusCode::SEE_OTHER
    );
}

#[tokio::test]
async fn the_redirect_after_login_never_leaves_the_site() {
    let app = app().await;
    let c = Client::new(&app);
    c.sign_up("가게", "010-4000-0001", "next@example.com").await;
    log_out(&c, "/dashboard").await;
    for evil in [
        "/\t/evil.example/",
        "/\r/evil.example/",
        "/\n/evil.example/",
        "/\t\n/evil.example/",
        "/\\evil.example/",
        "/\\/evil.example/",
        "\\\\evil.example/",
        "//evil.example/",
        "https://evil.example/",
        "/\u{1}x",
    ] {
        // The login page does not carry it into its form either.
        let page = c.get(&format!("/login?next={}", encoded(evil))).await;
        assert_eq!(page.status, StatusCode::OK, "{evil:?}");
        assert!(page.body.contains("action=\"/login\""), "{evil:?}");
        let ok = log_in(&c, "next@example.com", PASSWORD, Some(evil)).await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "{evil:?}: {}", ok.body);
        assert_eq!(ok.location.as_deref(), Some("/dashboard"), "{evil:?}");
        log_out(&c, "/dashboard").await;
    }
    // A path of this site is kept, query included.
    let ok = log_in(
        &c,
        "next@example.com",
        PASSWORD,
        Some("/dashboard/history?page=2"),
    )
    .await;
    assert_eq!(ok.location.as_deref(), Some("/dashboard/history?page=2"));
}

#[tokio::test]
async fn a_control_character_in_next_is_no_server_error() {
    let app = app().await;
    let c = Client::new(&app);
    c.sign_up("가게", "010-4000-0002", "ctl@example.com").await;
    log_out(&c, "/dashboard").await;
    // `/login?next=/%01x`, exactly as in the report.
    let page = c
        .submit(
            "/login?next=/%01x",
            "/login?next=/%01x",
            &[("email", "ctl@example.com"), ("password", PASSWORD)],
        )
        .await;
    assert_eq!(page.status, StatusCode::SEE_OTHER, "{}", page.body);
    assert_eq!(page.location.as_deref(), Some("/dashboard"));
    let wrong = c
        .submit(
            "/login?next=/%01x",
            "/login?next=/%01x",
            &[
                ("email", "ctl@example.com"),
                ("password", "not the password"),
            ],
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY);
}

#[tokio::test]
async fn a_strangers_failures_do_not_lock_the_owner_out_of_a_known_device() {
    let app = app().await;
    let owner = Client::new(&app);
    owner
        .sign_up("가게", "010-4000-0003", "owner@example.com")
        .await;
    log_out(&owner, "/dashboard").await;
    // Right passwords cost nothing: many sign-ins in a row from new devices all pass.
    for n in 0..8 {
        let fresh = Client::new(&app);
        let ok = log_in(&fresh, "owner@example.com", PASSWORD, None).await;
        assert_eq!(ok.status, StatusCode::SEE_OTHER, "sign-in {n}: {}", ok.body);
    }
    // A stranger guesses: five failures, then refused before the password is even checked.
    let stranger = Client::new(&app);
    for n in 0..5 {
        let wrong = log_in(&stranger, "owner@example.com", "guess guess guess", None).await;
        assert_eq!(wrong.status, StatusCode::UNPROCESSABLE_ENTITY, "guess {n}");
    }
    let refused = log_in(&stranger, "owner@example.com", PASSWORD, None).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    // Meanwhile the owner, on the device that signed in before, gets in with the right one.
    let ok = log_in(&owner, "owner@example.com", PASSWORD, None).await;
    assert_eq!(ok.status, StatusCode::SEE_OTHER, "{}", ok.body);
    assert_eq!(ok.location.as_deref(), Some("/dashboard"));
    // A device that never signed in shares the account's spent budget (documented).
    let new_device = Client::new(&app);
    let refused = log_in(&new_device, "owner@example.com", PASSWORD, None).await;
    assert_eq!(refused.status, StatusCode::TOO_MANY_REQUESTS);
    // A device cookie made for another account (or forged) is no known device here.
    let forged = Client::new(&app);
    let _ = forged.get("/login").await;
    let resp = app
        .client
        .post(app.url("/login"))
        .header(
            "cookie",
            format!("{}; mt_device=abc.forged", forged.cookies()),
        )
        .form(&[
            ("csrf", forged.get("/login").await.csrf().as_str()),
            ("email", "owner@example.com"),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), StatusCode::TOO_MANY_REQUESTS);
}

async fn sign_up_from(app: &TestApp, n: u32, forwarded_for: &str) -> StatusCode {
    let c = Client::new(app);
    let csrf = c.get("/signup").await.csrf();
    let phone = format!("010-4100-{n:04}");
    let email = format!("xff{n}@example.com");
    app.client
        .post(app.url("/signup"))
        .header("cookie", c.cookies())
        .header("x-forwarded-for", forwarded_for)
        .form(&[
            ("csrf", csrf.as_str()),
            ("business_name", "가게"),
            ("owner_name", "김사장"),
            ("phone", phone.as_str()),
            ("email", email.as_str()),
            ("password", PASSWORD),
        ])
        .send()
        .await
        .unwrap()
        .status()
}

#[tokio::test]
async fn x_forwarded_for_from_an_unlisted_proxy_is_ignored() {
    // The peer (127.0.0.1) is private but not listed: rotating the header buys nothing.
    let app = spawn_app_with(
        Backend::default_for_tests(),
        |s| s.server.trusted_proxies = vec!["10.0.0.1".into(), "192.168.0.0/16".into()],
        meoktong::BuildOptions::default(),
    )
    .await;
    for n in 0..10 {
        let from = format!("203.0.113.{n}");
        assert_eq!(
            sign_up_from(&app, n, &from).await,
            StatusCode::SEE_OTHER,
            "sign-up {n}"
        );
    }
    assert_eq!(
        sign_up_from(&app, 10, "203.0.113.99").await,
        StatusCode::TOO_MANY_REQUESTS,
        "one bucket: the peer's"
    );
}

#[tokio::test]
async fn sign_up_answers_the_same_whether_or_not_the_address_has_an_account() {
    let app = app().await;
    let first = Client::new(&app);
    first
        .sign_up("가게", "010-4000-0004", "known@example.com")
        .await;
    let form = |email: &'static str, phone: &'static str| {
        [
            ("business_name", "다른 가게"),
            ("owner_name", "이"),
            ("phone", phone),
            ("email", email),
            ("password", "another good password"),
        ]
    };
    let taken = Client::new(&app);
    let a = taken
        .submit(
            "/signup",
            "/signup",
            &form("KNOWN@example.com", "010-4000-0005"),
        )
        .await;
    let fresh = Client::new(&app);
    let b = fresh
        .submit(
            "/signup",
            "/signup",
            &form("unknown@example.com", "010-4000-0006"),
        )
        .await;
    assert_eq!((a.status, &a.location), (b.status, &b.location));
    assert_eq!(a.location.as_deref(), Some("/signup/sent"));
    assert_eq!(a.body, b.body);
    assert_eq!(
        taken.get("/signup/sent").await.body,
        fresh.get("/signup/sent").await.body
    );
    // Neither is signed in by the answer.
    assert_eq!(
        taken.get("/dashboard").await.status,
        StatusCode::SEE_OTHER,
        "not signed in"
    );
    // The owner of the known address is told; the new address gets its link.
    let note = last_email_to(&app, "known@example.com").await.unwrap();
    assert!(note.contains("/password/forgot") && !note.contains("/signup/confirm/"));
    let link = common::confirm_link(&app, "unknown@example.com").await;
    let done = fresh.submit(&link, &link, &[]).await;
    assert_eq!(done.location.as_deref(), Some("/dashboard/catalog"));
    // The link works once; a forged one not at all.
    let again = Client::new(&app).submit(&link, &link, &[]).await;
    assert_eq!(again.status, StatusCode::CONFLICT);
    let forged = Client::new(&app).get("/signup/confirm/AAAA").await;
    assert_eq!(forged.status, StatusCode::NOT_FOUND);
}

/// The newly shown token on the tokens page.
fn new_token(page: &Page) -> String {
    page.body
        .split("id=\"new-token\">")
        .nth(1)
        .unwrap_or_else(|| panic!("a new token on {}", page.body))
        .split('<')
        .next()
        .unwrap()
        .to_string()
}

/// Whether `token` still authenticates (a merchant endpoint: 200 for merchants, 404 for the
/// other roles, 401 only for a dead token).
async fn alive(app: &TestApp, token: &str) -> bool {
    let r = app
        .client
        .get(app.url("/api/v1/me/subscriptions"))
        .bearer_auth(token)
        .send()
        .await
        .unwrap();
    assert_eq!(r.headers()["cache-control"], "no-store");
    r.status() != StatusCode::UNAUTHORIZED
}

#[tokio::test]
async fn every_role_manages_its_own_tokens_and_a_reset_revokes_them() {
    let app = app().await;
    let association = users::association_by_name(&app.db, "서울소상공인연합회")
        .await
        .unwrap();
    let merchant = Client::new(&app);
    merchant
        .sign_up("가게", "010-4000-0007", "m-tokens@example.com")
        .await;
    log_out(&merchant, "/dashboard").await;
    let hash = meoktong_web::auth::password::hash(PASSWORD).unwrap();
    for (email, role, association_id) in [
        ("a-tokens@example.com", "association", Some(association)),
        ("o-tokens@example.com", "operator", None),
    ] {
        let u = NewUser {
            email,
            password_hash: &hash,
            role,
            merchant_id: None,
            association_id,
        };
        users::create(&app.db, &app.crypto, u, "test")
            .await
            .unwrap();
    }
    for (email, home) in [
        ("m-tokens@example.com", "/dashboard"),
        ("a-tokens@example.com", "/association/reports"),
        ("o-tokens@example.com", "/operator"),
    ] {
        let c = Client::new(&app);
        let ok = log_in(&c, email, PASSWORD, None).await;
        assert_eq!(ok.location.as_deref(), Some(home), "{email}");
        let page = c.get("/dashboard/tokens").await;
        assert_eq!(page.status, StatusCode::OK, "{email}: {}", page.body);
        assert!(page.body.contains(&format!("href=\"{home}\"")), "{email}");
        let kept = new_token(
            &c.submit(
                "/dashboard/tokens",
                "/dashboard/tokens",
                &[("name", "kept")],
            )
            .await,
        );
        let page = c
            .submit(
                "/dashboard/tokens",
                "/dashboard/tokens",
                &[("name", "revoked")],
            )
            .await;
        let revoked = new_token(&page);
        assert!(
            alive(&app, &kept).await && alive(&app, &revoked).await,
            "{email}"
        );

        // A token cannot see, mint or revoke tokens.
        for r in [
            app.client.get(app.url("/dashboard/tokens")),
            app.client
                .post(app.url("/dashboard/tokens"))
                .form(&[("csrf", ""), ("name", "successor")]),
        ] {
            let r = r.bearer_auth(&kept).send().await.unwrap();
            assert_eq!(r.status(), StatusCode::FORBIDDEN, "{email}");
        }

        // Revoking from the page (the newest token is listed first).
        let id: String = page
            .body
            .split("action=\"/dashboard/tokens/")
            .nth(1)
            .unwrap()
            .split('/')
            .next()
            .unwrap()
            .to_string();
        let csrf = page.csrf();
        let done = c
            .post(
                &format!("/dashboard/tokens/{id}/revoke"),
                &[("csrf", &csrf)],
            )
            .await;
        assert_eq!(done.status, StatusCode::SEE_OTHER, "{email}");
        assert!(!alive(&app, &revoked).await, "{email}: revoked");
        assert!(alive(&app, &kept).await, "{email}: the other one lives");

        // A password reset ends the remaining token.
        let anon = Client::new(&app);
        let sent = anon
            .submit("/password/forgot", "/password/forgot", &[("email", email)])
            .await;
        assert_eq!(sent.status, StatusCode::OK);
        let mail = last_email_to(&app, email).await.unwrap();
        let at = mail.find("/password/reset/").unwrap();
        let link = mail[at..].split_whitespace().next().unwrap().to_string();
        let reset = anon
            .submit(&link, &link, &[("password", "a brand new password")])
            .await;
        assert_eq!(
            reset.status,
            StatusCode::SEE_OTHER,
            "{email}: {}",
            reset.body
        );
        assert!(
            !alive(&app, &kept).await,
            "{email}: a reset revokes API tokens"
        );
    }
}

#[tokio::test]
async fn json_answers_are_never_cached() {
    let app = app().await;
    for path in [
        "/api/v1/dependencies",
        "/api/v1/incidents?limit=abc",
        "/api/v1/no-such-endpoint",
        "/api/v1/me/contacts",
    ] {
        let r = app.client.get(app.url(path)).send().await.unwrap();
        assert_eq!(
            r.headers()
                .get("cache-control")
                .map(|v| v.to_str().unwrap()),
            Some("no-store"),
            "{path}: {}",
            r.status()
        );
    }
}

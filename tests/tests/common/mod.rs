//! A tiny cookie-keeping client for the dashboard tests: it signs up, reads CSRF tokens out
//! of pages and posts forms the way a browser does.
#![allow(dead_code)]

use meoktong::BuildOptions;
use meoktong_tests::{Backend, TestApp, spawn_app_with};
use reqwest::StatusCode;
use reqwest::header::{COOKIE, SET_COOKIE};
use std::collections::BTreeMap;
use std::sync::Mutex;

/// Presets that need no operator keys (kakaotalk-channel needs the channel's id, set below).
pub const PRESETS: [&str; 4] = [
    "kakao-login",
    "kakaotalk-channel",
    "naver-login",
    "toss-payments",
];

pub async fn app() -> TestApp {
    app_on(Backend::default_for_tests()).await
}

pub async fn app_on(backend: Backend) -> TestApp {
    spawn_app_with(
        backend,
        |s| {
            s.catalog.enable = PRESETS.iter().map(|p| p.to_string()).collect();
            // The kakaotalk-channel preset probes the operator's own channel page.
            s.catalog.kakaotalk_channel = Some("_MeoktongTest".into());
        },
        BuildOptions::default(),
    )
    .await
}

pub struct Page {
    pub status: StatusCode,
    pub body: String,
    pub location: Option<String>,
}

impl Page {
    /// The first `name="csrf"` value on the page.
    pub fn csrf(&self) -> String {
        let at = self
            .body
            .find("name=\"csrf\" value=\"")
            .expect("a csrf field on the page")
            + 19;
        self.body[at..]
            .split('"')
            .next()
            .unwrap_or_default()
            .to_string()
    }
}

pub struct Client<'a> {
    pub app: &'a TestApp,
    cookies: Mutex<BTreeMap<String, String>>,
}

impl<'a> Client<'a> {
    pub fn new(app: &'a TestApp) -> Client<'a> {
        Client {
            app,
            cookies: Mutex::new(BTreeMap::new()),
        }
    }

    /// The `Cookie` header this client sends.
    pub fn cookies(&self) -> String {
        self.cookie_header()
    }

    fn cookie_header(&self) -> String {
        self.cookies
            .lock()
            .unwrap()
            .iter()
            .map(|(k, v)| format!("{k}={v}"))
            .collect::<Vec<_>>()
            .join("; ")
    }

    async fn finish(&self, resp: reqwest::Response) -> Page {
        for c in resp.headers().get_all(SET_COOKIE) {
            let kv = c.to_str().unwrap().split(';').next().unwrap().to_string();
            let (k, v) = kv.split_once('=').unwrap();
            let mut jar = self.cookies.lock().unwrap();
            if v.is_empty() {
                jar.remove(k);
            } else {
                jar.insert(k.to_string(), v.to_string());
            }
        }
        let status = resp.status();
        let location = resp
            .headers()
            .get("location")
            .map(|l| l.to_str().unwrap().to_string());
        Page {
            status,
            body: resp.text().await.unwrap(),
            location,
        }
    }

    pub async fn get(&self, path: &str) -> Page {
        let resp = self
            .app
            .client
            .get(self.app.url(path))
            .header(COOKIE, self.cookie_header())
            .send()
            .await
            .unwrap();
        self.finish(resp).await
    }

    pub async fn post(&self, path: &str, form: &[(&str, &str)]) -> Page {
        let resp = self
            .app
            .client
            .post(self.app.url(path))
            .header(COOKIE, self.cookie_header())
            .form(form)
            .send()
            .await
            .unwrap();
        self.finish(resp).await
    }

    /// GETs `page` for its CSRF token, then posts `form` with it to `action`.
    pub async fn submit(&self, page: &str, action: &str, form: &[(&str, &str)]) -> Page {
        let csrf = self.get(page).await.csrf();
        let mut all = vec![("csrf", csrf.as_str())];
        all.extend_from_slice(form);
        self.post(action, &all).await
    }

    /// Signs a new merchant up; the client is signed in afterwards.
    pub async fn sign_up(&self, business: &str, phone: &str, email: &str) -> Page {
        let page = self
            .submit(
                "/signup",
                "/signup",
                &[
                    ("business_name", business),
                    ("owner_name", "김사장"),
                    ("phone", phone),
                    ("email", email),
                    ("password", "correct horse battery"),
                ],
            )
            .await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "sign-up failed: {}",
            page.body
        );
        assert_eq!(page.location.as_deref(), Some("/signup/sent"));
        let link = confirm_link(self.app, email).await;
        let page = self.submit(&link, &link, &[]).await;
        assert_eq!(
            page.status,
            StatusCode::SEE_OTHER,
            "confirming the sign-up failed: {}",
            page.body
        );
        page
    }
}

/// The path of the newest sign-up confirmation link emailed to `email`.
pub async fn confirm_link(app: &TestApp, email: &str) -> String {
    let body = last_email_to(app, email)
        .await
        .expect("a sign-up email to the address");
    let at = body
        .find("/signup/confirm/")
        .unwrap_or_else(|| panic!("a confirmation link in {body}"));
    body[at..]
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .to_string()
}

/// The body of the newest email queued to `email`, if any.
pub async fn last_email_to(app: &TestApp, email: &str) -> Option<String> {
    use meoktong_storage::entity::outbox;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    let rows = outbox::Entity::find()
        .filter(outbox::Column::Channel.eq("email"))
        .order_by_desc(outbox::Column::Id)
        .all(&app.db.conn)
        .await
        .unwrap();
    rows.into_iter()
        .find(|m| {
            app.crypto
                .decrypt(&m.recipient_enc)
                .is_ok_and(|r| r.eq_ignore_ascii_case(email))
        })
        .map(|m| m.body)
}

/// Latest outbox body sent to `channel`.
pub async fn last_outbox_body(app: &TestApp, channel: &str) -> String {
    use meoktong_storage::entity::outbox;
    use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
    outbox::Entity::find()
        .filter(outbox::Column::Channel.eq(channel))
        .order_by_desc(outbox::Column::Id)
        .one(&app.db.conn)
        .await
        .unwrap()
        .expect("an outbox message")
        .body
}

/// The first run of six digits in a text (an SMS code).
pub fn six_digits(text: &str) -> String {
    let chars: Vec<char> = text.chars().collect();
    chars
        .windows(6)
        .find(|w| w.iter().all(char::is_ascii_digit))
        .map(|w| w.iter().collect())
        .expect("a six-digit code")
}

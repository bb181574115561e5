//! Accounts: sign-up, sign-in, sign-out, password reset by emailed link, email verification.
//!
//! Anonymous forms carry a double-submit CSRF token (cookie `mt_csrf` + hidden field).
//! Failed sign-in attempts spend two budgets ([`limiter`]): 5 per account from devices that
//! never signed in to it, or 5 per known device (then one a minute), and 30 per client address
//! (then one every two seconds); the client address is the peer's IP, or the last
//! `X-Forwarded-For` entry when the peer is one of `server.trusted_proxies` ([`ClientIp`]).
//! Reset emails: 3 per email (then one per 20 minutes), from the same per-address budget.
//! Valid sign-ups: 10 per hour per address ([`crate::services::limits`]).
mod limiter;
mod reset;
mod signup;
pub mod validate;

pub use reset::{EMAIL_PURPOSE, RESET_PURPOSE};

use crate::AppState;
use crate::auth::password;
use crate::auth::session::{self, CurrentUser, Role};
use crate::error::WebError;
use crate::extract::ClientIp;
use crate::views::{Ctx, Field, check_anon_csrf};
use askama::Template;
use axum::Router;
use axum::extract::{Form, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use axum::routing::{get, post};
use meoktong_storage::{accounts, now_ms, sessions, users};
use serde::Deserialize;
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/signup", get(signup::signup_page).post(signup::signup))
        .route("/signup/sent", get(signup::sent_page))
        .route(
            "/signup/confirm/{token}",
            get(signup::confirm_page).post(signup::confirm),
        )
        .route("/login", get(login_page).post(login))
        .route("/logout", post(logout))
        .route(
            "/password/forgot",
            get(reset::forgot_page).post(reset::forgot),
        )
        .route(
            "/password/reset/{token}",
            get(reset::reset_page).post(reset::reset),
        )
        .route("/verify/email/{token}", get(reset::verify_email))
}

/// Every account page is this one form template.
#[derive(Template)]
#[template(path = "account/form.html")]
pub struct FormPage {
    pub lang: &'static str,
    pub title: &'static str,
    pub intro: &'static str,
    pub notice: String,
    pub error: String,
    pub action: String,
    pub csrf: String,
    pub fields: Vec<Field>,
    pub submit: &'static str,
    pub links: Vec<(String, &'static str)>,
    /// Show the form (its button) even without fields.
    pub form: bool,
}

impl FormPage {
    pub fn new(
        ctx: &Ctx,
        title: &'static str,
        action: String,
        csrf: String,
        submit: &'static str,
    ) -> FormPage {
        FormPage {
            lang: ctx.lang.code(),
            title,
            intro: "",
            notice: String::new(),
            error: String::new(),
            action,
            csrf,
            fields: Vec::new(),
            submit,
            links: Vec::new(),
            form: false,
        }
    }
}

/// Hashing takes tens of milliseconds of CPU: off the async threads.
pub async fn hash_password(plain: String) -> Result<String, WebError> {
    tokio::task::spawn_blocking(move || password::hash(&plain))
        .await
        .map_err(|e| WebError::Unexpected(e.to_string()))?
        .map_err(|e| WebError::Unexpected(e.to_string()))
}

async fn verify_password(plain: String, phc: String) -> bool {
    tokio::task::spawn_blocking(move || password::verify(&plain, &phc))
        .await
        .unwrap_or(false)
}

/// A new session for `user_id`: its cookie goes out with the response.
pub async fn start_session(state: &AppState, ctx: &mut Ctx, user_id: i64) -> Result<(), WebError> {
    let token = session::random_token(32);
    let csrf = session::random_token(32);
    sessions::create_session(
        &state.db,
        &state.crypto,
        &token,
        user_id,
        &csrf,
        now_ms(),
        session::SESSION_TTL_MS,
    )
    .await?;
    ctx.add_cookie(session::session_cookie(state, Some(&token)));
    Ok(())
}

#[derive(Debug, Default, Deserialize)]
pub struct LoginForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
    #[serde(default)]
    password: String,
}

fn login_form(ctx: &Ctx, csrf: String, email: &str, q: &HashMap<String, String>) -> FormPage {
    let l = ctx.lang;
    let action = match validate::safe_next(q.get("next").map(String::as_str)) {
        Some(n) => format!("/login?next={}", n.replace('&', "%26").replace('"', "%22")),
        None => "/login".into(),
    };
    let mut page = FormPage::new(
        ctx,
        l.t("로그인", "Log in"),
        action,
        csrf,
        l.t("로그인", "Log in"),
    );
    page.fields = vec![
        Field::new("email", l.t("이메일", "Email"), "email", "username").value(email),
        Field::new(
            "password",
            l.t("비밀번호", "Password"),
            "password",
            "current-password",
        ),
    ];
    if q.contains_key("reset") {
        page.notice = l
            .t(
                "비밀번호를 바꿨습니다. 새 비밀번호로 로그인하세요.",
                "Password changed. Log in with the new one.",
            )
            .into();
    }
    page.links = vec![
        (
            "/password/forgot".into(),
            l.t("비밀번호를 잊으셨나요?", "Forgot your password?"),
        ),
        (
            "/signup".into(),
            l.t("처음이신가요? 가입하기", "New here? Sign up"),
        ),
    ];
    page
}

pub async fn login_page(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let mut ctx = Ctx::new(&state, &q, &headers, None);
    let csrf = ctx.anon_csrf(&state, &headers);
    let page = login_form(&ctx, csrf, "", &q);
    Ok(ctx.ok(page.render()?))
}

pub async fn login(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ip: ClientIp,
    Form(f): Form<LoginForm>,
) -> Result<Response, WebError> {
    check_anon_csrf(&headers, &f.csrf)?;
    let mut ctx = Ctx::new(&state, &q, &headers, None);
    let l = ctx.lang;
    let mut page = login_form(&ctx, f.csrf.clone(), &f.email, &q);
    let device = session::cookie_value(&headers, limiter::DEVICE_COOKIE);
    let attempt = limiter::Attempt::new(&state.crypto, &ip, &f.email, device.as_deref());
    if !attempt.allowed() {
        page.error = l
            .t(
                "로그인 시도가 너무 많습니다. 몇 분 뒤에 다시 해 주세요.",
                "Too many attempts. Try again in a few minutes.",
            )
            .into();
        return Ok(ctx.page(StatusCode::TOO_MANY_REQUESTS, page.render()?));
    }
    let user = users::find_by_email(&state.db, &state.crypto, f.email.trim())
        .await?
        .filter(|u| !u.disabled);
    let phc = user
        .as_ref()
        .map(|u| u.password_hash.clone())
        .unwrap_or_else(|| DUMMY_HASH.clone());
    let ok = verify_password(f.password.clone(), phc).await && user.is_some();
    let Some(user) = user.filter(|_| ok) else {
        attempt.failed();
        page.error = l
            .t(
                "이메일 또는 비밀번호가 맞지 않습니다.",
                "Wrong email or password.",
            )
            .into();
        return Ok(ctx.invalid(page.render()?));
    };
    accounts::touch_login(&state.db, user.id, now_ms()).await?;
    start_session(&state, &mut ctx, user.id).await?;
    ctx.add_cookie(limiter::device_cookie(&state, &f.email));
    let home = match Role::parse(&user.role) {
        Some(Role::Operator) => "/operator",
        Some(Role::Merchant) => "/dashboard",
        Some(Role::Association) => "/association/reports",
        None => "/status",
    };
    let to =
        validate::safe_next(q.get("next").map(String::as_str)).unwrap_or_else(|| home.to_string());
    Ok(ctx.redirect(&to))
}

/// Verified against when the email is unknown, so both cases take the same time.
static DUMMY_HASH: std::sync::LazyLock<String> =
    std::sync::LazyLock::new(|| password::hash("not-a-password-of-anyone").unwrap_or_default());

#[derive(Debug, Deserialize)]
pub struct CsrfForm {
    #[serde(default)]
    pub csrf: String,
}

pub async fn logout(
    State(state): State<AppState>,
    user: CurrentUser,
    headers: HeaderMap,
    Form(f): Form<CsrfForm>,
) -> Result<Response, WebError> {
    user.check_csrf(Some(&f.csrf))?;
    if let Some(token) = session::cookie_value(&headers, session::COOKIE) {
        sessions::delete_session(&state.db, &state.crypto, &token).await?;
    }
    let mut ctx = Ctx::new(&state, &HashMap::new(), &headers, Some(&user));
    ctx.add_cookie(session::session_cookie(&state, None));
    Ok(ctx.redirect("/login"))
}

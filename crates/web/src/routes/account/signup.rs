//! Sign-up without account enumeration: a valid form always answers the same way ("check
//! your email", `303 /signup/sent`), whether or not the address has an account. A new
//! address gets a link that finishes the sign-up (`/signup/confirm/{token}`, 24 hours); an
//! address that already has an account gets a note saying someone tried, with links to log
//! in or reset the password. Both go through the outbox like password resets.
//!
//! The pending sign-up (names, phone, email, the already-hashed password) travels inside the
//! link, encrypted and authenticated with the data key (AES-GCM), so nothing is stored until
//! the owner of the address opens it; a second use finds the account made and says so.
use super::{FormPage, hash_password, limiter, start_session, validate};
use crate::AppState;
use crate::error::WebError;
use crate::extract::ClientIp;
use crate::i18n::Lang;
use crate::services::limits;
use crate::views::{Ctx, Errors, Field, check_anon_csrf};
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use meoktong_storage::contact_book::{self, AccountMessage};
use meoktong_storage::{accounts, now_ms, users};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

const CONFIRM_TTL_MS: i64 = 24 * 3600 * 1000;

/// What the confirmation link carries (encrypted).
#[derive(Serialize, Deserialize)]
struct Pending {
    business_name: String,
    owner_name: String,
    phone: String,
    email: String,
    email_platform: Option<String>,
    password_hash: String,
    locale: String,
    expires_at: i64,
}

fn seal(state: &AppState, p: &Pending) -> String {
    let json = serde_json::to_string(p).unwrap_or_default();
    URL_SAFE_NO_PAD.encode(state.crypto.encrypt(&json))
}

fn open(state: &AppState, token: &str, now: i64) -> Option<Pending> {
    let sealed = String::from_utf8(URL_SAFE_NO_PAD.decode(token).ok()?).ok()?;
    let json = state.crypto.decrypt(&sealed).ok()?;
    serde_json::from_str::<Pending>(&json)
        .ok()
        .filter(|p| p.expires_at > now)
}

fn signup_fields(l: Lang, f: &validate::SignUpForm) -> Vec<Field> {
    vec![
        Field::new(
            "business_name",
            l.t("상호", "Business name"),
            "text",
            "organization",
        )
        .value(&f.business_name),
        Field::new(
            "owner_name",
            l.t("대표자 이름", "Owner's name"),
            "text",
            "name",
        )
        .value(&f.owner_name),
        Field::new("phone", l.t("휴대폰 번호", "Mobile number"), "tel", "tel")
            .value(&f.phone)
            .hint(l.t(
                "장애 알림 문자를 받을 번호 (예: 010-1234-5678)",
                "Outage alerts go here by SMS (e.g. 010-1234-5678)",
            )),
        Field::new("email", l.t("이메일", "Email"), "email", "email").value(&f.email),
        Field::new(
            "password",
            l.t("비밀번호 (10자 이상)", "Password (10+ characters)"),
            "password",
            "new-password",
        ),
    ]
}

fn signup_form(ctx: &Ctx, csrf: String, f: &validate::SignUpForm, errors: &Errors) -> FormPage {
    let l = ctx.lang;
    let mut page = FormPage::new(
        ctx,
        l.t("먹통 가입", "Sign up for Meoktong"),
        "/signup".into(),
        csrf,
        l.t("가입하기", "Sign up"),
    );
    page.intro = l.t(
        "카카오·네이버·토스가 멈추면 몇 초 안에 문자로 알려 드리고, 무엇을 하면 되는지 안내합니다.",
        "When Kakao, Naver or Toss stop, we text you within seconds and tell you what to do.",
    );
    page.fields = signup_fields(l, f);
    errors.apply(&mut page.fields);
    page.links = vec![(
        "/login".into(),
        l.t("이미 가입하셨나요? 로그인", "Already signed up? Log in"),
    )];
    page
}

pub async fn signup_page(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let mut ctx = Ctx::new(&state, &q, &headers, None);
    let csrf = ctx.anon_csrf(&state, &headers);
    let page = signup_form(
        &ctx,
        csrf,
        &validate::SignUpForm::default(),
        &Errors::default(),
    );
    Ok(ctx.ok(page.render()?))
}

pub async fn signup(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ip: ClientIp,
    Form(f): Form<validate::SignUpForm>,
) -> Result<Response, WebError> {
    check_anon_csrf(&headers, &f.csrf)?;
    let ctx = Ctx::new(&state, &q, &headers, None);
    let l = ctx.lang;
    let v = match validate::sign_up(&f, l, &state.settings.channels.platform_domains) {
        Ok(v) => v,
        Err(errors) => {
            return Ok(ctx
                .clone()
                .invalid(signup_form(&ctx, f.csrf.clone(), &f, &errors).render()?));
        }
    };
    // Counted once the form is valid: typos cost nothing, new accounts (each a fresh budget
    // of codes and test alerts) do.
    if !limits::allow_sign_up(&ip) {
        let mut page = signup_form(&ctx, f.csrf.clone(), &f, &Errors::default());
        page.error = l
            .t(
                "이 주소에서 가입이 너무 많았습니다. 한 시간 뒤에 다시 해 주세요.",
                "Too many sign-ups from this address. Try again in an hour.",
            )
            .into();
        return Ok(ctx.page(StatusCode::TOO_MANY_REQUESTS, page.render()?));
    }
    // Both branches hash a password and queue one email, so they also take the same time.
    let hash = hash_password(v.password.clone()).await?;
    let existing = users::find_by_email(&state.db, &state.crypto, &v.email).await?;
    let now = now_ms();
    if limiter::sign_up_mail_allowed(&v.email) {
        let base = state.settings.server.public_url.trim_end_matches('/');
        let (subject, body) = match &existing {
            Some(_) => already_registered_mail(l, base),
            None => {
                let token = seal(
                    &state,
                    &Pending {
                        business_name: v.business_name.clone(),
                        owner_name: v.owner_name.clone(),
                        phone: v.phone.clone(),
                        email: v.email.clone(),
                        email_platform: v.email_platform.clone(),
                        password_hash: hash,
                        locale: l.code().to_string(),
                        expires_at: now + CONFIRM_TTL_MS,
                    },
                );
                confirm_mail(l, &format!("{base}/signup/confirm/{token}"))
            }
        };
        let msg = AccountMessage {
            merchant_id: existing.as_ref().and_then(|u| u.merchant_id).unwrap_or(0),
            contact_id: None,
            kind: "account",
            channel: "email",
            recipient: &v.email,
            subject: Some(subject.to_string()),
            body,
            dedupe_key: format!("signup:{}", crate::auth::session::random_token(12)),
            validity_ms: CONFIRM_TTL_MS,
        };
        contact_book::queue_account_message(&state.db, &state.crypto, msg, now).await?;
        state.outbox_changed.notify_waiters();
    }
    Ok(ctx.redirect("/signup/sent"))
}

fn confirm_mail(l: Lang, link: &str) -> (&'static str, String) {
    let body = format!(
        "{}\n\n{link}\n\n{}",
        l.t(
            "먹통 가입을 마치려면 아래 링크를 여세요 (24시간 동안 쓸 수 있습니다).",
            "Open this link to finish signing up for Meoktong (it works for 24 hours).",
        ),
        l.t(
            "가입하지 않으셨다면 이 메일을 무시하세요.",
            "If you did not sign up, ignore this email.",
        ),
    );
    (
        l.t("[먹통] 가입 확인", "[Meoktong] Confirm your sign-up"),
        body,
    )
}

fn already_registered_mail(l: Lang, base: &str) -> (&'static str, String) {
    let body = format!(
        "{}\n\n{}: {base}/login\n{}: {base}/password/forgot\n\n{}",
        l.t(
            "누군가 이 이메일 주소로 먹통 가입을 시도했습니다. 이 주소는 이미 가입되어 있습니다.",
            "Someone tried to sign up for Meoktong with this address, which already has an account.",
        ),
        l.t("로그인", "Log in"),
        l.t("비밀번호를 잊으셨다면", "Forgot your password"),
        l.t(
            "직접 하신 일이 아니라면 이 메일을 무시하세요. 계정은 바뀌지 않았습니다.",
            "If it was not you, ignore this email; nothing about your account changed.",
        ),
    );
    (
        l.t(
            "[먹통] 이미 가입된 주소입니다",
            "[Meoktong] You already have an account",
        ),
        body,
    )
}

/// `GET /signup/sent`: the one answer to every valid sign-up.
pub async fn sent_page(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let ctx = Ctx::new(&state, &q, &headers, None);
    let l = ctx.lang;
    let mut page = FormPage::new(
        &ctx,
        l.t("메일을 확인해 주세요", "Check your email"),
        String::new(),
        String::new(),
        "",
    );
    page.notice = l
        .t(
            "적어 주신 이메일로 안내 메일을 보냈습니다. 메일의 링크를 열어 가입을 마쳐 주세요 (24시간 동안 쓸 수 있습니다).",
            "We emailed the address you gave. Open the link in it to finish signing up (it works for 24 hours).",
        )
        .into();
    page.links = vec![("/login".into(), l.t("로그인", "Log in"))];
    Ok(ctx.ok(page.render()?))
}

fn expired(ctx: &Ctx) -> FormPage {
    let l = ctx.lang;
    let mut page = FormPage::new(
        ctx,
        l.t("링크가 만료되었습니다", "This link has expired"),
        String::new(),
        String::new(),
        "",
    );
    page.intro = l.t(
        "24시간이 지났거나 잘못된 링크입니다. 다시 가입해 주세요.",
        "It is more than 24 hours old or not a link we sent. Sign up again.",
    );
    page.links = vec![("/signup".into(), l.t("가입하기", "Sign up"))];
    page
}

/// `GET /signup/confirm/{token}`: a button, so a mail scanner fetching the link creates
/// nothing.
pub async fn confirm_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let mut ctx = Ctx::new(&state, &q, &headers, None);
    let l = ctx.lang;
    let Some(p) = open(&state, &token, now_ms()) else {
        let page = expired(&ctx);
        return Ok(ctx.page(StatusCode::NOT_FOUND, page.render()?));
    };
    let csrf = ctx.anon_csrf(&state, &headers);
    let mut page = FormPage::new(
        &ctx,
        l.t("가입 마치기", "Finish signing up"),
        format!("/signup/confirm/{token}"),
        csrf,
        l.t("가입 마치기", "Finish signing up"),
    );
    page.form = true;
    page.notice = format!("{} · {}", p.business_name, p.email);
    Ok(ctx.ok(page.render()?))
}

#[derive(Debug, Deserialize)]
pub struct ConfirmForm {
    #[serde(default)]
    csrf: String,
}

pub async fn confirm(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Form(f): Form<ConfirmForm>,
) -> Result<Response, WebError> {
    check_anon_csrf(&headers, &f.csrf)?;
    let mut ctx = Ctx::new(&state, &q, &headers, None);
    let l = ctx.lang;
    let now = now_ms();
    let Some(p) = open(&state, &token, now) else {
        let page = expired(&ctx);
        return Ok(ctx.page(StatusCode::NOT_FOUND, page.render()?));
    };
    let new = accounts::SignUp {
        business_name: &p.business_name,
        owner_name: &p.owner_name,
        phone: &p.phone,
        email: &p.email,
        email_platform: p.email_platform.clone(),
        password_hash: &p.password_hash,
        locale: Some(&p.locale),
    };
    let user_id = match accounts::sign_up(&state.db, &state.crypto, new, now).await? {
        Ok((_, user_id)) => user_id,
        Err(taken) => {
            // Only the owner of the address sees this (the link went to it).
            let mut page = FormPage::new(
                &ctx,
                l.t("가입할 수 없습니다", "Cannot sign up"),
                String::new(),
                String::new(),
                "",
            );
            page.error = match taken {
                accounts::Taken::Email => l.t(
                    "이 이메일로 이미 가입되어 있습니다. 로그인해 주세요.",
                    "This email already has an account. Log in.",
                ),
                accounts::Taken::Phone => l.t(
                    "이 번호와 상호로 이미 가입되어 있습니다.",
                    "This number and business name are already registered.",
                ),
            }
            .into();
            page.links = vec![
                ("/login".into(), l.t("로그인", "Log in")),
                ("/signup".into(), l.t("가입하기", "Sign up")),
            ];
            return Ok(ctx.page(StatusCode::CONFLICT, page.render()?));
        }
    };
    start_session(&state, &mut ctx, user_id).await?;
    ctx.add_cookie(limiter::device_cookie(&state, &p.email));
    Ok(ctx.redirect("/dashboard/catalog"))
}

//! Password reset by an emailed link (random, single use, one hour) and email verification.
use super::{FormPage, hash_password, limiter, validate};
use crate::AppState;
use crate::auth::session::random_token;
use crate::error::WebError;
use crate::views::{Ctx, Errors, Field, check_anon_csrf};
use askama::Template;
use axum::extract::{Form, Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use meoktong_storage::contact_book::{self, AccountMessage};
use meoktong_storage::{accounts, now_ms, sessions, users};
use serde::Deserialize;
use std::collections::HashMap;

pub const RESET_PURPOSE: &str = "password_reset";
pub const EMAIL_PURPOSE: &str = "email_verify";
const RESET_TTL_MS: i64 = 3600 * 1000;

fn forgot_form(ctx: &Ctx, csrf: String) -> FormPage {
    let l = ctx.lang;
    let mut page = FormPage::new(
        ctx,
        l.t("비밀번호 재설정", "Reset your password"),
        "/password/forgot".into(),
        csrf,
        l.t("링크 보내기", "Send the link"),
    );
    page.intro = l.t(
        "가입한 이메일로 비밀번호를 바꿀 수 있는 링크를 보내 드립니다.",
        "We email a link to set a new password.",
    );
    page.fields = vec![Field::new(
        "email",
        l.t("이메일", "Email"),
        "email",
        "email",
    )];
    page
}

pub async fn forgot_page(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let mut ctx = Ctx::new(&state, &q, &headers, None);
    let csrf = ctx.anon_csrf(&state, &headers);
    let page = forgot_form(&ctx, csrf);
    Ok(ctx.ok(page.render()?))
}

#[derive(Debug, Deserialize)]
pub struct ForgotForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    email: String,
}

/// Always answers the same, whether or not the email has an account.
pub async fn forgot(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ip: crate::extract::ClientIp,
    Form(f): Form<ForgotForm>,
) -> Result<Response, WebError> {
    check_anon_csrf(&headers, &f.csrf)?;
    let ctx = Ctx::new(&state, &q, &headers, None);
    let l = ctx.lang;
    let user = users::find_by_email(&state.db, &state.crypto, f.email.trim())
        .await?
        .filter(|u| !u.disabled);
    if let Some(user) = user.filter(|_| limiter::reset_allowed(&ip, &f.email)) {
        send_reset_link(&state, &ctx, &user).await?;
    }
    let mut page = forgot_form(&ctx, f.csrf.clone());
    page.fields.clear();
    page.notice = l.t(
        "가입된 이메일이라면 몇 분 안에 링크가 도착합니다. 링크는 1시간 동안, 한 번만 쓸 수 있습니다.",
        "If the address has an account, a link arrives within minutes. It works once, for one hour.",
    ).into();
    Ok(ctx.ok(page.render()?))
}

async fn send_reset_link(
    state: &AppState,
    ctx: &Ctx,
    user: &meoktong_storage::entity::users::Model,
) -> Result<(), WebError> {
    let now = now_ms();
    let token = random_token(32);
    let owner = accounts::TokenOwner {
        user_id: Some(user.id),
        merchant_id: user.merchant_id,
        contact_id: None,
    };
    accounts::create_token(
        &state.db,
        &state.crypto,
        RESET_PURPOSE,
        &token,
        owner,
        now + RESET_TTL_MS,
        now,
    )
    .await?;
    let email = state
        .crypto
        .decrypt(&user.email_enc)
        .map_err(WebError::Unexpected)?;
    let link = format!(
        "{}/password/reset/{token}",
        state.settings.server.public_url.trim_end_matches('/')
    );
    let l = ctx.lang;
    let body = format!(
        "{}\n\n{link}\n\n{}",
        l.t(
            "먹통 비밀번호를 바꾸려면 아래 링크를 여세요 (1시간 동안, 한 번만 쓸 수 있습니다).",
            "Open this link to set a new Meoktong password (it works once, for one hour)."
        ),
        l.t(
            "요청하지 않으셨다면 이 메일을 무시하세요.",
            "If you did not ask for this, ignore this email."
        ),
    );
    let msg = AccountMessage {
        merchant_id: user.merchant_id.unwrap_or(0),
        contact_id: None,
        kind: "account",
        channel: "email",
        recipient: &email,
        subject: Some(
            l.t("[먹통] 비밀번호 재설정", "[Meoktong] Reset your password")
                .to_string(),
        ),
        body,
        dedupe_key: format!("reset:{}:{}", user.id, random_token(9)),
        validity_ms: RESET_TTL_MS,
    };
    contact_book::queue_account_message(&state.db, &state.crypto, msg, now).await?;
    state.outbox_changed.notify_waiters();
    Ok(())
}

fn reset_form(ctx: &Ctx, csrf: String, token: &str) -> FormPage {
    let l = ctx.lang;
    let mut page = FormPage::new(
        ctx,
        l.t("새 비밀번호", "New password"),
        format!("/password/reset/{token}"),
        csrf,
        l.t("비밀번호 바꾸기", "Change password"),
    );
    page.fields = vec![Field::new(
        "password",
        l.t("새 비밀번호 (10자 이상)", "New password (10+ characters)"),
        "password",
        "new-password",
    )];
    page
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
        "이미 쓴 링크이거나 1시간이 지났습니다.",
        "It was already used or is more than an hour old.",
    );
    page.links = vec![(
        "/password/forgot".into(),
        l.t("새 링크 받기", "Get a new link"),
    )];
    page
}

pub async fn reset_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let mut ctx = Ctx::new(&state, &q, &headers, None);
    if accounts::peek_token(&state.db, &state.crypto, RESET_PURPOSE, &token, now_ms())
        .await?
        .is_none()
    {
        let page = expired(&ctx);
        return Ok(ctx.page(StatusCode::NOT_FOUND, page.render()?));
    }
    let csrf = ctx.anon_csrf(&state, &headers);
    let page = reset_form(&ctx, csrf, &token);
    Ok(ctx.ok(page.render()?))
}

#[derive(Debug, Deserialize)]
pub struct ResetForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    password: String,
}

pub async fn reset(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    Form(f): Form<ResetForm>,
) -> Result<Response, WebError> {
    check_anon_csrf(&headers, &f.csrf)?;
    let ctx = Ctx::new(&state, &q, &headers, None);
    let mut errors = Errors::default();
    validate::password(&mut errors, &f.password, ctx.lang);
    if !errors.is_empty() {
        let mut page = reset_form(&ctx, f.csrf.clone(), &token);
        errors.apply(&mut page.fields);
        return Ok(ctx.invalid(page.render()?));
    }
    let now = now_ms();
    let Some(user_id) =
        accounts::consume_token(&state.db, &state.crypto, RESET_PURPOSE, &token, now)
            .await?
            .and_then(|t| t.user_id)
    else {
        let page = expired(&ctx);
        return Ok(ctx.page(StatusCode::NOT_FOUND, page.render()?));
    };
    let hash = hash_password(f.password.clone()).await?;
    accounts::set_password(&state.db, user_id, &hash, now).await?;
    sessions::delete_user_sessions(&state.db, user_id).await?;
    Ok(ctx.redirect("/login?reset=1"))
}

/// `GET /verify/email/{token}`: the link in the verification email.
pub async fn verify_email(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let ctx = Ctx::new(&state, &q, &headers, None);
    let l = ctx.lang;
    let now = now_ms();
    let used =
        accounts::consume_token(&state.db, &state.crypto, EMAIL_PURPOSE, &token, now).await?;
    let verified = match used.and_then(|t| Some((t.merchant_id?, t.contact_id?))) {
        Some((m, c)) => contact_book::mark_verified(&state.db, m, c, "email", now).await?,
        None => false,
    };
    if !verified {
        let mut page = expired(&ctx);
        page.links = vec![(
            "/dashboard/contacts".into(),
            l.t("연락처에서 다시 보내기", "Send it again from your contacts"),
        )];
        return Ok(ctx.page(StatusCode::NOT_FOUND, page.render()?));
    }
    let mut page = FormPage::new(
        &ctx,
        l.t("이메일 확인 완료", "Email verified"),
        String::new(),
        String::new(),
        "",
    );
    page.notice = l
        .t(
            "이 이메일로 장애 알림을 받을 수 있습니다.",
            "Outage alerts can now reach this email.",
        )
        .into();
    page.links = vec![(
        "/dashboard/contacts".into(),
        l.t("연락처로 돌아가기", "Back to contacts"),
    )];
    Ok(ctx.ok(page.render()?))
}

//! Public status subscriptions (issue 20): `/status/subscribe` (choose services, an email
//! address or a mobile number), double opt-in (an emailed link to
//! `/status/subscribe/confirm/{token}`, or a six-digit SMS code at `/status/subscribe/code`),
//! and the one-click unsubscribe `/u/{token}` every message carries (GET or POST, RFC 8058).
use crate::AppState;
use crate::error::WebError;
use crate::extract::ClientIp;
use crate::i18n::Lang;
use crate::services::status_limits::{self, Refused};
use crate::views::{Ctx, check_anon_csrf, dep_name};
use askama::Template;
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use meoktong_domain::contact::EmailAddr;
use meoktong_domain::phone::parse_mobile;
use meoktong_storage::status_comms::{StatusMessage, queue, subscribers};
use meoktong_storage::{catalog, now_ms};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/status/subscribe", get(form).post(subscribe))
        .route("/status/subscribe/sent", get(sent))
        .route(
            "/status/subscribe/confirm/{token}",
            get(confirm_page).post(confirm),
        )
        .route("/status/subscribe/code", get(code_page).post(code))
        .route("/u/{token}", get(unsubscribe).post(unsubscribe))
}

pub struct DepChoice {
    pub slug: String,
    pub name: String,
    pub checked: bool,
}

#[derive(Template)]
#[template(path = "status/subscribe.html")]
struct SubscribePage {
    lang: &'static str,
    title: &'static str,
    l: Lang,
    /// `form`, `sent`, `code`, `confirm`, `done`, `unsubscribed`.
    step: &'static str,
    csrf: String,
    deps: Vec<DepChoice>,
    channel: String,
    address: String,
    error: String,
    /// The confirmation form's action, or the code form's subscriber id.
    target: String,
}

impl SubscribePage {
    fn new(ctx: &Ctx, step: &'static str, csrf: String) -> SubscribePage {
        SubscribePage {
            lang: ctx.lang.code(),
            title: ctx.t("상태 알림 받기", "Get status updates"),
            l: ctx.lang,
            step,
            csrf,
            deps: Vec::new(),
            channel: "email".into(),
            address: String::new(),
            error: String::new(),
            target: String::new(),
        }
    }
}

async fn choices(state: &AppState, l: Lang, chosen: &[String]) -> Result<Vec<DepChoice>, WebError> {
    Ok(catalog::list_dependencies(&state.db)
        .await?
        .into_iter()
        .filter(|d| d.owner_merchant_id.is_none())
        .map(|d| DepChoice {
            checked: chosen.contains(&d.slug),
            name: dep_name(l, &d),
            slug: d.slug,
        })
        .collect())
}

pub async fn form(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let mut ctx = Ctx::new(&state, &q, &headers, None);
    let csrf = ctx.anon_csrf(&state, &headers);
    let mut page = SubscribePage::new(&ctx, "form", csrf);
    let chosen: Vec<String> = q.get("dep").cloned().into_iter().collect();
    page.deps = choices(&state, ctx.lang, &chosen).await?;
    Ok(ctx.ok(page.render()?))
}

pub async fn subscribe(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    ip: ClientIp,
    axum::Form(form): axum::Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    let value = |k: &str| crate::views::form_value(&form, k).to_string();
    check_anon_csrf(&headers, &value("csrf"))?;
    let ctx = Ctx::new(&state, &q, &headers, None);
    let l = ctx.lang;
    let chosen: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "dep")
        .map(|(_, v)| v.clone())
        .collect();
    let deps = choices(&state, l, &chosen).await?;
    let dep_ids: Vec<i64> = catalog::list_dependencies(&state.db)
        .await?
        .into_iter()
        .filter(|d| d.owner_merchant_id.is_none() && chosen.contains(&d.slug))
        .map(|d| d.id)
        .collect();
    let channel = if value("channel") == "sms" {
        "sms"
    } else {
        "email"
    };
    let address = value("address");
    let recipient = match channel {
        "sms" => parse_mobile(&address).map(|m| m.as_str().to_string()).ok(),
        _ => EmailAddr::parse(&address)
            .map(|e| e.as_str().to_string())
            .ok(),
    };
    let error = match (&recipient, dep_ids.is_empty()) {
        (_, true) => Some(l.t(
            "받을 서비스를 하나 이상 고르세요.",
            "Choose at least one service.",
        )),
        (None, _) if channel == "sms" => Some(l.t(
            "휴대폰 번호를 확인해 주세요 (예: 010-1234-5678).",
            "Check the mobile number (e.g. 010-1234-5678).",
        )),
        (None, _) => Some(l.t("이메일 주소를 확인해 주세요.", "Check the email address.")),
        _ => None,
    };
    let refuse = |ctx: Ctx, msg: &str, status| -> Result<Response, WebError> {
        let mut page = SubscribePage::new(&ctx, "form", value("csrf"));
        page.deps = choices_sync(&deps);
        page.channel = channel.into();
        page.address = address.clone();
        page.error = msg.to_string();
        Ok(ctx.page(status, page.render()?))
    };
    let Some(recipient) = recipient.filter(|_| error.is_none()) else {
        return refuse(
            ctx,
            error.unwrap_or_default(),
            axum::http::StatusCode::UNPROCESSABLE_ENTITY,
        );
    };
    let hash = subscribers::recipient_hash(&state.crypto, channel, &recipient);
    if let Err(r) = status_limits::allow(channel, &hash, &ip) {
        let msg = match r {
            Refused::Recipient => l.t(
                "이 주소(번호)로는 오늘 확인 메시지를 더 보낼 수 없습니다. 받은 메시지를 확인하시거나 내일 다시 해 주세요.",
                "No more confirmations to this address or number today. Check the ones you got, or try tomorrow.",
            ),
            Refused::Client => l.t(
                "여기서 신청이 너무 많았습니다. 몇 시간 뒤에 다시 해 주세요.",
                "Too many sign-ups from here. Try again in a few hours.",
            ),
        };
        return refuse(ctx, msg, axum::http::StatusCode::TOO_MANY_REQUESTS);
    }
    let now = now_ms();
    let code = (channel == "sms").then(|| format!("{:06}", rand::random::<u32>() % 1_000_000));
    let (id, token) = subscribers::create(
        &state.db,
        &state.crypto,
        subscribers::NewSubscriber {
            channel,
            recipient: &recipient,
            dependency_ids: &dep_ids,
            code: code.as_deref(),
            locale: l.code(),
        },
        now,
    )
    .await?;
    let base = state.settings.server.public_url.trim_end_matches('/');
    let (subject, body) = match &code {
        Some(code) => (
            None,
            match l {
                Lang::Ko => format!("[먹통] 상태 알림 인증번호 {code} (10분 안에 입력)"),
                Lang::En => format!("[Meoktong] Status alerts code {code} (10 minutes)"),
            },
        ),
        None => (
            Some(l.t("[먹통] 상태 알림 구독 확인", "[Meoktong] Confirm your status alerts").to_string()),
            format!(
                "{}\n\n{base}/status/subscribe/confirm/{token}\n\n{}\n",
                l.t(
                    "먹통 서비스 상태 알림을 받으시려면 아래 링크를 열고 '구독 확인'을 누르세요.",
                    "To get Meoktong status updates, open this link and press 'Confirm'.",
                ),
                l.t(
                    "신청하지 않으셨다면 이 메일을 무시하세요. 확인하지 않으면 아무것도 보내지 않습니다.",
                    "If you did not ask for this, ignore it: nothing is sent unless you confirm.",
                ),
            ),
        ),
    };
    queue(
        &state.db,
        StatusMessage {
            merchant_id: 0,
            kind: "account",
            channel,
            recipient_enc: &state.crypto.encrypt(&recipient),
            contact_id: None,
            subject,
            body,
            dedupe_key: format!("status-confirm:{id}"),
            validity_ms: 24 * 3600 * 1000,
        },
        now,
    )
    .await?;
    state.outbox_changed.notify_waiters();
    tracing::info!(subscriber.id = id, channel, "status subscription pending");
    Ok(ctx.redirect(&match channel {
        "sms" => format!("/status/subscribe/code?s={id}"),
        _ => "/status/subscribe/sent".into(),
    }))
}

fn choices_sync(deps: &[DepChoice]) -> Vec<DepChoice> {
    deps.iter()
        .map(|d| DepChoice {
            slug: d.slug.clone(),
            name: d.name.clone(),
            checked: d.checked,
        })
        .collect()
}

pub async fn sent(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let ctx = Ctx::new(&state, &q, &headers, None);
    let page = SubscribePage::new(&ctx, "sent", String::new());
    Ok(ctx.ok(page.render()?))
}

pub async fn confirm_page(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    subscribers::by_token(&state.db, &state.crypto, &token)
        .await?
        .ok_or(WebError::NotFound)?;
    let mut ctx = Ctx::new(&state, &q, &headers, None);
    let csrf = ctx.anon_csrf(&state, &headers);
    let mut page = SubscribePage::new(&ctx, "confirm", csrf);
    page.target = format!("/status/subscribe/confirm/{token}");
    Ok(ctx.ok(page.render()?))
}

pub async fn confirm(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    check_anon_csrf(&headers, f.get("csrf").map_or("", String::as_str))?;
    let s = subscribers::by_token(&state.db, &state.crypto, &token)
        .await?
        .ok_or(WebError::NotFound)?;
    subscribers::confirm(&state.db, &s, now_ms()).await?;
    let ctx = Ctx::new(&state, &q, &headers, None);
    let mut page = SubscribePage::new(&ctx, "done", String::new());
    page.target = format!("/u/{token}");
    Ok(ctx.ok(page.render()?))
}

pub async fn code_page(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let mut ctx = Ctx::new(&state, &q, &headers, None);
    let csrf = ctx.anon_csrf(&state, &headers);
    let mut page = SubscribePage::new(&ctx, "code", csrf);
    page.target = q.get("s").cloned().unwrap_or_default();
    Ok(ctx.ok(page.render()?))
}

pub async fn code(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
    axum::Form(f): axum::Form<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let field = |k: &str| f.get(k).map_or("", String::as_str);
    check_anon_csrf(&headers, field("csrf"))?;
    let ctx = Ctx::new(&state, &q, &headers, None);
    let l = ctx.lang;
    let id: i64 = field("s").parse().map_err(|_| WebError::NotFound)?;
    let s = subscribers::get(&state.db, id)
        .await?
        .filter(|s| s.channel == "sms")
        .ok_or(WebError::NotFound)?;
    let check =
        subscribers::check_code(&state.db, &state.crypto, &s, field("code"), now_ms()).await?;
    let mut page = SubscribePage::new(&ctx, "code", field("csrf").to_string());
    page.target = id.to_string();
    match check {
        subscribers::CodeCheck::Confirmed => {
            let mut page = SubscribePage::new(&ctx, "done", String::new());
            page.target = format!("/u/{}", subscribers::link_token(&state.crypto, id));
            return Ok(ctx.ok(page.render()?));
        }
        subscribers::CodeCheck::Wrong => {
            page.error = l
                .t("인증번호가 맞지 않습니다.", "That code is not right.")
                .into();
        }
        subscribers::CodeCheck::Spent => {
            page.error = l
                .t(
                    "이 인증번호는 더 쓸 수 없습니다. 처음부터 다시 신청해 주세요.",
                    "This code can no longer be used. Please sign up again.",
                )
                .into();
        }
    }
    Ok(ctx.invalid(page.render()?))
}

/// One click: the link in every message unsubscribes at once (GET, so it works from an SMS;
/// POST for mail clients' RFC 8058 one-click). The token is the subscriber's secret.
pub async fn unsubscribe(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let s = subscribers::by_token(&state.db, &state.crypto, &token)
        .await?
        .ok_or(WebError::NotFound)?;
    subscribers::unsubscribe(&state.db, s.id, now_ms()).await?;
    tracing::info!(subscriber.id = s.id, "status subscriber unsubscribed");
    let ctx = Ctx::new(&state, &q, &headers, None);
    let page = SubscribePage::new(&ctx, "unsubscribed", String::new());
    Ok(ctx.ok(page.render()?))
}

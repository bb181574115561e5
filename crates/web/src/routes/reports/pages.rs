//! `/reports/new`: the public damage-report form, and `/reports/submitted`.
use super::guard::{self, ClientIp, Limiter};
use super::intake::{self, Opening, Outcome};
use super::upload;
use super::{LangQuery, lang_of, render};
use crate::AppState;
use crate::auth::session::MaybeUser;
use crate::error::WebError;
use crate::i18n::Lang;
use askama::Template;
use axum::Extension;
use axum::extract::{Multipart, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use meoktong_storage::now_ms;
use serde::Deserialize;

#[derive(Debug, Default, Deserialize)]
pub struct NewQuery {
    pub incident: Option<String>,
    pub token: Option<String>,
    pub lang: Option<String>,
}

pub async fn new_form(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    Query(q): Query<NewQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let lang = lang_of(q.lang.as_deref(), &headers, user.as_ref());
    let (csrf, cookie) = guard::csrf_for_form(&state, user.as_ref(), &headers);
    let opening = Opening {
        incident: q.incident.as_deref().unwrap_or_default(),
        token: q.token.as_deref().unwrap_or_default(),
        csrf,
        now: now_ms(),
    };
    let page = intake::open(&state, user.as_ref(), lang, opening).await?;
    render(StatusCode::OK, &page, cookie)
}

#[allow(clippy::too_many_arguments)]
pub async fn submit(
    State(state): State<AppState>,
    MaybeUser(user): MaybeUser,
    ClientIp(ip): ClientIp,
    Extension(limiter): Extension<Limiter>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    multipart: Multipart,
) -> Result<Response, WebError> {
    let lang = lang_of(q.lang.as_deref(), &headers, user.as_ref());
    if !limiter.allow(&ip) {
        let msg = lang.t(
            "제출이 너무 많습니다. 잠시 후 다시 시도해 주세요.",
            "Too many submissions; try again in a few minutes.",
        );
        return Ok((StatusCode::TOO_MANY_REQUESTS, [("retry-after", "60")], msg).into_response());
    }
    let form = match upload::read(multipart).await {
        Ok(f) => f,
        Err(refused) => return Ok((refused.status, refused.reason).into_response()),
    };
    guard::check_csrf(user.as_ref(), &headers, form.get("csrf"))?;
    let done = Redirect::to(&format!("/reports/submitted?lang={}", lang.code())).into_response();
    if !form.get(guard::HONEYPOT_FIELD).is_empty() {
        tracing::info!("damage report dropped: honeypot field filled");
        return Ok(done);
    }
    match intake::submit(&state, user.as_ref(), &form, lang, now_ms()).await? {
        Outcome::Saved(id) => Ok(Redirect::to(&format!(
            "/reports/submitted?receipt={id}&lang={}",
            lang.code()
        ))
        .into_response()),
        Outcome::Invalid(page) => render(StatusCode::UNPROCESSABLE_ENTITY, page.as_ref(), None),
        Outcome::Estimated(page) => render(StatusCode::OK, page.as_ref(), None),
    }
}

#[derive(Template)]
#[template(path = "reports/submitted.html")]
struct Submitted {
    lang: &'static str,
    l: Lang,
    title: String,
    signed_in: bool,
    /// The receipt number (`MT-000042`) and the report's id, when known.
    receipt: String,
    id: i64,
}

#[derive(Debug, Default, Deserialize)]
pub struct SubmittedQuery {
    pub receipt: Option<i64>,
    pub lang: Option<String>,
}

pub async fn submitted(
    MaybeUser(user): MaybeUser,
    Query(q): Query<SubmittedQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let lang = lang_of(q.lang.as_deref(), &headers, user.as_ref());
    let id = q.receipt.filter(|id| *id > 0).unwrap_or_default();
    let page = Submitted {
        lang: lang.code(),
        l: lang,
        title: lang.t("신고가 접수되었습니다", "Report received").into(),
        signed_in: user.is_some(),
        receipt: if id > 0 {
            meoktong_storage::reports::receipt_number(id)
        } else {
            String::new()
        },
        id,
    };
    render(StatusCode::OK, &page, None)
}

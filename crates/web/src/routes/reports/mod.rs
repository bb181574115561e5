//! Damage reports: merchants (and non-members) file them after an outage; associations review,
//! total and export them for compensation claims.
//!
//! - [`pages`]: `/reports/new` (public form), `/reports/submitted`.
//! - [`mine`]: `/reports`, `/reports/{id}` — a merchant's own reports and their review status.
//! - [`review`]: `/association/reports…` — the review queue of an association's staff.
//! - [`incidents`]: `/association/incidents…` — per-event totals, CSV export, evidence pack.
//! - [`sheet`]: `/reports/{id}/evidence`, `/association/reports/{id}/evidence` — the signed
//!   per-merchant evidence sheet; `/reports/evidence/verify` checks one ([`signature`]).
//! - [`api`]: `/api/v1/reports…` — the same for programs, with bearer tokens (routed from
//!   [`crate::routes::api::API_ROUTES`]).
//!
//! Pure parts: [`validate`] (field rules), [`choices`] (fixed lists), [`totals`] (aggregates).
use crate::AppState;
use crate::auth::session::CurrentUser;
use crate::error::WebError;
use crate::i18n::Lang;
use askama::Template;
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderMap, HeaderName, HeaderValue, StatusCode, header};
use axum::response::{Html, IntoResponse, Response};
use axum::routing::{get, post};
use serde::Deserialize;

pub mod api;
pub mod choices;
pub mod event;
pub mod export;
pub mod form;
pub mod guard;
pub mod incidents;
pub mod intake;
pub mod mine;
pub mod pages;
pub mod prefill;
pub mod review;
pub mod sheet;
pub mod signature;
pub mod tell;
pub mod totals;
pub mod upload;
pub mod validate;
pub mod view;

pub use guard::form_stamp;

/// Every route of this module; merged into the application's router.
pub fn router() -> Router<AppState> {
    Router::new()
        .route("/reports", get(mine::list))
        .route(
            "/reports/new",
            get(pages::new_form)
                .post(pages::submit)
                .layer(DefaultBodyLimit::max(upload::MAX_BODY_BYTES)),
        )
        .route("/reports/submitted", get(pages::submitted))
        .route(
            "/reports/evidence/verify",
            get(sheet::verify_form)
                .post(sheet::verify_upload)
                .layer(DefaultBodyLimit::max(upload::MAX_BODY_BYTES)),
        )
        .route("/reports/{id}", get(mine::detail))
        .route("/reports/{id}/evidence", get(sheet::for_merchant))
        .route("/association/reports", get(review::queue))
        .route("/association/reports/{id}", get(review::detail))
        .route("/association/reports/{id}/review", post(review::act))
        .route("/association/reports/{id}/evidence", get(sheet::for_staff))
        .route(
            "/association/reports/{id}/attachments/{attachment}",
            get(review::attachment),
        )
        .route("/association/incidents", get(incidents::list))
        .route("/association/incidents/{id}", get(incidents::totals_page))
        .route("/association/incidents/{id}/reports.csv", get(export::csv))
        .route(
            "/association/incidents/{id}/evidence",
            get(export::evidence),
        )
        .layer(axum::Extension(guard::Limiter::new()))
}

/// `?lang=` on every page.
#[derive(Debug, Default, Deserialize)]
pub struct LangQuery {
    pub lang: Option<String>,
}

/// `?lang=`, then the remembered choice (`mt_lang`), then the signed-in user's locale, then
/// Accept-Language: the same order as every other page ([`Lang::choose`]).
pub fn lang_of(query: Option<&str>, headers: &HeaderMap, user: Option<&CurrentUser>) -> Lang {
    Lang::choose(query, headers, user.and_then(|u| u.locale.as_deref()))
}

/// Report pages hold personal data (and sometimes an alert token in the URL): never cached,
/// never framed, no Referer.
pub const PRIVATE_HEADERS: [(HeaderName, &str); 4] = [
    (header::CACHE_CONTROL, "no-store"),
    (header::REFERRER_POLICY, "no-referrer"),
    (header::X_FRAME_OPTIONS, "DENY"),
    (header::X_CONTENT_TYPE_OPTIONS, "nosniff"),
];

/// Renders a page with [`PRIVATE_HEADERS`] (and a cookie to set, if any).
pub fn render(
    status: StatusCode,
    page: &impl Template,
    cookie: Option<String>,
) -> Result<Response, WebError> {
    let mut resp = (status, PRIVATE_HEADERS, Html(page.render()?)).into_response();
    if let Some(c) = cookie.and_then(|c| HeaderValue::from_str(&c).ok()) {
        resp.headers_mut().append(header::SET_COOKIE, c);
    }
    Ok(resp)
}

/// The association a staff member works for; anybody else finds nothing here (404).
pub fn staff_of(user: &CurrentUser) -> Result<i64, WebError> {
    match (&user.role, user.association_id) {
        (crate::auth::session::Role::Association, Some(a)) => Ok(a),
        _ => Err(WebError::NotFound),
    }
}

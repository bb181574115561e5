//! `/api/v1`: JSON for programs. Public read-only resources (dependencies, incidents) need no
//! token; `/api/v1/me/...` needs `Authorization: Bearer <token>` made in the dashboard;
//! `/api/v1/reports…` a bearer token or a session (with `X-CSRF-Token` on writes);
//! `/api/v1/agent/…` an agent token. Every route is declared in [`API_ROUTES`].
//! Errors are `{error, message, field}` (also for unknown paths, wrong methods and
//! unparsable path or query parameters, see [`crate::layers`]); bad input is 422.
mod me;
pub mod openapi;
mod public;
mod webhook;

use crate::AppState;
use crate::auth::session::CurrentUser;
use crate::error::WebError;
use crate::routes::{agent, association, reports};
use axum::Json;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::extract::rejection::JsonRejection;
use axum::http::request::Parts;

/// Declares every `/api/v1` endpoint once: [`API_ROUTES`] (method, path) and [`routes`] are
/// both made from this list, and the OpenAPI document is checked against [`API_ROUTES`] (a
/// unit test here and a black-box test in `tests/tests/api.rs`), so the three cannot drift.
macro_rules! api_routes {
    ($($method:ident $path:literal => $handler:path;)*) => {
        /// Every routed `/api/v1` endpoint as (method, path).
        pub const API_ROUTES: &[(&str, &str)] = &[$((stringify!($method), $path)),*];

        /// The router of [`API_ROUTES`].
        pub fn routes() -> Router<AppState> {
            Router::new()$(.route($path, axum::routing::$method($handler)))*
        }
    };
}

api_routes! {
    get "/api/v1/openapi.json" => openapi::document;
    get "/api/v1/dependencies" => public::dependencies;
    get "/api/v1/dependencies/{slug}" => public::dependency;
    get "/api/v1/incidents" => public::incidents;
    get "/api/v1/incidents/{id}" => public::incident;
    get "/api/v1/me/subscriptions" => me::subscriptions;
    put "/api/v1/me/subscriptions" => me::put_subscriptions;
    get "/api/v1/me/contacts" => me::contacts;
    post "/api/v1/me/contacts" => me::add_contact;
    delete "/api/v1/me/contacts/{id}" => me::remove_contact;
    patch "/api/v1/me/contacts/{id}" => me::patch_contact;
    get "/api/v1/me/playbooks" => me::playbooks;
    put "/api/v1/me/playbooks/{category}" => me::put_playbook;
    get "/api/v1/me/notifications" => me::notifications;
    get "/api/v1/me/notifications/{id}" => me::notification;
    post "/api/v1/me/test-alert" => me::test_alert;
    get "/api/v1/me/webhook" => webhook::get;
    put "/api/v1/me/webhook" => webhook::put;
    delete "/api/v1/me/webhook" => webhook::delete;
    post "/api/v1/me/webhook/secret" => webhook::rotate;
    post "/api/v1/me/webhook/test" => webhook::test;
    get "/api/v1/reports" => reports::api::list;
    get "/api/v1/reports/{id}" => reports::api::one;
    post "/api/v1/reports/{id}/review" => reports::api::review;
    get "/api/v1/reports/incidents/{id}/totals" => reports::api::totals;
    get "/api/v1/association/members" => association::api::members;
    get "/api/v1/association/reach" => association::api::reach;
    get "/api/v1/agent/checks" => agent::checks;
    post "/api/v1/agent/results" => agent::results;
}

/// A merchant calling with a bearer token. A session cookie is not enough here: JSON
/// requests carry no CSRF token, so cookies would let other sites act for the merchant.
pub struct ApiMerchant {
    pub user: CurrentUser,
    pub merchant_id: i64,
}

impl FromRequestParts<AppState> for ApiMerchant {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if !user.via_api_token {
            return Err(WebError::Unauthorized);
        }
        let merchant_id = user.merchant()?;
        Ok(ApiMerchant { user, merchant_id })
    }
}

/// A JSON body, or 422 naming what was wrong with it (413 when it is over the body limit,
/// as forms answer).
pub fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, WebError> {
    b.map(|Json(v)| v).map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            WebError::TooLarge(e.body_text())
        } else {
            WebError::Validation {
                field: "body".into(),
                message: e.body_text(),
            }
        }
    })
}

/// An optional JSON body: none at all (empty) is `T::default()`; anything else must parse.
pub fn optional_body<T: serde::de::DeserializeOwned + Default>(
    bytes: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<T, WebError> {
    let bytes = bytes.map_err(|e| {
        if e.status() == axum::http::StatusCode::PAYLOAD_TOO_LARGE {
            WebError::TooLarge(e.body_text())
        } else {
            WebError::Validation {
                field: "body".into(),
                message: e.body_text(),
            }
        }
    })?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(T::default());
    }
    serde_json::from_slice(&bytes).map_err(|e| WebError::Validation {
        field: "body".into(),
        message: format!("not the JSON expected: {e}"),
    })
}

/// A `limit` query parameter: absent is `default`; outside `1..=max` is refused (422), never
/// quietly clamped.
pub fn limit(given: Option<u64>, default: u64, max: u64) -> Result<u64, WebError> {
    match given {
        None => Ok(default),
        Some(n) if (1..=max).contains(&n) => Ok(n),
        Some(n) => Err(WebError::Validation {
            field: "limit".into(),
            message: format!("limit must be between 1 and {max}, not {n}"),
        }),
    }
}

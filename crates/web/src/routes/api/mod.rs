//! `/api/v1`: JSON for programs. Public read-only resources (dependencies, incidents) need no
//! token; `/api/v1/me/...` needs `Authorization: Bearer <token>` made in the dashboard.
//! Errors are `{error, message, field}`; bad input is 422.
mod me;
pub mod openapi;
mod public;

use crate::AppState;
use crate::auth::session::CurrentUser;
use crate::error::WebError;
use axum::Json;
use axum::Router;
use axum::extract::FromRequestParts;
use axum::extract::rejection::JsonRejection;
use axum::http::request::Parts;
use axum::routing::{delete, get, post, put};

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/api/v1/openapi.json", get(openapi::document))
        .route("/api/v1/dependencies", get(public::dependencies))
        .route("/api/v1/dependencies/{slug}", get(public::dependency))
        .route("/api/v1/incidents", get(public::incidents))
        .route("/api/v1/incidents/{id}", get(public::incident))
        .route(
            "/api/v1/me/subscriptions",
            get(me::subscriptions).put(me::put_subscriptions),
        )
        .route(
            "/api/v1/me/contacts",
            get(me::contacts).post(me::add_contact),
        )
        .route("/api/v1/me/contacts/{id}", delete(me::remove_contact))
        .route("/api/v1/me/playbooks", get(me::playbooks))
        .route("/api/v1/me/playbooks/{category}", put(me::put_playbook))
        .route("/api/v1/me/notifications", get(me::notifications))
        .route("/api/v1/me/notifications/{id}", get(me::notification))
        .route("/api/v1/me/test-alert", post(me::test_alert))
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

/// A JSON body, or 422 naming what was wrong with it.
pub fn body<T>(b: Result<Json<T>, JsonRejection>) -> Result<T, WebError> {
    b.map(|Json(v)| v).map_err(|e| WebError::Validation {
        field: "body".into(),
        message: e.body_text(),
    })
}

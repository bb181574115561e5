//! `/api/v1/me/webhook`: the calling merchant's webhook, as on the dashboard's contacts page.
//! The signing secret is in an answer only when it was just made (created or rotated).
use super::{ApiMerchant, body};
use crate::AppState;
use crate::error::WebError;
use crate::i18n::Lang;
use crate::services::webhook as webhook_service;
use crate::views::rfc3339;
use crate::views::service_tz;
use axum::Json;
use axum::extract::State;
use axum::extract::rejection::JsonRejection;
use axum::http::StatusCode;
use meoktong_notify::providers::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use meoktong_storage::webhooks;
use serde::Deserialize;
use serde_json::{Value, json};

/// API messages are English; the dashboard speaks Korean.
const LANG: Lang = Lang::En;

async fn view(
    state: &AppState,
    merchant_id: i64,
    secret: Option<String>,
) -> Result<Json<Value>, WebError> {
    let tz = service_tz(state);
    let w = webhooks::get(&state.db, &state.crypto, merchant_id).await?;
    let mut v = json!({
        "url": w.as_ref().map(|w| w.url.clone()),
        "created_at": w.as_ref().map(|w| rfc3339(tz, w.created_at)),
        "updated_at": w.as_ref().map(|w| rfc3339(tz, w.updated_at)),
        "timestamp_header": TIMESTAMP_HEADER,
        "signature_header": SIGNATURE_HEADER,
    });
    if let Some(s) = secret {
        v["secret"] = json!(s);
    }
    Ok(Json(v))
}

pub async fn get(State(state): State<AppState>, me: ApiMerchant) -> Result<Json<Value>, WebError> {
    view(&state, me.merchant_id, None).await
}

#[derive(Deserialize)]
pub struct WebhookBody {
    #[serde(default)]
    url: String,
}

/// Sets the URL (SSRF guard); a new webhook's secret is in the answer, once.
pub async fn put(
    State(state): State<AppState>,
    me: ApiMerchant,
    b: Result<Json<WebhookBody>, JsonRejection>,
) -> Result<Json<Value>, WebError> {
    let b = body(b)?;
    let user = Some(me.user.user_id);
    let secret = webhook_service::set_url(&state, me.merchant_id, user, &b.url, LANG).await?;
    view(&state, me.merchant_id, secret).await
}

/// A new signing secret, in the answer once; 404 without a webhook.
pub async fn rotate(
    State(state): State<AppState>,
    me: ApiMerchant,
) -> Result<Json<Value>, WebError> {
    let secret = webhook_service::rotate(&state, me.merchant_id, Some(me.user.user_id)).await?;
    view(&state, me.merchant_id, Some(secret)).await
}

/// Queues a test event (`"event": "test"`); 404 without a webhook, 429 past the test limit.
pub async fn test(
    State(state): State<AppState>,
    me: ApiMerchant,
) -> Result<(StatusCode, Json<Value>), WebError> {
    let id = webhook_service::send_test(&state, me.merchant_id, LANG).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "notification_id": id }))))
}

pub async fn delete(
    State(state): State<AppState>,
    me: ApiMerchant,
) -> Result<StatusCode, WebError> {
    webhook_service::remove(&state, me.merchant_id, Some(me.user.user_id)).await?;
    Ok(StatusCode::NO_CONTENT)
}

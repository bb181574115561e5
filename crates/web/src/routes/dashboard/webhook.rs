//! The webhook part of `/dashboard/contacts`: a URL the merchant's own system (POS, ordering
//! system) receives every alert at, as signed JSON. The signing secret is shown once, when it
//! is made; afterwards only a new one can be made.
use super::Dash;
use super::contacts::{Problems, render};
use crate::AppState;
use crate::error::WebError;
use crate::services::webhook as webhook_service;
use axum::extract::{Form, State};
use axum::response::Response;
use meoktong_notify::providers::{SIGNATURE_HEADER, TIMESTAMP_HEADER};
use meoktong_storage::webhooks;
use serde::Deserialize;

/// What the page shows about the webhook.
pub struct Section {
    /// The URL in use, empty when there is no webhook.
    pub url: String,
    /// The form's value (the URL in use, or what was typed when it was refused).
    pub value: String,
    pub error: String,
    /// A secret just made: shown this once.
    pub secret: String,
    pub timestamp_header: &'static str,
    pub signature_header: &'static str,
}

/// What the last request asks the page to show.
#[derive(Default)]
pub struct Shown {
    pub value: Option<String>,
    pub error: String,
    pub secret: String,
}

pub async fn section(
    state: &AppState,
    merchant_id: i64,
    shown: Shown,
) -> Result<Section, WebError> {
    let url = webhooks::get(&state.db, &state.crypto, merchant_id)
        .await?
        .map(|w| w.url)
        .unwrap_or_default();
    Ok(Section {
        value: shown.value.unwrap_or_else(|| url.clone()),
        url,
        error: shown.error,
        secret: shown.secret,
        timestamp_header: TIMESTAMP_HEADER,
        signature_header: SIGNATURE_HEADER,
    })
}

#[derive(Debug, Default, Deserialize)]
pub struct WebhookForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    url: String,
}

fn show(dash: Dash, webhook: Shown) -> (Dash, Problems) {
    let mut p = Problems::default();
    p.webhook = webhook;
    (dash, p)
}

pub async fn save(
    State(state): State<AppState>,
    dash: Dash,
    Form(f): Form<WebhookForm>,
) -> Result<Response, WebError> {
    dash.csrf(&f.csrf)?;
    let user = Some(dash.user.user_id);
    let shown =
        match webhook_service::set_url(&state, dash.merchant_id, user, &f.url, dash.ctx.lang).await
        {
            Ok(None) => return Ok(dash.ctx.redirect("/dashboard/contacts?done=saved#webhook")),
            Ok(Some(secret)) => Shown {
                secret,
                ..Shown::default()
            },
            Err(WebError::Validation { message, .. }) => Shown {
                value: Some(f.url),
                error: message,
                ..Shown::default()
            },
            Err(e) => return Err(e),
        };
    let (dash, p) = show(dash, shown);
    render(&state, dash, p).await
}

pub async fn rotate(
    State(state): State<AppState>,
    dash: Dash,
    Form(f): Form<WebhookForm>,
) -> Result<Response, WebError> {
    dash.csrf(&f.csrf)?;
    let secret = webhook_service::rotate(&state, dash.merchant_id, Some(dash.user.user_id)).await?;
    let (dash, p) = show(
        dash,
        Shown {
            secret,
            ..Shown::default()
        },
    );
    render(&state, dash, p).await
}

/// A test event to the webhook, through the outbox (delivery shows in the history).
pub async fn test(
    State(state): State<AppState>,
    dash: Dash,
    Form(f): Form<WebhookForm>,
) -> Result<Response, WebError> {
    dash.csrf(&f.csrf)?;
    webhook_service::send_test(&state, dash.merchant_id, dash.ctx.lang).await?;
    Ok(dash
        .ctx
        .redirect("/dashboard/contacts?done=test-sent#webhook"))
}

pub async fn remove(
    State(state): State<AppState>,
    dash: Dash,
    Form(f): Form<WebhookForm>,
) -> Result<Response, WebError> {
    dash.csrf(&f.csrf)?;
    webhook_service::remove(&state, dash.merchant_id, Some(dash.user.user_id)).await?;
    Ok(dash
        .ctx
        .redirect("/dashboard/contacts?done=removed#webhook"))
}

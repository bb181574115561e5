//! `/api/v1/me/...`: the calling merchant's subscriptions, contacts, playbooks and
//! notifications, and a test alert. Another merchant's ids answer 404.
use super::{ApiMerchant, body};
use crate::AppState;
use crate::error::WebError;
use crate::i18n::Lang;
use crate::services::merchant;
use crate::views::rfc3339;
use crate::views::service_tz;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use meoktong_domain::Category;
use meoktong_domain::duration_text::Locale;
use meoktong_domain::message::default_playbook_text;
use meoktong_storage::contact_book::ContactView;
use meoktong_storage::entity::{notices, outbox};
use meoktong_storage::{contact_book, contacts, dashboard, now_ms, status};
use serde::{Deserialize, Serialize};
use serde_json::{Value, json};
use std::collections::HashMap;

/// API messages are English; the dashboard speaks Korean.
const LANG: Lang = Lang::En;

pub async fn subscriptions(
    State(state): State<AppState>,
    me: ApiMerchant,
) -> Result<Json<Value>, WebError> {
    let subs = dashboard::subscriptions_of(&state.db, me.merchant_id).await?;
    let deps = status::overview(&state.db).await?;
    let list: Vec<Value> = subs
        .iter()
        .filter_map(|s| {
            let d = deps.iter().find(|d| d.dependency.id == s.dependency_id)?;
            Some(json!({"dependency": d.dependency.slug, "notify_degraded": s.notify_degraded, "state": d.state}))
        })
        .collect();
    Ok(Json(json!({ "subscriptions": list })))
}

#[derive(Deserialize)]
pub struct WantedSubscription {
    dependency: String,
    #[serde(default)]
    notify_degraded: bool,
}

#[derive(Deserialize)]
pub struct SubscriptionsBody {
    subscriptions: Vec<WantedSubscription>,
}

/// Replaces the whole set.
pub async fn put_subscriptions(
    State(state): State<AppState>,
    me: ApiMerchant,
    b: Result<Json<SubscriptionsBody>, JsonRejection>,
) -> Result<Json<Value>, WebError> {
    let b = body(b)?;
    let wanted: Vec<(String, bool)> = b
        .subscriptions
        .into_iter()
        .map(|s| (s.dependency, s.notify_degraded))
        .collect();
    merchant::set_subscriptions(&state, me.merchant_id, me.user.user_id, &wanted, LANG).await?;
    subscriptions(State(state), me).await
}

pub async fn contacts(
    State(state): State<AppState>,
    me: ApiMerchant,
) -> Result<Json<Value>, WebError> {
    let list = contact_book::list(&state.db, &state.crypto, me.merchant_id).await?;
    Ok(Json(json!({ "contacts": list })))
}

#[derive(Deserialize)]
pub struct NewContactBody {
    #[serde(default)]
    label: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
}

pub async fn add_contact(
    State(state): State<AppState>,
    me: ApiMerchant,
    b: Result<Json<NewContactBody>, JsonRejection>,
) -> Result<(StatusCode, Json<ContactView>), WebError> {
    let b = body(b)?;
    let domains = &state.settings.channels.platform_domains;
    let c = merchant::parse_contact(&b.label, &b.phone, &b.email, LANG, domains).map_err(|e| {
        e.into_web_error()
            .unwrap_or(WebError::Unexpected("empty validation".into()))
    })?;
    let id = merchant::add_contact(&state, me.merchant_id, me.user.user_id, &c).await?;
    Ok((
        StatusCode::CREATED,
        Json(merchant::contact(&state, me.merchant_id, id).await?),
    ))
}

pub async fn remove_contact(
    State(state): State<AppState>,
    me: ApiMerchant,
    Path(id): Path<i64>,
) -> Result<StatusCode, WebError> {
    let c = merchant::contact(&state, me.merchant_id, id).await?;
    if contact_book::list(&state.db, &state.crypto, me.merchant_id)
        .await?
        .len()
        <= 1
    {
        return Err(WebError::Conflict {
            field: "id".into(),
            message: "the last contact cannot be removed; add another first".into(),
        });
    }
    contact_book::remove(&state.db, me.merchant_id, c.id, me.user.user_id, now_ms()).await?;
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ContactPatch {
    voice_enabled: bool,
}

/// `PATCH /api/v1/me/contacts/{id}`: alert calls to the contact on or off.
pub async fn patch_contact(
    State(state): State<AppState>,
    me: ApiMerchant,
    Path(id): Path<i64>,
    b: Result<Json<ContactPatch>, JsonRejection>,
) -> Result<Json<ContactView>, WebError> {
    let b = body(b)?;
    let c = merchant::contact(&state, me.merchant_id, id).await?;
    contact_book::set_voice_enabled(
        &state.db,
        me.merchant_id,
        c.id,
        b.voice_enabled,
        me.user.user_id,
        now_ms(),
    )
    .await?;
    Ok(Json(merchant::contact(&state, me.merchant_id, id).await?))
}

#[derive(Serialize)]
pub struct Playbook {
    category: &'static str,
    text: String,
    custom: bool,
}

async fn playbook_list(state: &AppState, merchant_id: i64) -> Result<Vec<Playbook>, WebError> {
    let own = contacts::playbooks(&state.db, merchant_id).await?;
    let locale = contacts::merchant(&state.db, merchant_id)
        .await?
        .and_then(|m| m.locale)
        .and_then(|l| Locale::parse(&l))
        .unwrap_or_default();
    Ok(Category::ALL
        .iter()
        .map(|c| {
            let mine = own.iter().find(|p| p.category == c.as_str());
            Playbook {
                category: c.as_str(),
                text: mine
                    .map(|p| p.text.clone())
                    .unwrap_or_else(|| default_playbook_text(*c, locale).to_string()),
                custom: mine.is_some(),
            }
        })
        .collect())
}

pub async fn playbooks(
    State(state): State<AppState>,
    me: ApiMerchant,
) -> Result<Json<Value>, WebError> {
    Ok(Json(
        json!({ "playbooks": playbook_list(&state, me.merchant_id).await? }),
    ))
}

#[derive(Deserialize)]
pub struct PlaybookBody {
    text: String,
}

/// An empty text (or the default) goes back to the default.
pub async fn put_playbook(
    State(state): State<AppState>,
    me: ApiMerchant,
    Path(category): Path<String>,
    b: Result<Json<PlaybookBody>, JsonRejection>,
) -> Result<Json<Playbook>, WebError> {
    let b = body(b)?;
    merchant::set_playbook(&state, me.merchant_id, &category, &b.text, LANG).await?;
    playbook_list(&state, me.merchant_id)
        .await?
        .into_iter()
        .find(|p| p.category == category)
        .map(Json)
        .ok_or(WebError::NotFound)
}

fn notification_json(
    state: &AppState,
    slugs: &HashMap<i64, String>,
    n: &notices::Model,
    msgs: &[outbox::Model],
) -> Value {
    let tz = service_tz(state);
    let ids: Vec<i64> = serde_json::from_str(&n.dependency_ids).unwrap_or_default();
    let messages: Vec<Value> = msgs
        .iter()
        .map(|m| json!({"channel": m.channel, "contact_position": m.contact_position, "state": m.state, "attempts": m.attempts, "last_error": m.last_error, "created_at": rfc3339(tz, m.created_at), "delivered_at": m.delivered_at.map(|t| rfc3339(tz, t))}))
        .collect();
    json!({
        "id": n.id,
        "kind": n.kind,
        "status": n.status,
        "dependencies": ids.iter().filter_map(|i| slugs.get(i)).collect::<Vec<_>>(),
        "created_at": rfc3339(tz, n.created_at),
        "acknowledged_at": n.acked_at.map(|t| rfc3339(tz, t)),
        "acknowledged_via": n.acked_via,
        "messages": messages,
    })
}

#[derive(Deserialize)]
pub struct Limit {
    limit: Option<u64>,
}

pub async fn notifications(
    State(state): State<AppState>,
    me: ApiMerchant,
    Query(q): Query<Limit>,
) -> Result<Json<Value>, WebError> {
    let slugs = super::public::slugs(&state).await?;
    let limit = super::limit(q.limit, 50, 200)?;
    let list = dashboard::history(&state.db, me.merchant_id, limit).await?;
    let out: Vec<Value> = list
        .iter()
        .map(|(n, m)| notification_json(&state, &slugs, n, m))
        .collect();
    Ok(Json(json!({ "notifications": out })))
}

pub async fn notification(
    State(state): State<AppState>,
    me: ApiMerchant,
    Path(id): Path<i64>,
) -> Result<Json<Value>, WebError> {
    let (n, msgs) = dashboard::notice_of(&state.db, me.merchant_id, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let slugs = super::public::slugs(&state).await?;
    Ok(Json(notification_json(&state, &slugs, &n, &msgs)))
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
pub struct TestAlertBody {
    /// A JSON number (`7` or `7.0`: JSON Schema calls both integers), or null.
    contact_id: Option<serde_json::Number>,
}

fn contact_id(n: Option<serde_json::Number>) -> Result<Option<i64>, WebError> {
    let Some(n) = n else { return Ok(None) };
    n.as_i64()
        .or_else(|| {
            n.as_f64()
                .filter(|f| f.fract() == 0.0 && f.abs() < 9.0e15)
                .map(|f| f as i64)
        })
        .map(Some)
        .ok_or_else(|| WebError::Validation {
            field: "contact_id".into(),
            message: format!("`{n}` is not a contact id"),
        })
}

pub async fn test_alert(
    State(state): State<AppState>,
    me: ApiMerchant,
    b: Result<axum::body::Bytes, axum::extract::rejection::BytesRejection>,
) -> Result<(StatusCode, Json<Value>), WebError> {
    // The body is optional (documented so): none means the first contact.
    let contact_id = contact_id(super::optional_body::<TestAlertBody>(b)?.contact_id)?;
    let id = merchant::send_test_alert(&state, me.merchant_id, contact_id, LANG).await?;
    Ok((StatusCode::ACCEPTED, Json(json!({ "notification_id": id }))))
}

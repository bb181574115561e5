//! The operator's status controls over JSON (issue 20), with an operator's bearer token:
//! declare an incident, post an update (a `resolved` one resolves by hand), mark a false
//! alarm, schedule maintenance; and the public list of maintenance windows.
use super::body;
use crate::AppState;
use crate::auth::session::{CurrentUser, Role};
use crate::error::WebError;
use crate::services::status_ops;
use crate::views::{rfc3339, service_tz};
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequestParts, Path, State};
use axum::http::StatusCode;
use axum::http::request::Parts;
use meoktong_storage::now_ms;
use meoktong_storage::status_comms::maintenance;
use serde::Deserialize;
use serde_json::{Value, json};

/// An operator calling with a bearer token (a session cookie is not enough: no CSRF token
/// travels with JSON). Another role's token: 403.
pub struct ApiOperator(pub CurrentUser);

impl FromRequestParts<AppState> for ApiOperator {
    type Rejection = WebError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Self, WebError> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if !user.via_api_token {
            return Err(WebError::Unauthorized);
        }
        if user.role != Role::Operator {
            return Err(WebError::Forbidden);
        }
        Ok(ApiOperator(user))
    }
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct DeclareBody {
    dependencies: Vec<String>,
    #[serde(default)]
    started_at: Option<String>,
    #[serde(default)]
    text: String,
}

pub async fn declare(
    State(state): State<AppState>,
    ApiOperator(user): ApiOperator,
    b: Result<Json<DeclareBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), WebError> {
    let b = body(b)?;
    let ids = status_ops::declare(
        &state,
        &user,
        &b.dependencies,
        b.started_at.as_deref().unwrap_or(""),
        &b.text,
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({ "incidents": ids }))))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UpdateBody {
    status: String,
    #[serde(default)]
    body: String,
}

pub async fn post_update(
    State(state): State<AppState>,
    ApiOperator(user): ApiOperator,
    Path(id): Path<i64>,
    b: Result<Json<UpdateBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), WebError> {
    let b = body(b)?;
    let update = status_ops::post_update(&state, &user, id, &b.status, &b.body).await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({ "id": update, "incident_id": id, "status": b.status })),
    ))
}

pub async fn false_alarm(
    State(state): State<AppState>,
    ApiOperator(user): ApiOperator,
    Path(id): Path<i64>,
) -> Result<Json<Value>, WebError> {
    let n = status_ops::false_alarm(&state, &user, id).await?;
    Ok(Json(json!({ "incident_id": id, "corrections": n })))
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
pub struct WindowBody {
    dependency: String,
    starts_at: String,
    ends_at: String,
    #[serde(default)]
    title: String,
}

pub async fn schedule(
    State(state): State<AppState>,
    ApiOperator(user): ApiOperator,
    b: Result<Json<WindowBody>, JsonRejection>,
) -> Result<(StatusCode, Json<Value>), WebError> {
    let b = body(b)?;
    let id = status_ops::schedule_maintenance(
        &state,
        &user,
        &b.dependency,
        &b.starts_at,
        &b.ends_at,
        &b.title,
        "api",
    )
    .await?;
    Ok((StatusCode::CREATED, Json(json!({ "id": id }))))
}

/// Windows on now or ahead (public, like the status page).
pub async fn windows(State(state): State<AppState>) -> Result<Json<Value>, WebError> {
    let tz = service_tz(&state);
    let slugs = super::public::slugs(&state).await?;
    let list: Vec<Value> = maintenance::ending_after(&state.db, now_ms())
        .await?
        .into_iter()
        .filter_map(|w| {
            Some(json!({
                "id": w.id,
                "dependency": slugs.get(&w.dependency_id)?,
                "starts_at": rfc3339(tz, w.starts_at),
                "ends_at": rfc3339(tz, w.ends_at),
                "title": w.title,
                "source": w.source,
            }))
        })
        .collect();
    Ok(Json(json!({ "maintenance": list })))
}

//! The public status page and `/status.json`.
use crate::AppState;
use crate::cache::STATUS_TTL_MS;
use crate::error::WebError;
use crate::views::comms::{Comms, shown_state};
use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use meoktong_storage::status_comms::is_maintenance_evidence;
use meoktong_storage::{now_ms, status};
use serde::Serialize;
use std::collections::HashMap;
use std::sync::Arc;

const NINETY_DAYS_MS: i64 = 90 * 24 * 3600 * 1000;

fn tz(state: &AppState) -> chrono_tz::Tz {
    state
        .settings
        .notify
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Seoul)
}

/// RFC 3339 with the service's time-zone offset.
pub use crate::views::rfc3339;

#[derive(Serialize)]
pub struct DependencyJson {
    slug: String,
    name: String,
    name_en: Option<String>,
    category: String,
    state: String,
    since: String,
    /// What the page shows: `state`, or `maintenance` (a window on, or an open maintenance
    /// incident), or `down` (an open incident declared by an operator).
    display_state: String,
}

#[derive(Serialize)]
pub struct UpdateJson {
    status: String,
    body: String,
    at: String,
}

#[derive(Serialize)]
pub struct IncidentJson {
    id: i64,
    dependency: String,
    severity: String,
    started_at: String,
    resolved_at: Option<String>,
    declared: bool,
    false_alarm: bool,
    maintenance: bool,
    updates: Vec<UpdateJson>,
}

#[derive(Serialize)]
pub struct WindowJson {
    dependency: String,
    starts_at: String,
    ends_at: String,
    title: String,
}

#[derive(Serialize)]
pub struct StatusJson {
    generated_at: String,
    dependencies: Vec<DependencyJson>,
    incidents: Vec<IncidentJson>,
    maintenance: Vec<WindowJson>,
}

async fn load(state: &AppState) -> Result<StatusJson, WebError> {
    let tz = tz(state);
    let now = now_ms();
    let overview = status::overview(&state.db).await?;
    let slugs: HashMap<i64, String> = overview
        .iter()
        .map(|d| (d.dependency.id, d.dependency.slug.clone()))
        .collect();
    let incidents = status::incidents_since(&state.db, now - NINETY_DAYS_MS).await?;
    let comms = Comms::load(&state.db, &incidents, now).await?;
    let open: Vec<&meoktong_storage::entity::incidents::Model> = incidents
        .iter()
        .filter(|i| i.resolved_at.is_none())
        .collect();
    Ok(StatusJson {
        generated_at: rfc3339(tz, now),
        dependencies: overview
            .into_iter()
            .map(|d| DependencyJson {
                display_state: shown_state(&comms, &open, d.dependency.id, &d.state, now),
                slug: d.dependency.slug,
                name: d.dependency.name,
                name_en: d.dependency.name_en,
                category: d.dependency.category,
                state: d.state,
                since: rfc3339(tz, d.since),
            })
            .collect(),
        incidents: incidents
            .iter()
            .filter_map(|i| {
                Some(IncidentJson {
                    id: i.id,
                    dependency: slugs.get(&i.dependency_id)?.clone(),
                    severity: i.severity.clone(),
                    started_at: rfc3339(tz, i.started_at),
                    resolved_at: i.resolved_at.map(|r| rfc3339(tz, r)),
                    declared: comms.declared(i.id),
                    false_alarm: comms.false_alarm(i.id),
                    maintenance: is_maintenance_evidence(&i.evidence),
                    updates: comms
                        .updates
                        .iter()
                        .filter(|u| u.incident_id == Some(i.id))
                        .map(|u| UpdateJson {
                            status: u.status.clone(),
                            body: u.body.clone(),
                            at: rfc3339(tz, u.created_at),
                        })
                        .collect(),
                })
            })
            .collect(),
        maintenance: comms
            .windows
            .iter()
            .filter_map(|w| {
                Some(WindowJson {
                    dependency: slugs.get(&w.dependency_id)?.clone(),
                    starts_at: rfc3339(tz, w.starts_at),
                    ends_at: rfc3339(tz, w.ends_at),
                    title: w.title.clone(),
                })
            })
            .collect(),
    })
}

/// `/status.json`, made again only when the data under it changed or it is a few seconds old.
pub async fn json(State(state): State<AppState>) -> Result<Response, WebError> {
    let version = status::fingerprint(&state.db).await?;
    let now = now_ms();
    let cache = &state.caches.pages;
    let body = match cache.get("/status.json", &version, now, STATUS_TTL_MS) {
        Some(body) => body,
        None => {
            let body = Arc::new(
                serde_json::to_string(&load(&state).await?)
                    .map_err(|e| WebError::Unexpected(format!("status.json: {e}")))?,
            );
            cache.put("/status.json".into(), version, now, body.clone());
            body
        }
    };
    Ok((
        [(header::CONTENT_TYPE, "application/json")],
        String::clone(&body),
    )
        .into_response())
}

pub async fn home() -> Redirect {
    Redirect::to("/status")
}

pub use super::status_page::{dependency_page, page};

pub async fn stylesheet() -> impl IntoResponse {
    (
        [
            (header::CONTENT_TYPE, "text/css; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=3600"),
        ],
        include_str!("../../../../web/static/app.css"),
    )
}

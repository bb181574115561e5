//! Public read-only resources: dependencies with their state, incidents with their evidence.
use crate::AppState;
use crate::error::WebError;
use crate::views::rfc3339;
use crate::views::service_tz;
use axum::Json;
use axum::extract::{Path, Query, State};
use meoktong_storage::entity::{dependencies, incidents as incident_entity};
use meoktong_storage::{catalog, incidents, now_ms, operator, status};
use serde::{Deserialize, Serialize};
use std::collections::HashMap;

#[derive(Serialize)]
pub struct Dependency {
    slug: String,
    name: String,
    name_en: Option<String>,
    category: String,
    platform: Option<String>,
    description: Option<String>,
    state: String,
    since: String,
}

#[derive(Serialize)]
pub struct Incident {
    id: i64,
    dependency: String,
    severity: String,
    started_at: String,
    confirmed_at: String,
    resolved_at: Option<String>,
    duration_seconds: i64,
    relapse_count: i32,
}

pub fn incident_json(
    state: &AppState,
    slugs: &HashMap<i64, String>,
    i: &incident_entity::Model,
) -> Incident {
    let tz = service_tz(state);
    Incident {
        id: i.id,
        dependency: slugs.get(&i.dependency_id).cloned().unwrap_or_default(),
        severity: i.severity.clone(),
        started_at: rfc3339(tz, i.started_at),
        confirmed_at: rfc3339(tz, i.confirmed_at),
        resolved_at: i.resolved_at.map(|r| rfc3339(tz, r)),
        duration_seconds: (i.resolved_at.unwrap_or_else(now_ms) - i.started_at).max(0) / 1000,
        relapse_count: i.relapse_count,
    }
}

fn dependency_json(state: &AppState, d: status::DependencyStatus) -> Dependency {
    Dependency {
        slug: d.dependency.slug,
        name: d.dependency.name,
        name_en: d.dependency.name_en,
        category: d.dependency.category,
        platform: d.dependency.platform,
        description: d.dependency.description,
        state: d.state,
        since: rfc3339(service_tz(state), d.since),
    }
}

pub async fn slugs(state: &AppState) -> Result<HashMap<i64, String>, WebError> {
    Ok(catalog::list_dependencies(&state.db)
        .await?
        .into_iter()
        .map(|d: dependencies::Model| (d.id, d.slug))
        .collect())
}

pub async fn dependencies(
    State(state): State<AppState>,
) -> Result<Json<serde_json::Value>, WebError> {
    let deps: Vec<Dependency> = status::overview(&state.db)
        .await?
        .into_iter()
        .map(|d| dependency_json(&state, d))
        .collect();
    Ok(Json(serde_json::json!({ "dependencies": deps })))
}

pub async fn dependency(
    State(state): State<AppState>,
    Path(slug): Path<String>,
) -> Result<Json<serde_json::Value>, WebError> {
    let d = status::overview(&state.db)
        .await?
        .into_iter()
        .find(|d| d.dependency.slug == slug)
        .ok_or(WebError::NotFound)?;
    let id = d.dependency.id;
    let slugs = slugs(&state).await?;
    let recent: Vec<Incident> = incidents::list(&state.db, Some(id), 20)
        .await?
        .iter()
        .map(|i| incident_json(&state, &slugs, i))
        .collect();
    let checks: Vec<serde_json::Value> = operator::checks(&state.db)
        .await?
        .into_iter()
        .filter(|c| c.dependency_id == id && c.enabled)
        .map(|c| serde_json::json!({"name": c.name, "type": c.kind, "interval_ms": c.interval_ms, "schedule": c.schedule}))
        .collect();
    let mut v = serde_json::to_value(dependency_json(&state, d))
        .map_err(|e| WebError::Unexpected(e.to_string()))?;
    v["checks"] = serde_json::json!(checks);
    v["incidents"] = serde_json::json!(recent);
    Ok(Json(v))
}

#[derive(Deserialize)]
pub struct IncidentQuery {
    dependency: Option<String>,
    limit: Option<u64>,
}

pub async fn incidents(
    State(state): State<AppState>,
    Query(q): Query<IncidentQuery>,
) -> Result<Json<serde_json::Value>, WebError> {
    let dep_id = match &q.dependency {
        Some(slug) => Some(
            catalog::dependency_by_slug(&state.db, slug)
                .await?
                .ok_or(WebError::NotFound)?
                .id,
        ),
        None => None,
    };
    let slugs = slugs(&state).await?;
    let list: Vec<Incident> = incidents::list(&state.db, dep_id, super::limit(q.limit, 100, 500)?)
        .await?
        .iter()
        .map(|i| incident_json(&state, &slugs, i))
        .collect();
    Ok(Json(serde_json::json!({ "incidents": list })))
}

pub async fn incident(
    State(state): State<AppState>,
    Path(id): Path<i64>,
) -> Result<Json<serde_json::Value>, WebError> {
    let i = incidents::get_public(&state.db, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let slugs = slugs(&state).await?;
    let tz = service_tz(&state);
    let events: Vec<serde_json::Value> = incidents::events(&state.db, id)
        .await?
        .into_iter()
        .map(|e| serde_json::json!({"at": rfc3339(tz, e.at), "kind": e.kind, "detail": serde_json::from_str::<serde_json::Value>(&e.detail).unwrap_or_default()}))
        .collect();
    let mut v = serde_json::to_value(incident_json(&state, &slugs, &i))
        .map_err(|e| WebError::Unexpected(e.to_string()))?;
    let evidence: serde_json::Value = serde_json::from_str(&i.evidence).unwrap_or_default();
    // Which locations agreed when it was confirmed, and every location's view then.
    v["agreed_locations"] = evidence
        .get("locations")
        .cloned()
        .unwrap_or_else(|| serde_json::json!([]));
    v["location_views"] = evidence
        .get("views")
        .cloned()
        .unwrap_or_else(|| serde_json::json!([]));
    v["evidence"] = evidence;
    v["events"] = serde_json::json!(events);
    Ok(Json(v))
}

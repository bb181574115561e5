//! The public status page and `/status.json`.
use crate::AppState;
use crate::error::WebError;
use crate::i18n::Lang;
use askama::Template;
use axum::Json;
use axum::extract::{Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{Html, IntoResponse, Redirect};
use chrono::TimeZone;
use meoktong_storage::{now_ms, status};
use serde::Serialize;
use std::collections::HashMap;

const NINETY_DAYS_MS: i64 = 90 * 24 * 3600 * 1000;

fn tz(state: &AppState) -> chrono_tz::Tz {
    state.settings.notify.time_zone.parse().unwrap_or(chrono_tz::Asia::Seoul)
}

/// RFC 3339 with the service's time-zone offset.
pub fn rfc3339(tz: chrono_tz::Tz, ms: i64) -> String {
    tz.timestamp_millis_opt(ms).single().map(|t| t.to_rfc3339()).unwrap_or_default()
}

#[derive(Serialize)]
pub struct DependencyJson {
    slug: String,
    name: String,
    name_en: Option<String>,
    category: String,
    state: String,
    since: String,
}

#[derive(Serialize)]
pub struct IncidentJson {
    id: i64,
    dependency: String,
    severity: String,
    started_at: String,
    resolved_at: Option<String>,
}

#[derive(Serialize)]
pub struct StatusJson {
    generated_at: String,
    dependencies: Vec<DependencyJson>,
    incidents: Vec<IncidentJson>,
}

async fn load(state: &AppState) -> Result<StatusJson, WebError> {
    let tz = tz(state);
    let now = now_ms();
    let overview = status::overview(&state.db).await?;
    let slugs: HashMap<i64, String> = overview.iter().map(|d| (d.dependency.id, d.dependency.slug.clone())).collect();
    let incidents = status::incidents_since(&state.db, now - NINETY_DAYS_MS).await?;
    Ok(StatusJson {
        generated_at: rfc3339(tz, now),
        dependencies: overview
            .into_iter()
            .map(|d| DependencyJson {
                slug: d.dependency.slug,
                name: d.dependency.name,
                name_en: d.dependency.name_en,
                category: d.dependency.category,
                state: d.state,
                since: rfc3339(tz, d.since),
            })
            .collect(),
        incidents: incidents
            .into_iter()
            .filter_map(|i| {
                Some(IncidentJson {
                    id: i.id,
                    dependency: slugs.get(&i.dependency_id)?.clone(),
                    severity: i.severity,
                    started_at: rfc3339(tz, i.started_at),
                    resolved_at: i.resolved_at.map(|r| rfc3339(tz, r)),
                })
            })
            .collect(),
    })
}

pub async fn json(State(state): State<AppState>) -> Result<Json<StatusJson>, WebError> {
    Ok(Json(load(&state).await?))
}

pub async fn home() -> Redirect {
    Redirect::to("/status")
}

pub struct DepRow {
    pub name: String,
    pub state: String,
    pub state_label: &'static str,
    pub icon: &'static str,
    pub since: String,
}

pub struct IncidentRow {
    pub dependency: String,
    pub started: String,
    pub resolved: String,
}

#[derive(Template)]
#[template(path = "status/index.html")]
struct StatusPage {
    lang: &'static str,
    title: &'static str,
    deps: Vec<DepRow>,
    incidents: Vec<IncidentRow>,
    t_dependency: &'static str,
    t_since: &'static str,
    t_incidents: &'static str,
    t_started: &'static str,
    t_resolved: &'static str,
    t_none: &'static str,
    dev_mode: bool,
}

fn label(lang: Lang, state: &str) -> (&'static str, &'static str) {
    match state {
        "up" => (lang.t("정상", "Up"), "✓"),
        "degraded" => (lang.t("느림", "Degraded"), "!"),
        "down" => (lang.t("장애", "Down"), "✕"),
        _ => (lang.t("확인 중", "Unknown"), "?"),
    }
}

pub async fn page(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<impl IntoResponse, WebError> {
    let lang = Lang::negotiate(q.get("lang").map(String::as_str), &headers);
    let tz = tz(&state);
    let fmt = |ms: i64| tz.timestamp_millis_opt(ms).single().map(|t| t.format("%Y-%m-%d %H:%M").to_string()).unwrap_or_default();
    let overview = status::overview(&state.db).await?;
    let names: HashMap<i64, String> = overview
        .iter()
        .map(|d| {
            let name = match lang {
                Lang::En => d.dependency.name_en.clone().unwrap_or_else(|| d.dependency.name.clone()),
                Lang::Ko => d.dependency.name.clone(),
            };
            (d.dependency.id, name)
        })
        .collect();
    let incidents = status::incidents_since(&state.db, now_ms() - NINETY_DAYS_MS).await?;
    let page = StatusPage {
        lang: lang.code(),
        title: lang.t("먹통 — 서비스 상태", "Meoktong — service status"),
        deps: overview
            .iter()
            .map(|d| {
                let (state_label, icon) = label(lang, &d.state);
                DepRow {
                    name: names.get(&d.dependency.id).cloned().unwrap_or_default(),
                    state: d.state.clone(),
                    state_label,
                    icon,
                    since: fmt(d.since),
                }
            })
            .collect(),
        incidents: incidents
            .iter()
            .map(|i| IncidentRow {
                dependency: names.get(&i.dependency_id).cloned().unwrap_or_default(),
                started: fmt(i.started_at),
                resolved: i.resolved_at.map(fmt).unwrap_or_else(|| lang.t("진행 중", "ongoing").to_string()),
            })
            .collect(),
        t_dependency: lang.t("서비스", "Service"),
        t_since: lang.t("시작", "Since"),
        t_incidents: lang.t("최근 90일 장애", "Incidents, last 90 days"),
        t_started: lang.t("시작", "Started"),
        t_resolved: lang.t("복구", "Resolved"),
        t_none: lang.t("장애 기록이 없습니다.", "No incidents."),
        dev_mode: state.dev_mode,
    };
    Ok(([(header::CACHE_CONTROL, "no-cache")], Html(page.render()?)))
}

pub async fn stylesheet() -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, "text/css; charset=utf-8"), (header::CACHE_CONTROL, "public, max-age=3600")],
        include_str!("../../../../web/static/app.css"),
    )
}

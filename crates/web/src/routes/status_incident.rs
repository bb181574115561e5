//! `/status/incidents/{id}` (one incident with its timeline, issue 18/20) and
//! `/status/{slug}/badge.svg` (state and uptime for merchants' and associations' own pages).
use crate::AppState;
use crate::error::WebError;
use crate::i18n::Lang;
use crate::views::comms::{Comms, TimelineRow, shown_state};
use crate::views::uptime;
use crate::views::{Ctx, dep_name, duration_words, state_words};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, header};
use axum::response::{IntoResponse, Response};
use meoktong_storage::entity::incidents;
use meoktong_storage::status_comms::is_maintenance_evidence;
use meoktong_storage::{incidents as incident_store, now_ms, status};
use std::collections::HashMap;

const NINETY_DAYS_MS: i64 = 90 * 24 * 3600 * 1000;

#[derive(Template)]
#[template(path = "status/incident.html")]
struct IncidentPage {
    lang: &'static str,
    title: String,
    l: Lang,
    id: i64,
    slug: String,
    dependency: String,
    /// `open`, `resolved`, `false_alarm`, `maintenance`.
    kind: &'static str,
    kind_label: &'static str,
    started: String,
    resolved: String,
    duration: String,
    declared: bool,
    timeline: Vec<TimelineRow>,
}

pub async fn incident_page(
    State(state): State<AppState>,
    Path(id): Path<i64>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let ctx = Ctx::new(&state, &q, &headers, None);
    let l = ctx.lang;
    let now = now_ms();
    let i = incident_store::get_public(&state.db, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let d = status::overview(&state.db)
        .await?
        .into_iter()
        .find(|d| d.dependency.id == i.dependency_id)
        .ok_or(WebError::NotFound)?;
    let comms = Comms::load(&state.db, std::slice::from_ref(&i), now).await?;
    let (kind, kind_label) = if comms.false_alarm(i.id) {
        ("false_alarm", l.t("오경보", "False alarm"))
    } else if i.resolved_at.is_some() {
        ("resolved", l.t("복구됨", "Resolved"))
    } else if is_maintenance_evidence(&i.evidence) {
        ("maintenance", l.t("점검 중", "Under maintenance"))
    } else if i.severity == "down" {
        ("open", l.t("장애 진행 중", "Ongoing outage"))
    } else {
        ("open", l.t("느림 진행 중", "Ongoing slowdown"))
    };
    let name = dep_name(l, &d.dependency);
    let page = IncidentPage {
        lang: l.code(),
        title: format!("{name} — {kind_label}"),
        l,
        id: i.id,
        slug: d.dependency.slug.clone(),
        dependency: name,
        kind,
        kind_label,
        started: ctx.time(i.started_at),
        resolved: i
            .resolved_at
            .map(|r| ctx.time(r))
            .unwrap_or_else(|| l.t("진행 중", "ongoing").to_string()),
        duration: duration_words(l, i.resolved_at.unwrap_or(now) - i.started_at),
        declared: comms.declared(i.id),
        timeline: comms.timeline(&ctx, i.id),
    };
    Ok(ctx.ok(page.render()?))
}

fn xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
}

/// A flat two-part badge: the name, then the state and the uptime, coloured by state (and
/// the state in words, never colour alone).
pub async fn badge(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let l = Lang::negotiate(q.get("lang").map(String::as_str), &headers);
    let now = now_ms();
    let d = status::overview(&state.db)
        .await?
        .into_iter()
        .find(|d| d.dependency.slug == slug && d.dependency.owner_merchant_id.is_none())
        .ok_or(WebError::NotFound)?;
    let list: Vec<incidents::Model> = status::incidents_since(&state.db, now - NINETY_DAYS_MS)
        .await?
        .into_iter()
        .filter(|i| i.dependency_id == d.dependency.id)
        .collect();
    let episodes = status::episodes(&state.db, &list).await?;
    let comms = Comms::load(&state.db, &list, now - NINETY_DAYS_MS).await?;
    let counted = comms.countable(&episodes, now);
    let open: Vec<&incidents::Model> = list.iter().filter(|i| i.resolved_at.is_none()).collect();
    let shown = shown_state(&comms, &open, d.dependency.id, &d.state, now);
    let (words, _) = state_words(l, &shown);
    let up = uptime::Uptime::of(&counted, now - NINETY_DAYS_MS, d.dependency.created_at, now);
    let color = match shown.as_str() {
        "up" => "#2e7d32",
        "degraded" => "#b26a00",
        "down" => "#c62828",
        "maintenance" => "#1565c0",
        _ => "#616161",
    };
    let left = dep_name(l, &d.dependency);
    let right = format!("{words} · {}", up.percent_text());
    // Rough widths: 7 px a Latin character, 12 px a Hangul one, plus padding.
    let width = |s: &str| -> usize {
        s.chars()
            .map(|c| if c.is_ascii() { 7 } else { 12 })
            .sum::<usize>()
            + 12
    };
    let (lw, rw) = (width(&left), width(&right));
    let svg = format!(
        "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"{w}\" height=\"20\" role=\"img\" aria-label=\"{label}\"><title>{label}</title><rect width=\"{lw}\" height=\"20\" fill=\"#444\"/><rect x=\"{lw}\" width=\"{rw}\" height=\"20\" fill=\"{color}\"/><g fill=\"#fff\" font-family=\"sans-serif\" font-size=\"12\"><text x=\"6\" y=\"14\">{l_text}</text><text x=\"{rx}\" y=\"14\">{r_text}</text></g></svg>",
        w = lw + rw,
        label = xml(&format!("{left}: {right}")),
        l_text = xml(&left),
        r_text = xml(&right),
        rx = lw + 6,
    );
    Ok((
        [
            (header::CONTENT_TYPE, "image/svg+xml; charset=utf-8"),
            (header::CACHE_CONTROL, "public, max-age=60"),
        ],
        svg,
    )
        .into_response())
}

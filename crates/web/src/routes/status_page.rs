//! The public status pages: `/status` (every dependency with its state and 90 days of daily
//! uptime bars, then the incident history with durations) and `/status/{slug}`.
//! A gentle meta refresh keeps them live without a reload storm.
use crate::AppState;
use crate::cache::STATUS_TTL_MS;
use crate::error::WebError;
use crate::i18n::Lang;
use crate::views::comms::{Comms, TimelineRow, banner, shown_state};
use crate::views::sparkline;
use crate::views::uptime::{self, DayBar};
use crate::views::{Ctx, dep_name, duration_words, state_words};
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use meoktong_storage::entity::incidents;
use meoktong_storage::{now_ms, operator, status};
use std::collections::HashMap;
use std::sync::Arc;

const NINETY_DAYS_MS: i64 = 90 * 24 * 3600 * 1000;

pub struct DepRow {
    pub slug: String,
    pub name: String,
    pub state: String,
    pub state_label: &'static str,
    pub icon: &'static str,
    pub since: String,
    pub uptime: String,
    /// `90일 가용률`, or `가용률(측정 3일)` for what we watched less long.
    pub uptime_label: String,
    pub bars: Vec<DayBar>,
}

pub struct IncidentRow {
    pub id: i64,
    /// `장애 선언`, `오경보`, `점검` or empty.
    pub mark: &'static str,
    pub slug: String,
    pub dependency: String,
    pub severity: &'static str,
    pub started: String,
    pub resolved: String,
    pub duration: String,
    pub open: bool,
}

#[derive(Template)]
#[template(path = "status/index.html")]
struct StatusPage {
    lang: &'static str,
    title: &'static str,
    l: Lang,
    banner_class: &'static str,
    banner: &'static str,
    last_check: String,
    /// Open incidents with their newest updates first.
    current: Vec<(IncidentRow, Vec<TimelineRow>)>,
    maintenance: Vec<WindowLine>,
    deps: Vec<DepRow>,
    incidents: Vec<IncidentRow>,
    dev_mode: bool,
}

/// A maintenance window on now or ahead.
pub struct WindowLine {
    pub dependency: String,
    pub from: String,
    pub to: String,
    pub title: String,
    pub on: bool,
}

#[derive(Template)]
#[template(path = "status/dependency.html")]
struct DependencyPage {
    lang: &'static str,
    title: String,
    l: Lang,
    dep: DepRow,
    description: String,
    checks: Vec<String>,
    spark: Option<String>,
    latency: String,
    incidents: Vec<IncidentRow>,
    current: Vec<(IncidentRow, Vec<TimelineRow>)>,
    maintenance: Vec<WindowLine>,
}

fn dep_row(
    ctx: &Ctx,
    d: &status::DependencyStatus,
    list: &[&incidents::Model],
    bounds: &[i64],
    now: i64,
    shown: String,
) -> DepRow {
    let l = ctx.lang;
    let (state_label, icon) = state_words(l, &shown);
    let mine: Vec<incidents::Model> = list
        .iter()
        .filter(|i| i.dependency_id == d.dependency.id)
        .map(|i| (*i).clone())
        .collect();
    let known = d.dependency.created_at;
    let up = uptime::Uptime::of(&mine, bounds.first().copied().unwrap_or(now), known, now);
    DepRow {
        slug: d.dependency.slug.clone(),
        name: dep_name(l, &d.dependency),
        state: shown,
        state_label,
        icon,
        since: ctx.time(d.since),
        uptime: up.percent_text(),
        uptime_label: up.label(l),
        bars: uptime::bars(l, ctx.tz, &mine, bounds, known, now),
    }
}

pub fn incident_row(
    ctx: &Ctx,
    names: &HashMap<i64, (String, String)>,
    i: &incidents::Model,
    now: i64,
    comms: &Comms,
) -> IncidentRow {
    let l = ctx.lang;
    let (slug, name) = names.get(&i.dependency_id).cloned().unwrap_or_default();
    IncidentRow {
        id: i.id,
        mark: if comms.false_alarm(i.id) {
            l.t("오경보", "false alarm")
        } else if meoktong_storage::status_comms::is_maintenance_evidence(&i.evidence) {
            l.t("점검", "maintenance")
        } else if comms.declared(i.id) {
            l.t("운영자 선언", "declared")
        } else {
            ""
        },
        slug,
        dependency: name,
        severity: if i.severity == "down" {
            l.t("장애", "Down")
        } else {
            l.t("느림", "Degraded")
        },
        started: ctx.time(i.started_at),
        resolved: i
            .resolved_at
            .map(|r| ctx.time(r))
            .unwrap_or_else(|| l.t("진행 중", "ongoing").to_string()),
        duration: duration_words(l, i.resolved_at.unwrap_or(now) - i.started_at),
        open: i.resolved_at.is_none(),
    }
}

pub async fn page(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let ctx = Ctx::new(&state, &q, &headers, None);
    let l = ctx.lang;
    let now = now_ms();
    let version = status::fingerprint(&state.db).await?;
    let key = format!("/status|{}", l.code());
    if let Some(html) = state.caches.pages.get(&key, &version, now, STATUS_TTL_MS) {
        return Ok(ctx.ok(String::clone(&html)));
    }
    let overview = status::overview(&state.db).await?;
    let list = status::incidents_since(&state.db, now - NINETY_DAYS_MS).await?;
    let episodes = status::episodes(&state.db, &list).await?;
    let comms = Comms::load(&state.db, &list, now - NINETY_DAYS_MS).await?;
    let counted = comms.countable(&episodes, now);
    let refs: Vec<&incidents::Model> = counted.iter().collect();
    let open: Vec<&incidents::Model> = list.iter().filter(|i| i.resolved_at.is_none()).collect();
    let bounds = uptime::day_bounds(ctx.tz, now);
    let names: HashMap<i64, (String, String)> = overview
        .iter()
        .map(|d| {
            (
                d.dependency.id,
                (d.dependency.slug.clone(), dep_name(l, &d.dependency)),
            )
        })
        .collect();
    let deps: Vec<DepRow> = overview
        .iter()
        .map(|d| {
            let shown = shown_state(&comms, &open, d.dependency.id, &d.state, now);
            dep_row(&ctx, d, &refs, &bounds, now, shown)
        })
        .collect();
    let states: Vec<&str> = deps.iter().map(|d| d.state.as_str()).collect();
    let (banner_class, banner) = banner(l, &states);
    let last_check = meoktong_storage::probes::locations(&state.db)
        .await?
        .iter()
        .filter_map(|x| x.last_seen_at)
        .max()
        .map(|t| clock(&ctx, t))
        .unwrap_or_else(|| l.t("아직 없음", "not yet").into());
    let page = StatusPage {
        lang: l.code(),
        title: l.t("먹통 — 서비스 상태", "Meoktong — service status"),
        l,
        banner_class,
        banner,
        last_check,
        current: current(&ctx, &names, &open, &comms, now),
        maintenance: windows(&ctx, &names, &comms, now),
        deps,
        incidents: list
            .iter()
            .take(100)
            .map(|i| incident_row(&ctx, &names, i, now, &comms))
            .collect(),
        dev_mode: state.dev_mode,
    };
    let html = page.render()?;
    state
        .caches
        .pages
        .put(key, version, now, Arc::new(html.clone()));
    Ok(ctx.ok(html))
}

pub async fn dependency_page(
    State(state): State<AppState>,
    Path(slug): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let ctx = Ctx::new(&state, &q, &headers, None);
    let l = ctx.lang;
    let now = now_ms();
    let version = status::fingerprint(&state.db).await?;
    let key = format!("/status/{slug}|{}", l.code());
    if let Some(html) = state.caches.pages.get(&key, &version, now, STATUS_TTL_MS) {
        return Ok(ctx.ok(String::clone(&html)));
    }
    let d = status::overview(&state.db)
        .await?
        .into_iter()
        .find(|d| d.dependency.slug == slug)
        .ok_or(WebError::NotFound)?;
    let list: Vec<incidents::Model> = status::incidents_since(&state.db, now - NINETY_DAYS_MS)
        .await?
        .into_iter()
        .filter(|i| i.dependency_id == d.dependency.id)
        .collect();
    let episodes = status::episodes(&state.db, &list).await?;
    let comms = Comms::load(&state.db, &list, now - NINETY_DAYS_MS).await?;
    let counted = comms.countable(&episodes, now);
    let refs: Vec<&incidents::Model> = counted.iter().collect();
    let open: Vec<&incidents::Model> = list.iter().filter(|i| i.resolved_at.is_none()).collect();
    let bounds = uptime::day_bounds(ctx.tz, now);
    let names = HashMap::from([(
        d.dependency.id,
        (d.dependency.slug.clone(), dep_name(l, &d.dependency)),
    )]);
    let shown = shown_state(&comms, &open, d.dependency.id, &d.state, now);
    let pts = crate::cache::latency_series(&state, &[d.dependency.id], now)
        .await?
        .remove(&d.dependency.id)
        .unwrap_or_default();
    let latency = sparkline::mean_ms(&pts)
        .map(|v| format!("{v} ms"))
        .unwrap_or_default();
    let checks = operator::checks(&state.db)
        .await?
        .into_iter()
        .filter(|c| c.dependency_id == d.dependency.id && c.enabled)
        .map(|c| format!("{} ({})", c.name, c.kind))
        .collect();
    let page = DependencyPage {
        lang: l.code(),
        title: format!(
            "{} — {}",
            dep_name(l, &d.dependency),
            l.t("서비스 상태", "status")
        ),
        l,
        description: d.dependency.description.clone().unwrap_or_default(),
        checks,
        spark: sparkline::svg(
            &pts,
            &format!(
                "{} {latency}",
                l.t("최근 응답 시간, 평균", "Recent response time, mean")
            ),
        ),
        latency,
        incidents: list
            .iter()
            .map(|i| incident_row(&ctx, &names, i, now, &comms))
            .collect(),
        current: current(&ctx, &names, &open, &comms, now),
        maintenance: windows(&ctx, &names, &comms, now),
        dep: dep_row(&ctx, &d, &refs, &bounds, now, shown),
    };
    let html = page.render()?;
    state
        .caches
        .pages
        .put(key, version, now, Arc::new(html.clone()));
    Ok(ctx.ok(html))
}

/// `15:20:07`: when the newest probe result came in, in the reader's zone.
fn clock(ctx: &Ctx, ms: i64) -> String {
    use chrono::TimeZone;
    ctx.tz
        .timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%H:%M:%S").to_string())
        .unwrap_or_default()
}

/// Open incidents (not false alarms) with their timelines, newest update first.
fn current(
    ctx: &Ctx,
    names: &HashMap<i64, (String, String)>,
    open: &[&incidents::Model],
    comms: &Comms,
    now: i64,
) -> Vec<(IncidentRow, Vec<TimelineRow>)> {
    open.iter()
        .filter(|i| !comms.false_alarm(i.id) && names.contains_key(&i.dependency_id))
        .map(|i| {
            (
                incident_row(ctx, names, i, now, comms),
                comms.timeline(ctx, i.id),
            )
        })
        .collect()
}

/// Maintenance windows of these dependencies that are on now or ahead.
fn windows(
    ctx: &Ctx,
    names: &HashMap<i64, (String, String)>,
    comms: &Comms,
    now: i64,
) -> Vec<WindowLine> {
    comms
        .windows
        .iter()
        .filter(|w| w.ends_at > now)
        .filter_map(|w| {
            Some(WindowLine {
                dependency: names.get(&w.dependency_id)?.1.clone(),
                from: ctx.time(w.starts_at),
                to: ctx.time(w.ends_at),
                title: w.title.clone(),
                on: w.starts_at <= now,
            })
        })
        .collect()
}

//! `/operator`: what the operators of the service watch — dependencies and their checks,
//! probe locations and their health, configuration problems (our keys or quotas, never told
//! to merchants) and the outbox. Only for role `operator`; everyone else gets 404.
use crate::AppState;
use crate::auth::session::{CurrentUser, Role};
use crate::error::WebError;
use crate::i18n::Lang;
use crate::views::{Ctx, dep_name, duration_words, state_words};
use askama::Template;
use axum::Router;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Response;
use axum::routing::get;
use meoktong_storage::{now_ms, operator, outbox, probes, status};
use std::collections::HashMap;

/// A location that has not reported for this long is shown as silent.
const SILENT_AFTER_MS: i64 = 2 * 60 * 1000;

pub fn routes() -> Router<AppState> {
    Router::new().route("/operator", get(page))
}

pub struct DepRow {
    pub name: String,
    pub slug: String,
    pub state: String,
    pub state_label: &'static str,
    pub icon: &'static str,
    pub checks: Vec<String>,
}

/// An incident of the last day with its timeline and the controls that apply to it.
pub struct OpIncident {
    pub id: i64,
    pub dependency: String,
    pub started: String,
    pub open: bool,
    pub declared: bool,
    pub false_alarm: bool,
    pub timeline: Vec<String>,
}

pub struct WindowRow {
    pub dependency: String,
    pub from: String,
    pub to: String,
    pub title: String,
}

pub struct LocationRow {
    pub name: String,
    pub kind: String,
    pub last_seen: String,
    pub health: String,
    pub ok: bool,
}

pub struct ProblemRow {
    pub at: String,
    pub dependency: String,
    pub check: String,
    pub detail: String,
}

#[derive(Template)]
#[template(path = "operator/index.html")]
struct OperatorPage {
    lang: &'static str,
    title: &'static str,
    l: Lang,
    csrf: String,
    deps: Vec<DepRow>,
    locations: Vec<LocationRow>,
    problems: Vec<ProblemRow>,
    outbox_depth: i64,
    outbox_oldest: String,
    incidents: Vec<OpIncident>,
    windows: Vec<WindowRow>,
}

pub async fn page(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    if user.role != Role::Operator {
        return Err(WebError::NotFound);
    }
    let ctx = Ctx::new(&state, &q, &headers, Some(&user));
    let l = ctx.lang;
    let now = now_ms();
    let overview = status::overview(&state.db).await?;
    let checks = operator::checks(&state.db).await?;
    let names: HashMap<i64, String> = overview
        .iter()
        .map(|d| (d.dependency.id, dep_name(l, &d.dependency)))
        .collect();
    let check_names: HashMap<i64, String> = checks.iter().map(|c| (c.id, c.name.clone())).collect();
    let deps = overview
        .iter()
        .map(|d| {
            let (state_label, icon) = state_words(l, &d.state);
            let checks = checks
                .iter()
                .filter(|c| c.dependency_id == d.dependency.id)
                .map(|c| check_line(l, c))
                .collect();
            DepRow {
                name: dep_name(l, &d.dependency),
                slug: d.dependency.slug.clone(),
                state: d.state.clone(),
                state_label,
                icon,
                checks,
            }
        })
        .collect();
    let locations = probes::locations(&state.db)
        .await?
        .into_iter()
        .map(|loc| location_row(&ctx, loc, now))
        .collect();
    let location_names: HashMap<i64, String> = probes::locations(&state.db)
        .await?
        .into_iter()
        .map(|x| (x.id, x.name))
        .collect();
    let problems = operator::config_problems(&state.db, now - 24 * 3600 * 1000, 100)
        .await?
        .into_iter()
        .map(|r| ProblemRow {
            at: ctx.time(r.started_at),
            dependency: names.get(&r.dependency_id).cloned().unwrap_or_default(),
            check: format!(
                "{} @ {}",
                check_names.get(&r.check_id).cloned().unwrap_or_default(),
                location_names
                    .get(&r.location_id)
                    .cloned()
                    .unwrap_or_default()
            ),
            detail: [
                r.status.map(|s| format!("HTTP {s}")),
                r.provider_code.map(|c| format!("code {c}")),
                r.error,
            ]
            .into_iter()
            .flatten()
            .collect::<Vec<_>>()
            .join(" · "),
        })
        .collect();
    let (depth, oldest) = outbox::depth(&state.db, now).await?;
    let (op_incidents, windows) = super::operator_status::page_data(&state, &ctx).await?;
    let page = OperatorPage {
        lang: l.code(),
        title: l.t("운영자 화면", "Operator"),
        l,
        csrf: user.csrf.clone(),
        deps,
        locations,
        problems,
        outbox_depth: depth,
        outbox_oldest: if depth > 0 {
            duration_words(l, oldest)
        } else {
            "-".into()
        },
        incidents: op_incidents,
        windows,
    };
    Ok(ctx.ok(page.render()?))
}

fn check_line(l: Lang, c: &meoktong_storage::entity::checks::Model) -> String {
    let every = match (&c.schedule, c.interval_ms) {
        (Some(s), _) => s.clone(),
        (None, Some(ms)) => duration_words(l, ms),
        _ => String::new(),
    };
    let off = if c.enabled {
        ""
    } else {
        l.t(" (꺼짐)", " (disabled)")
    };
    format!("{} · {} · {every}{off}", c.name, c.kind)
}

fn location_row(
    ctx: &Ctx,
    loc: meoktong_storage::entity::probe_locations::Model,
    now: i64,
) -> LocationRow {
    let silent = loc.last_seen_at.is_none_or(|t| now - t > SILENT_AFTER_MS);
    let (health, ok) = if let Some(since) = loc.canaries_failing_since {
        (
            format!(
                "{} {})",
                ctx.t(
                    "✕ 이 위치의 네트워크 장애 의심: 카나리 응답 없음, 결과를 판단에 쓰지 않음 (시작",
                    "✕ network-suspect: its canaries do not answer, its results are set aside (since",
                ),
                ctx.time(since)
            ),
            false,
        )
    } else if loc.network_suspect {
        (
            ctx.t(
                "✕ 이 위치의 네트워크 의심 (다른 위치는 정상)",
                "✕ this location's own network is suspect",
            )
            .to_string(),
            false,
        )
    } else if silent {
        (ctx.t("? 보고 없음", "? silent").to_string(), false)
    } else {
        (ctx.t("✓ 정상", "✓ healthy").to_string(), true)
    };
    LocationRow {
        name: loc.name,
        kind: loc.kind,
        last_seen: loc
            .last_seen_at
            .map(|t| ctx.time(t))
            .unwrap_or_else(|| "-".into()),
        health,
        ok,
    }
}

//! The operator page's status controls (issue 20): declare an incident, post an update
//! (resolving by hand is an update `resolved`), mark a false alarm, schedule maintenance.
//! Operator role and the session's CSRF token on every form; audited in storage.
use super::operator::{OpIncident, WindowRow};
use crate::AppState;
use crate::auth::session::CurrentUser;
use crate::error::WebError;
use crate::services::status_ops;
use crate::views::{Ctx, dep_name, form_value};
use axum::Form;
use axum::Router;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use axum::routing::post;
use meoktong_storage::status_comms::updates::UpdateStatus;
use meoktong_storage::status_comms::{maintenance, marks, updates};
use meoktong_storage::{now_ms, status};
use std::collections::HashMap;

pub fn routes() -> Router<AppState> {
    Router::new()
        .route("/operator/incidents", post(declare))
        .route("/operator/incidents/{id}/updates", post(update))
        .route("/operator/incidents/{id}/false-alarm", post(false_alarm))
        .route("/operator/maintenance", post(schedule))
}

fn checked(user: &CurrentUser, form: &[(String, String)]) -> Result<(), WebError> {
    status_ops::operator(user)?;
    user.check_csrf(Some(form_value(form, "csrf")))
}

fn back() -> Response {
    Redirect::to("/operator?done=saved#status-controls").into_response()
}

pub async fn declare(
    State(state): State<AppState>,
    user: CurrentUser,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    checked(&user, &form)?;
    let slugs: Vec<String> = form
        .iter()
        .filter(|(k, _)| k == "dep")
        .map(|(_, v)| v.clone())
        .collect();
    status_ops::declare(
        &state,
        &user,
        &slugs,
        form_value(&form, "started_at"),
        form_value(&form, "text"),
    )
    .await?;
    Ok(back())
}

pub async fn update(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    checked(&user, &form)?;
    status_ops::post_update(
        &state,
        &user,
        id,
        form_value(&form, "status"),
        form_value(&form, "body"),
    )
    .await?;
    Ok(back())
}

pub async fn false_alarm(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    checked(&user, &form)?;
    status_ops::false_alarm(&state, &user, id).await?;
    Ok(back())
}

pub async fn schedule(
    State(state): State<AppState>,
    user: CurrentUser,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    checked(&user, &form)?;
    status_ops::schedule_maintenance(
        &state,
        &user,
        form_value(&form, "dep"),
        form_value(&form, "starts_at"),
        form_value(&form, "ends_at"),
        form_value(&form, "title"),
        "operator",
    )
    .await?;
    Ok(back())
}

/// What the operator page shows of status communication: incidents open or resolved in the
/// last day with their timelines, and maintenance windows not yet over.
pub async fn page_data(
    state: &AppState,
    ctx: &Ctx,
) -> Result<(Vec<OpIncident>, Vec<WindowRow>), WebError> {
    let l = ctx.lang;
    let now = now_ms();
    let names: HashMap<i64, String> = status::overview(&state.db)
        .await?
        .iter()
        .map(|d| (d.dependency.id, dep_name(l, &d.dependency)))
        .collect();
    let list: Vec<_> = status::incidents_since(&state.db, now - 24 * 3600 * 1000)
        .await?
        .into_iter()
        .take(20)
        .collect();
    let ids: Vec<i64> = list.iter().map(|i| i.id).collect();
    let all_updates = updates::of_incidents(&state.db, &ids).await?;
    let marks = marks::of(&state.db, &ids).await?;
    let incidents = list
        .iter()
        .map(|i| {
            let m = marks.get(&i.id);
            OpIncident {
                id: i.id,
                dependency: names.get(&i.dependency_id).cloned().unwrap_or_default(),
                started: ctx.time(i.started_at),
                open: i.resolved_at.is_none(),
                declared: m.is_some_and(|m| m.declared_by.is_some()),
                false_alarm: m.is_some_and(|m| m.false_alarm_at.is_some()),
                timeline: all_updates
                    .iter()
                    .filter(|u| u.incident_id == Some(i.id))
                    .map(|u| {
                        let (ko, en) =
                            UpdateStatus::parse(&u.status).map_or(("", ""), UpdateStatus::words);
                        format!("{} {} {}", ctx.time(u.created_at), l.t(ko, en), u.body)
                    })
                    .collect(),
            }
        })
        .collect();
    let windows = maintenance::ending_after(&state.db, now)
        .await?
        .into_iter()
        .map(|w| WindowRow {
            dependency: names.get(&w.dependency_id).cloned().unwrap_or_default(),
            from: ctx.time(w.starts_at),
            to: ctx.time(w.ends_at),
            title: w.title,
        })
        .collect();
    Ok((incidents, windows))
}

//! `/association/reports…`: the review queue of an association's staff. Staff see only the
//! reports sent to their association; everything else is 404. Every step is audited.
use super::validate::{MAX_REASON, field_label, text};
use super::view::{Names, ReportView, status_label};
use super::{LangQuery, lang_of, render, staff_of};
use crate::AppState;
use crate::auth::session::CurrentUser;
use crate::error::WebError;
use crate::i18n::Lang;
use askama::Template;
use axum::Form;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Redirect, Response};
use meoktong_storage::reports::review::{self, Review};
use meoktong_storage::reports::{self, Filter, ReviewAction, next_status};
use meoktong_storage::{StorageError, entity::damage_reports, now_ms};
use serde::Deserialize;

pub const STATUSES: [&str; 4] = ["received", "verified", "rejected", "forwarded"];

/// One review step, shared by the page and the API. Problems are `Validation` errors.
pub async fn apply(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    action: &str,
    reason: &str,
    lang: Lang,
) -> Result<damage_reports::Model, WebError> {
    let association_id = staff_of(user)?;
    let invalid = |field: &str, message: String| WebError::Validation {
        field: field.into(),
        message,
    };
    let action = ReviewAction::parse(action).ok_or_else(|| {
        invalid(
            "action",
            lang.t("알 수 없는 처리입니다.", "Unknown action.").into(),
        )
    })?;
    let reason = match action {
        ReviewAction::Reject => Some(text(reason, MAX_REASON, true).map_err(|p| {
            invalid(
                "reason",
                format!("{}: {}", field_label("reason", lang), p.message(lang)),
            )
        })?),
        _ => None,
    };
    let step = Review {
        association_id,
        report_id: id,
        action,
        reason: reason.as_deref(),
        user_id: user.user_id,
        now: now_ms(),
    };
    match review::apply(&state.db, step).await {
        Ok(row) => Ok(row),
        Err(StorageError::Conflict(_)) => Err(invalid(
            "action",
            lang.t(
                "지금 상태에서는 할 수 없는 처리입니다.",
                "That action is not possible in the report's current status.",
            )
            .into(),
        )),
        Err(e) => Err(e.into()),
    }
}

#[derive(Debug, Default, Deserialize)]
pub struct QueueQuery {
    pub status: Option<String>,
    pub incident: Option<i64>,
    pub lang: Option<String>,
}

pub struct Tab {
    pub href: String,
    pub label: &'static str,
    pub current: bool,
}

#[derive(Template)]
#[template(path = "reports/queue.html")]
struct QueuePage {
    lang: &'static str,
    l: Lang,
    title: String,
    tabs: Vec<Tab>,
    rows: Vec<ReportView>,
    /// For the association menu (`association/_nav.html`).
    csrf: String,
    active: &'static str,
}

fn tabs(status: &str, incident: Option<i64>, lang: Lang) -> Vec<Tab> {
    let inc = incident
        .map(|i| format!("&incident={i}"))
        .unwrap_or_default();
    std::iter::once(("all", lang.t("전체", "All")))
        .chain(STATUSES.iter().map(|s| (*s, status_label(s, lang))))
        .map(|(s, label)| Tab {
            href: format!("/association/reports?status={s}{inc}"),
            label,
            current: s == status,
        })
        .collect()
}

pub async fn queue(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<QueueQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let association_id = staff_of(&user)?;
    let lang = lang_of(q.lang.as_deref(), &headers, Some(&user));
    let status = q
        .status
        .as_deref()
        .filter(|s| *s == "all" || STATUSES.contains(s))
        .unwrap_or("received");
    let filter = Filter {
        status: Some(status.to_string()).filter(|s| s != "all"),
        incident_id: q.incident,
    };
    let list = reports::of_association(&state.db, &state.crypto, association_id, &filter).await?;
    let names = Names::load(
        &state,
        &list.iter().map(|r| r.row.incident_id).collect::<Vec<_>>(),
        lang,
    )
    .await?;
    let rows = list
        .iter()
        .map(|r| ReportView::new(r, &names, &[], None))
        .collect();
    let title = lang.t("피해 신고 검토", "Damage reports to review").into();
    render(
        StatusCode::OK,
        &QueuePage {
            lang: lang.code(),
            l: lang,
            title,
            tabs: tabs(status, q.incident, lang),
            rows,
            csrf: user.csrf.clone(),
            active: "reports",
        },
        None,
    )
}

#[derive(Template)]
#[template(path = "reports/review.html")]
struct DetailPage {
    lang: &'static str,
    l: Lang,
    title: String,
    d: ReportView,
    csrf: String,
    can_verify: bool,
    can_reject: bool,
    can_forward: bool,
    error: String,
    reason: String,
    active: &'static str,
}

async fn detail_page(
    state: &AppState,
    user: &CurrentUser,
    id: i64,
    lang: Lang,
) -> Result<DetailPage, WebError> {
    let association_id = staff_of(user)?;
    let rep = reports::one_of_association(&state.db, &state.crypto, association_id, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let names = Names::load(state, &[rep.row.incident_id], lang).await?;
    let files = reports::attachments(&state.db, id).await?;
    let d = ReportView::new(
        &rep,
        &names,
        &files,
        Some(&format!("/association/reports/{id}/attachments")),
    );
    let can = |a| next_status(&rep.row.status, a).is_some();
    Ok(DetailPage {
        lang: lang.code(),
        l: lang,
        title: format!("{} #{id}", lang.t("피해 신고", "Damage report")),
        can_verify: can(ReviewAction::Verify),
        can_reject: can(ReviewAction::Reject),
        can_forward: can(ReviewAction::Forward),
        csrf: user.csrf.clone(),
        error: String::new(),
        reason: String::new(),
        active: "reports",
        d,
    })
}

pub async fn detail(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let lang = lang_of(q.lang.as_deref(), &headers, Some(&user));
    render(
        StatusCode::OK,
        &detail_page(&state, &user, id, lang).await?,
        None,
    )
}

#[derive(Debug, Deserialize)]
pub struct ReviewForm {
    #[serde(default)]
    pub csrf: String,
    #[serde(default)]
    pub action: String,
    #[serde(default)]
    pub reason: String,
}

pub async fn act(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
    Form(f): Form<ReviewForm>,
) -> Result<Response, WebError> {
    user.check_csrf(Some(&f.csrf))?;
    let lang = lang_of(q.lang.as_deref(), &headers, Some(&user));
    match apply(&state, &user, id, &f.action, &f.reason, lang).await {
        Ok(_) => Ok(Redirect::to(&format!("/association/reports/{id}")).into_response()),
        Err(WebError::Validation { message, .. }) => {
            let page = DetailPage {
                error: message,
                reason: f.reason,
                ..detail_page(&state, &user, id, lang).await?
            };
            render(StatusCode::UNPROCESSABLE_ENTITY, &page, None)
        }
        Err(e) => Err(e),
    }
}

/// `filename*` of a Content-Disposition header (RFC 5987).
fn encode_filename(name: &str) -> String {
    name.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'.' | b'-' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// An attachment, decrypted, always as a download with its sniffed type.
pub async fn attachment(
    State(state): State<AppState>,
    user: CurrentUser,
    Path((id, attachment)): Path<(i64, i64)>,
) -> Result<Response, WebError> {
    let association_id = staff_of(&user)?;
    reports::one_of_association(&state.db, &state.crypto, association_id, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let (meta, data) = reports::attachment(&state.db, &state.crypto, id, attachment)
        .await?
        .ok_or(WebError::NotFound)?;
    let disposition = format!(
        "attachment; filename=\"attachment-{}\"; filename*=UTF-8''{}",
        meta.id,
        // Names stored before invisible characters were stripped are cleaned on the way out.
        encode_filename(&super::upload::safe_filename(&meta.filename))
    );
    let headers = [
        (header::CONTENT_TYPE, meta.content_type),
        (header::CONTENT_DISPOSITION, disposition),
        (header::CACHE_CONTROL, "no-store".to_string()),
        (header::X_CONTENT_TYPE_OPTIONS, "nosniff".to_string()),
    ];
    Ok((headers, data).into_response())
}

//! `/api/v1/reports…`: reports for programs, with `Authorization: Bearer TOKEN`. Association
//! staff see their association's reports (and review them); merchants see their own. Problems
//! answer 422 `{error, message, field}`; anything out of scope is 404.
use super::incidents;
use super::review::{self, QueueQuery, STATUSES};
use super::{lang_of, staff_of};
use crate::AppState;
use crate::auth::session::{CurrentUser, Role};
use crate::error::WebError;
use crate::views::rfc3339;
use axum::Json;
use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::http::HeaderMap;
use meoktong_storage::reports::{self, AttachmentMeta, Filter, Report};
use serde::{Deserialize, Serialize};

#[derive(Debug, Serialize)]
pub struct AttachmentJson {
    pub id: i64,
    pub filename: String,
    pub content_type: String,
    pub size: i64,
}

#[derive(Debug, Serialize)]
pub struct ReportJson {
    pub id: i64,
    pub incident_id: i64,
    pub status: String,
    pub association_id: Option<i64>,
    pub business_name: String,
    pub business_registration_number: Option<String>,
    pub contact: Option<String>,
    pub region_sido: String,
    pub region_sigungu: Option<String>,
    pub trade: String,
    pub affected_services: Vec<String>,
    pub damage_kinds: Vec<String>,
    pub estimated_loss_krw: i64,
    pub lost_orders: Option<i32>,
    pub description: String,
    pub outage_start: String,
    pub outage_end: Option<String>,
    pub consent: bool,
    pub review_reason: Option<String>,
    pub reviewed_at: Option<String>,
    pub forwarded_at: Option<String>,
    pub created_at: String,
    pub updated_at: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub attachments: Option<Vec<AttachmentJson>>,
}

fn to_json(state: &AppState, rep: Report, files: Option<Vec<AttachmentMeta>>) -> ReportJson {
    let tz = super::form::time_zone(state);
    let t = |ms: i64| rfc3339(tz, ms);
    let r = rep.row;
    ReportJson {
        id: r.id,
        incident_id: r.incident_id,
        status: r.status,
        association_id: r.association_id,
        business_name: r.business_name,
        business_registration_number: rep.brn,
        contact: rep.contact,
        region_sido: r.region_sido,
        region_sigungu: r.region_sigungu,
        trade: r.trade,
        affected_services: rep.affected_services,
        damage_kinds: rep.damage_kinds,
        estimated_loss_krw: r.estimated_loss_krw,
        lost_orders: r.lost_orders,
        description: r.description,
        outage_start: t(r.outage_start),
        outage_end: r.outage_end.map(t),
        consent: r.consent,
        review_reason: r.review_reason,
        reviewed_at: r.reviewed_at.map(t),
        forwarded_at: r.forwarded_at.map(t),
        created_at: t(r.created_at),
        updated_at: t(r.updated_at),
        attachments: files.map(|f| {
            f.into_iter()
                .map(|a| AttachmentJson {
                    id: a.id,
                    filename: a.filename,
                    content_type: a.content_type,
                    size: a.size,
                })
                .collect()
        }),
    }
}

#[derive(Debug, Serialize)]
pub struct ReportList {
    pub reports: Vec<ReportJson>,
}

pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<QueueQuery>,
) -> Result<Json<ReportList>, WebError> {
    if let Some(s) = q.status.as_deref().filter(|s| !STATUSES.contains(s)) {
        return Err(WebError::Validation {
            field: "status".into(),
            message: format!("unknown status `{s}`"),
        });
    }
    let found = match (&user.role, user.merchant_id, user.association_id) {
        (Role::Association, _, Some(a)) => {
            let filter = Filter {
                status: q.status,
                incident_id: q.incident,
                incident_ids: Vec::new(),
            };
            reports::of_association(&state.db, &state.crypto, a, &filter).await?
        }
        (Role::Merchant, Some(m), _) => reports::of_merchant(&state.db, &state.crypto, m)
            .await?
            .into_iter()
            .filter(|r| {
                q.incident.is_none_or(|i| r.row.incident_id == i)
                    && q.status.as_ref().is_none_or(|s| &r.row.status == s)
            })
            .collect(),
        _ => return Err(WebError::Forbidden),
    };
    Ok(Json(ReportList {
        reports: found
            .into_iter()
            .map(|r| to_json(&state, r, None))
            .collect(),
    }))
}

async fn find(state: &AppState, user: &CurrentUser, id: i64) -> Result<Report, WebError> {
    let found = match (&user.role, user.merchant_id, user.association_id) {
        (Role::Association, _, Some(a)) => {
            reports::one_of_association(&state.db, &state.crypto, a, id).await?
        }
        (Role::Merchant, Some(m), _) => {
            reports::one_of_merchant(&state.db, &state.crypto, m, id).await?
        }
        _ => None,
    };
    found.ok_or(WebError::NotFound)
}

pub async fn one(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
) -> Result<Json<ReportJson>, WebError> {
    let rep = find(&state, &user, id).await?;
    let files = reports::attachments(&state.db, id).await?;
    Ok(Json(to_json(&state, rep, Some(files))))
}

#[derive(Debug, Deserialize)]
pub struct ReviewBody {
    pub action: String,
    #[serde(default)]
    pub reason: String,
}

pub async fn review(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    headers: HeaderMap,
    body: Result<Json<ReviewBody>, JsonRejection>,
) -> Result<Json<ReportJson>, WebError> {
    user.check_csrf(headers.get("x-csrf-token").and_then(|v| v.to_str().ok()))?;
    let b = crate::routes::api::body(body)?;
    let lang = lang_of(None, &headers, Some(&user));
    review::apply(&state, &user, id, &b.action, &b.reason, lang).await?;
    let rep = find(&state, &user, id).await?;
    Ok(Json(to_json(&state, rep, None)))
}

#[derive(Debug, Serialize)]
pub struct IncidentJson {
    pub id: i64,
    pub dependency: String,
    pub started_at: String,
    pub resolved_at: Option<String>,
    /// The measured outage, first failed probe to first good probe (null while open).
    pub duration_seconds: Option<i64>,
}

#[derive(Debug, Serialize)]
pub struct TotalsJson {
    pub incident: IncidentJson,
    #[serde(flatten)]
    pub totals: super::totals::Totals,
}

pub async fn totals(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    headers: HeaderMap,
) -> Result<Json<TotalsJson>, WebError> {
    let association_id = staff_of(&user)?;
    let t = incidents::load(
        &state,
        association_id,
        id,
        lang_of(None, &headers, Some(&user)),
    )
    .await?;
    let tz = super::form::time_zone(&state);
    let i = &t.incident;
    let dependency = t
        .names
        .deps
        .get(&i.dependency_id)
        .map(|d| d.slug.clone())
        .unwrap_or_default();
    let incident = IncidentJson {
        id: i.id,
        dependency,
        started_at: rfc3339(tz, i.started_at),
        resolved_at: i.resolved_at.map(|r| rfc3339(tz, r)),
        duration_seconds: i.resolved_at.map(|r| (r - i.started_at) / 1000),
    };
    Ok(Json(TotalsJson {
        incident,
        totals: t.totals,
    }))
}

//! Exports of one incident's reports for a compensation claim: CSV (UTF-8 with a BOM, so
//! spreadsheet programs read the Korean right) and a printable evidence pack (the probes'
//! timeline of the outage beside the totals).
use super::choices::{self, SIDO, TRADES};
use super::form::fmt_time;
use super::incidents::{self, IncidentTotals, Section, Summary};
use super::validate::{group_digits, kinds_text};
use super::view::status_label;
use super::{LangQuery, lang_of, render, staff_of};
use crate::AppState;
use crate::auth::session::CurrentUser;
use crate::error::WebError;
use crate::i18n::Lang;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use meoktong_storage::{now_ms, probes};
use std::collections::HashMap;

const HEADERS_KO: [&str; 20] = [
    "접수번호",
    "상태",
    "장애번호",
    "서비스",
    "장애 시작",
    "장애 종료",
    "상호",
    "사업자등록번호",
    "시/도",
    "시/군/구",
    "업종",
    "영향받은 서비스",
    "피해 종류",
    "추정 손실(원)",
    "놓친 주문 수",
    "피해 내용",
    "연락처",
    "제출 시각",
    "검토 시각",
    "반려 사유",
];
const HEADERS_EN: [&str; 20] = [
    "report_id",
    "status",
    "incident_id",
    "service",
    "outage_start",
    "outage_end",
    "business_name",
    "business_registration_number",
    "province",
    "district",
    "trade",
    "affected_services",
    "damage_kinds",
    "estimated_loss_krw",
    "lost_orders",
    "description",
    "contact",
    "submitted_at",
    "reviewed_at",
    "review_reason",
];

/// The CSV text, BOM first.
pub fn csv_text(t: &IncidentTotals) -> Result<Vec<u8>, WebError> {
    let (names, lang) = (&t.names, t.names.lang);
    let mut out = "\u{feff}".as_bytes().to_vec();
    let mut w = crate::csv_out::SafeCsv::new(&mut out);
    let failed = |e: csv::Error| WebError::Unexpected(format!("csv: {e}"));
    w.row(if lang == Lang::En {
        HEADERS_EN
    } else {
        HEADERS_KO
    })
    .map_err(failed)?;
    for rep in &t.reports {
        let r = &rep.row;
        let time = |ms: Option<i64>| ms.map(|m| names.time(m)).unwrap_or_default();
        w.row([
            r.id.to_string(),
            status_label(&r.status, lang).to_string(),
            r.incident_id.to_string(),
            t.dependency(),
            names.time(r.outage_start),
            time(r.outage_end),
            r.business_name.clone(),
            rep.brn.clone().unwrap_or_default(),
            choices::label(&SIDO, &r.region_sido, lang),
            r.region_sigungu.as_deref().unwrap_or_default().to_string(),
            choices::label(&TRADES, &r.trade, lang),
            rep.affected_services
                .iter()
                .map(|s| names.service(s))
                .collect::<Vec<_>>()
                .join(", "),
            kinds_text(&rep.damage_kinds, lang),
            r.estimated_loss_krw.to_string(),
            r.lost_orders.map(|n| n.to_string()).unwrap_or_default(),
            r.description.clone(),
            rep.contact.as_deref().unwrap_or_default().to_string(),
            names.time(r.created_at),
            time(r.reviewed_at),
            r.review_reason.as_deref().unwrap_or_default().to_string(),
        ])
        .map_err(failed)?;
    }
    w.flush()
        .map_err(|e| WebError::Unexpected(format!("csv: {e}")))?;
    drop(w);
    Ok(out)
}

pub async fn csv(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let association_id = staff_of(&user)?;
    let lang = lang_of(q.lang.as_deref(), &headers, Some(&user));
    let t = incidents::load(&state, association_id, id, lang).await?;
    let body = csv_text(&t)?;
    let disposition = format!("attachment; filename=\"incident-{id}-reports.csv\"");
    let headers = [
        (header::CONTENT_TYPE, "text/csv; charset=utf-8".to_string()),
        (header::CONTENT_DISPOSITION, disposition),
        (header::CACHE_CONTROL, "no-store".to_string()),
    ];
    Ok((headers, body).into_response())
}

pub struct EventRow {
    pub at: String,
    pub kind: String,
    pub location: String,
    pub detail: String,
}

fn event_label(kind: &str, lang: Lang) -> String {
    match kind {
        "first_failure" => lang
            .t("첫 실패 (장애 시작)", "First failed probe (outage start)")
            .into(),
        "confirmed_down" => lang.t("장애 확정", "Confirmed down").into(),
        "relapsed" => lang.t("재장애", "Down again").into(),
        "recovered" => lang
            .t("복구 (첫 정상 응답)", "Recovered (first good probe)")
            .into(),
        "degraded" => lang.t("느려짐", "Degraded").into(),
        "superseded_by_down" => lang.t("장애로 전환", "Became an outage").into(),
        other => other.to_string(),
    }
}

/// A probe's evidence in one line: its scalar fields, `key=value`.
pub fn detail_text(detail: &str) -> String {
    let text = match serde_json::from_str::<serde_json::Value>(detail) {
        Ok(serde_json::Value::Object(map)) => map
            .iter()
            .filter_map(|(k, v)| match v {
                serde_json::Value::Object(_) | serde_json::Value::Null => None,
                // A list of names (the locations that agreed) reads as `a,b`.
                serde_json::Value::Array(items) => items
                    .iter()
                    .map(|i| i.as_str())
                    .collect::<Option<Vec<_>>>()
                    .map(|names| format!("{k}={}", names.join(","))),
                serde_json::Value::String(text) => Some(format!("{k}={text}")),
                other => Some(format!("{k}={other}")),
            })
            .collect::<Vec<_>>()
            .join(" "),
        Ok(other) => other.to_string(),
        Err(_) => detail.to_string(),
    };
    if text.chars().count() > 160 {
        format!("{}…", text.chars().take(159).collect::<String>())
    } else {
        text
    }
}

/// One hour of the probe record, as the evidence pack prints it.
pub struct HourRow {
    pub hour: String,
    pub probes: i64,
    pub ok: i64,
    pub failed: i64,
    pub failed_share: String,
    pub mean_ms: String,
}

/// The hourly probe record of the incident's dependency, from the hour before it started to
/// the hour after it ended (hourly rollups: kept after the raw results are pruned).
async fn hourly(state: &AppState, t: &IncidentTotals) -> Result<Vec<HourRow>, WebError> {
    let inc = &t.incident;
    let end = inc.resolved_at.unwrap_or_else(now_ms);
    let hours = probes::hours_of_dependency(
        &state.db,
        inc.dependency_id,
        inc.started_at - 3_600_000,
        end + 3_600_000,
    )
    .await?;
    Ok(hours
        .into_iter()
        .map(|h| {
            let probes = h.ok + h.degraded + h.failed + h.config_errors;
            let failed = h.failed + h.degraded;
            HourRow {
                hour: fmt_time(t.names.tz, h.hour_at),
                probes,
                ok: h.ok,
                failed,
                failed_share: format!("{:.0}%", failed as f64 * 100.0 / probes.max(1) as f64),
                mean_ms: group_digits(h.mean_us / 1000),
            }
        })
        .collect())
}

pub struct ReportLine {
    pub id: i64,
    pub business_name: String,
    pub region: String,
    pub trade: String,
    pub loss: String,
    pub status: &'static str,
}

#[derive(Template)]
#[template(path = "reports/evidence.html")]
struct EvidencePage {
    lang: &'static str,
    l: Lang,
    title: String,
    generated: String,
    s: Summary,
    events: Vec<EventRow>,
    hours: Vec<HourRow>,
    sections: Vec<Section>,
    reports: Vec<ReportLine>,
    width: u32,
}

async fn timeline(state: &AppState, t: &IncidentTotals) -> Result<Vec<EventRow>, WebError> {
    let events = meoktong_storage::incidents::events(&state.db, t.incident.id).await?;
    let locations: HashMap<i64, String> = probes::locations(&state.db)
        .await?
        .into_iter()
        .map(|l| (l.id, l.name))
        .collect();
    Ok(events
        .iter()
        .map(|e| EventRow {
            at: fmt_time(t.names.tz, e.at),
            kind: event_label(&e.kind, t.names.lang),
            location: e
                .location_id
                .and_then(|l| locations.get(&l).cloned())
                .unwrap_or_default(),
            detail: detail_text(&e.detail),
        })
        .collect())
}

pub async fn evidence(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let association_id = staff_of(&user)?;
    let lang = lang_of(q.lang.as_deref(), &headers, Some(&user));
    let t = incidents::load(&state, association_id, id, lang).await?;
    let reports = t
        .reports
        .iter()
        .filter(|r| r.row.status != "rejected")
        .map(|r| ReportLine {
            id: r.row.id,
            business_name: r.row.business_name.clone(),
            region: choices::label(&SIDO, &r.row.region_sido, lang),
            trade: choices::label(&TRADES, &r.row.trade, lang),
            loss: group_digits(r.row.estimated_loss_krw),
            status: status_label(&r.row.status, lang),
        })
        .collect();
    let s = incidents::summary(&t);
    let page = EvidencePage {
        lang: lang.code(),
        l: lang,
        title: format!(
            "{} · {}",
            s.dependency,
            lang.t("장애 피해 증거 자료", "outage damage evidence")
        ),
        generated: fmt_time(t.names.tz, now_ms()),
        events: timeline(&state, &t).await?,
        hours: hourly(&state, &t).await?,
        sections: incidents::sections(&t),
        width: super::totals::CHART_WIDTH,
        reports,
        s,
    };
    render(StatusCode::OK, &page, None)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn evidence_details_read_in_one_line() {
        let line = detail_text(
            r#"{"status":503,"error":"timeout","nested":{"a":1},"agreed":["seoul-kt","busan-skb"],"locations":[{"location":"x"}]}"#,
        );
        assert!(
            line.contains("status=503")
                && line.contains("error=timeout")
                && line.contains("agreed=seoul-kt,busan-skb")
                && !line.contains("nested")
                && !line.contains("locations"),
            "{line}"
        );
        assert_eq!(detail_text("not json"), "not json");
        assert!(
            detail_text(&format!("\"{}\"", "x".repeat(500)))
                .chars()
                .count()
                <= 160
        );
    }
}

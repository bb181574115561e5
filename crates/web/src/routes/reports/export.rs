//! Exports of one incident's reports for a compensation claim: CSV (UTF-8 with a BOM, so
//! spreadsheet programs read the Korean right) and a printable evidence pack (the probes'
//! timeline of the outage beside the totals).
use super::choices::{self, SIDO, TRADES};
use super::event::tier_text;
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
use meoktong_domain::claims::{Tier, reaches_two_hours};
use meoktong_storage::{now_ms, probes};
use std::collections::HashMap;

/// The columns before the services (Korean, English).
const HEAD: [(&str, &str); 11] = [
    ("접수번호", "receipt_number"),
    ("상태", "status"),
    ("장애 번호", "outage_event_id"),
    ("장애 시작", "outage_start"),
    ("장애 종료", "outage_end"),
    ("상호", "business_name"),
    ("사업자등록번호", "business_registration_number"),
    ("시/도", "province"),
    ("시/군/구", "district"),
    ("업종", "trade"),
    ("연락처", "contact"),
];
/// The columns after the services.
const TAIL: [(&str, &str); 11] = [
    ("장애 기간 매출(원)", "sales_outage_period_krw"),
    ("비교 기간 매출(원)", "sales_comparable_period_krw"),
    ("추정 손실(원)", "estimated_loss_krw"),
    ("놓친 주문 수", "lost_orders"),
    ("추정 보상 구간(추정)", "estimated_compensation_tier"),
    ("대체 수단", "substitute"),
    ("피해 종류", "damage_kinds"),
    ("피해 내용", "description"),
    ("제출 시각", "submitted_at"),
    ("검토 시각", "reviewed_at"),
    ("반려 사유", "review_reason"),
];

fn pick(pair: (&'static str, &'static str), lang: Lang) -> String {
    lang.t(pair.0, pair.1).to_string()
}

/// How a merchant used one service of the event.
fn usage_text(rep: &meoktong_storage::reports::Report, slug: &str, lang: Lang) -> String {
    if !rep.affected_services.iter().any(|s| s == slug) {
        return lang.t("사용 안 함", "not used").into();
    }
    match rep.service_usage.get(slug).map(String::as_str) {
        Some("paid") => lang.t("유료", "paid").into(),
        Some("free") => lang.t("무료", "free").into(),
        _ => lang
            .t("사용 (유료·무료 미기재)", "used (paid/free not said)")
            .into(),
    }
}

pub fn substitute_text(v: Option<&str>, lang: Lang) -> String {
    match v {
        Some("yes") => lang.t("있었음", "yes").into(),
        Some("partly") => lang.t("일부", "partly").into(),
        Some("no") => lang.t("없었음", "no").into(),
        _ => String::new(),
    }
}

/// The claims of one outage event as CSV for Korean Excel: UTF-8 with a BOM, CRLF rows,
/// every cell guarded against formulas. One row per report (one per merchant per event),
/// each of the event's services in its own columns: measured window, two-hour line, use.
pub fn csv_text(t: &IncidentTotals, tiers: &[Tier]) -> Result<Vec<u8>, WebError> {
    let (names, lang) = (&t.names, t.names.lang);
    let mut out = "\u{feff}".as_bytes().to_vec();
    let mut w = crate::csv_out::SafeCsv::excel(&mut out);
    let failed = |e: csv::Error| WebError::Unexpected(format!("csv: {e}"));
    // Each service once, with its windows (a service down twice in the event keeps both).
    let mut services: Vec<(
        String,
        String,
        Vec<&meoktong_storage::entity::incidents::Model>,
    )> = Vec::new();
    for i in &t.event.incidents {
        let slug = names
            .deps
            .get(&i.dependency_id)
            .map(|d| d.slug.clone())
            .unwrap_or_default();
        match services.iter_mut().find(|s| s.0 == slug) {
            Some(s) => s.2.push(i),
            None => services.push((slug, names.dependency_of(i), vec![i])),
        }
    }
    let mut header: Vec<String> = HEAD.iter().map(|p| pick(*p, lang)).collect();
    for (_, name, _) in &services {
        header.push(format!("{name} {}", lang.t("장애 시간", "outage")));
        header.push(format!("{name} {}", lang.t("2시간 이상", "2h or more")));
        header.push(format!("{name} {}", lang.t("사용", "use")));
    }
    header.extend(TAIL.iter().map(|p| pick(*p, lang)));
    w.row(&header).map_err(failed)?;
    let (start, end) = t.event.span();
    let time = |ms: Option<i64>| ms.map(|m| names.time(m)).unwrap_or_default();
    for rep in &t.reports {
        let r = &rep.row;
        let mut row: Vec<String> = vec![
            rep.receipt(),
            status_label(&r.status, lang).to_string(),
            t.incident.id.to_string(),
            names.time(start),
            time(end),
            r.business_name.clone(),
            rep.brn.clone().unwrap_or_default(),
            choices::label(&SIDO, &r.region_sido, lang),
            r.region_sigungu.as_deref().unwrap_or_default().to_string(),
            choices::label(&TRADES, &r.trade, lang),
            rep.contact.as_deref().unwrap_or_default().to_string(),
        ];
        for (slug, _, incs) in &services {
            let windows: Vec<String> = incs
                .iter()
                .map(|i| format!("{} ~ {}", names.time(i.started_at), time(i.resolved_at)))
                .collect();
            let longest = incs
                .iter()
                .map(|i| i.resolved_at.unwrap_or_else(now_ms) - i.started_at)
                .max()
                .unwrap_or(0);
            row.push(windows.join(" / "));
            row.push(
                if reaches_two_hours(longest) {
                    lang.t("예", "yes")
                } else {
                    lang.t("아니오", "no")
                }
                .into(),
            );
            row.push(usage_text(rep, slug, lang));
        }
        let opt = |v: Option<i64>| v.map(|n| n.to_string()).unwrap_or_default();
        row.extend([
            opt(r.sales_outage_krw),
            opt(r.sales_comparable_krw),
            r.estimated_loss_krw.to_string(),
            r.lost_orders.map(|n| n.to_string()).unwrap_or_default(),
            tier_text(tiers, r.estimated_loss_krw, lang),
            substitute_text(r.substitute.as_deref(), lang),
            kinds_text(&rep.damage_kinds, lang),
            r.description.clone(),
            names.time(r.created_at),
            time(r.reviewed_at),
            r.review_reason.as_deref().unwrap_or_default().to_string(),
        ]);
        w.row(&row).map_err(failed)?;
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
    let body = csv_text(&t, &state.settings.compensation.domain_tiers())?;
    let disposition = format!(
        "attachment; filename=\"outage-{}-claims.csv\"",
        t.incident.id
    );
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

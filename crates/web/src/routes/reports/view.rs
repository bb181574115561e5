//! How a stored report reads, for merchants and association staff alike.
use super::choices::{self, TRADES};
use super::form::{dep_label, fmt_duration, fmt_time, time_zone};
use super::validate::{group_digits, kinds_text};
use crate::AppState;
use crate::error::WebError;
use crate::i18n::Lang;
use meoktong_storage::entity::{dependencies, incidents};
use meoktong_storage::reports::lookup;
use meoktong_storage::reports::{AttachmentMeta, Report};
use std::collections::HashMap;

pub fn status_label(status: &str, lang: Lang) -> &'static str {
    match status {
        "received" => lang.t("접수", "Received"),
        "verified" => lang.t("확인됨", "Verified"),
        "rejected" => lang.t("반려", "Rejected"),
        "forwarded" => lang.t("전달됨", "Forwarded"),
        _ => lang.t("알 수 없음", "Unknown"),
    }
}

/// Dependency names and incidents, for naming what reports are about.
pub struct Names {
    pub deps: HashMap<i64, dependencies::Model>,
    pub by_slug: HashMap<String, dependencies::Model>,
    pub incidents: HashMap<i64, incidents::Model>,
    pub tz: chrono_tz::Tz,
    pub lang: Lang,
}

impl Names {
    pub async fn load(
        state: &AppState,
        incident_ids: &[i64],
        lang: Lang,
    ) -> Result<Names, WebError> {
        let deps = lookup::all_dependencies(&state.db).await?;
        let incidents = lookup::incidents_by_ids(&state.db, incident_ids).await?;
        Ok(Names {
            by_slug: deps.iter().map(|d| (d.slug.clone(), d.clone())).collect(),
            deps: deps.into_iter().map(|d| (d.id, d)).collect(),
            incidents: incidents.into_iter().map(|i| (i.id, i)).collect(),
            tz: time_zone(state),
            lang,
        })
    }

    pub fn service(&self, slug: &str) -> String {
        self.by_slug
            .get(slug)
            .map(|d| dep_label(d, self.lang))
            .unwrap_or_else(|| slug.to_string())
    }

    /// `카카오톡 · 2022-10-15 15:30`.
    pub fn incident(&self, id: i64) -> String {
        match self.incidents.get(&id) {
            Some(i) => format!(
                "{} · {}",
                self.dependency_of(i),
                fmt_time(self.tz, i.started_at)
            ),
            None => format!("#{id}"),
        }
    }

    pub fn dependency_of(&self, i: &incidents::Model) -> String {
        self.deps
            .get(&i.dependency_id)
            .map(|d| dep_label(d, self.lang))
            .unwrap_or_default()
    }

    pub fn time(&self, ms: i64) -> String {
        fmt_time(self.tz, ms)
    }
}

pub struct AttachmentView {
    pub href: String,
    pub filename: String,
    pub size: String,
}

/// One report, every field readable.
pub struct ReportView {
    pub id: i64,
    /// `MT-000042`.
    pub receipt: String,
    /// Each service's measured window as filed, with the two-hour line.
    pub windows: Vec<(String, bool)>,
    pub sales: String,
    pub usage: String,
    pub substitute: String,
    pub incident_id: i64,
    pub incident: String,
    pub outage: String,
    pub status: String,
    pub status_label: &'static str,
    pub reason: String,
    pub business_name: String,
    pub brn: String,
    pub contact: String,
    pub region: String,
    pub trade: String,
    pub services: String,
    pub kinds: String,
    pub loss: String,
    pub lost_orders: String,
    pub description: String,
    pub submitted: String,
    pub updated: String,
    pub attachments: Vec<AttachmentView>,
}

pub fn size_text(bytes: i64) -> String {
    if bytes >= 1024 * 1024 {
        format!("{:.1} MB", bytes as f64 / (1024.0 * 1024.0))
    } else {
        format!("{} KB", (bytes + 1023) / 1024)
    }
}

impl ReportView {
    /// `attachment_base`: where attachments are served (`None`: listed without links).
    pub fn new(
        rep: &Report,
        names: &Names,
        attachments: &[AttachmentMeta],
        attachment_base: Option<&str>,
    ) -> ReportView {
        let (row, lang) = (&rep.row, names.lang);
        let end = row
            .outage_end
            .map(|e| names.time(e))
            .unwrap_or_else(|| lang.t("진행 중", "ongoing").into());
        let duration = row
            .outage_end
            .map(|e| format!(" ({})", fmt_duration(lang, e - row.outage_start)))
            .unwrap_or_default();
        let windows = rep
            .windows
            .iter()
            .map(|w| {
                let name = names
                    .deps
                    .get(&w.dependency_id)
                    .map(|d| dep_label(d, lang))
                    .unwrap_or_default();
                let end = w
                    .end
                    .map(|e| names.time(e))
                    .unwrap_or_else(|| lang.t("진행 중", "ongoing").into());
                let took = w.end.unwrap_or_else(meoktong_storage::now_ms) - w.start;
                (
                    format!(
                        "{name} {} ~ {end} ({})",
                        names.time(w.start),
                        fmt_duration(lang, took)
                    ),
                    meoktong_domain::claims::reaches_two_hours(took),
                )
            })
            .collect();
        let won = |n: i64| format!("{}{}", group_digits(n), lang.t("원", " KRW"));
        let sales = match (row.sales_outage_krw, row.sales_comparable_krw) {
            (Some(o), Some(c)) => format!(
                "{} {} · {} {}",
                lang.t("장애 기간", "outage period"),
                won(o),
                lang.t("비교 기간", "comparable period"),
                won(c)
            ),
            _ => String::new(),
        };
        let usage = rep
            .affected_services
            .iter()
            .map(|s| {
                let kind = match rep.service_usage.get(s).map(String::as_str) {
                    Some("paid") => lang.t(" (유료)", " (paid)"),
                    Some("free") => lang.t(" (무료)", " (free)"),
                    _ => "",
                };
                format!("{}{kind}", names.service(s))
            })
            .collect::<Vec<_>>()
            .join(", ");
        ReportView {
            id: row.id,
            receipt: rep.receipt(),
            windows,
            sales,
            usage,
            substitute: super::export::substitute_text(row.substitute.as_deref(), lang),
            incident_id: row.incident_id,
            incident: names.incident(row.incident_id),
            outage: format!("{} ~ {end}{duration}", names.time(row.outage_start)),
            status: row.status.clone(),
            status_label: status_label(&row.status, lang),
            reason: row.review_reason.clone().unwrap_or_default(),
            business_name: row.business_name.clone(),
            brn: rep.brn.clone().unwrap_or_default(),
            contact: rep.contact.clone().unwrap_or_default(),
            region: format!(
                "{} {}",
                choices::label(&choices::SIDO, &row.region_sido, lang),
                row.region_sigungu.as_deref().unwrap_or_default()
            )
            .trim()
            .to_string(),
            trade: choices::label(&TRADES, &row.trade, lang),
            services: rep
                .affected_services
                .iter()
                .map(|s| names.service(s))
                .collect::<Vec<_>>()
                .join(", "),
            kinds: kinds_text(&rep.damage_kinds, lang),
            loss: group_digits(row.estimated_loss_krw),
            lost_orders: row
                .lost_orders
                .map(|n| group_digits(i64::from(n)))
                .unwrap_or_default(),
            description: row.description.clone(),
            submitted: names.time(row.created_at),
            updated: names.time(row.updated_at),
            attachments: attachments
                .iter()
                .map(|a| AttachmentView {
                    href: attachment_base
                        .map(|b| format!("{b}/{}", a.id))
                        .unwrap_or_default(),
                    filename: a.filename.clone(),
                    size: size_text(a.size),
                })
                .collect(),
        }
    }
}

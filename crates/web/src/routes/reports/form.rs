//! The report form's view: what was typed (or pre-filled), the field messages, and the lists
//! to choose from.
use super::choices::{KINDS, SIDO, TRADES};
use super::event::{Event, ServiceBox, tier_text};
use super::validate::{FieldError, RawReport, field_label};
use crate::AppState;
use crate::error::WebError;
use crate::i18n::Lang;
use askama::Template;
use chrono::TimeZone;
use meoktong_domain::duration_text::{Locale, format_duration};
use meoktong_storage::entity::{associations, dependencies, incidents};
use meoktong_storage::{catalog, now_ms, reports, status};
use std::time::Duration;

/// Incidents offered when the form is opened without one: the last 90 days.
const RECENT_MS: i64 = 90 * 24 * 3600 * 1000;

/// The loss helper's inputs.
#[derive(Debug, Clone, Default)]
pub struct Helper {
    pub daily_sales: String,
    pub hours_down: String,
    pub open_hours: String,
}

/// Everything the form chooses from, loaded once per request.
pub struct FormContext {
    pub deps: Vec<dependencies::Model>,
    pub associations: Vec<associations::Model>,
    pub recent: Vec<incidents::Model>,
    pub tz: chrono_tz::Tz,
    /// `[compensation]`: the estimate's tiers and where they come from.
    pub tiers: Vec<meoktong_domain::claims::Tier>,
    pub basis: String,
}

impl FormContext {
    pub async fn load(state: &AppState) -> Result<FormContext, WebError> {
        let false_alarms = meoktong_storage::status_comms::marks::false_alarms(&state.db).await?;
        let mut recent = status::incidents_since(&state.db, now_ms() - RECENT_MS).await?;
        recent.retain(|i| !false_alarms.contains(&i.id));
        Ok(FormContext {
            deps: catalog::list_dependencies(&state.db).await?,
            associations: reports::associations(&state.db).await?,
            recent,
            tz: time_zone(state),
            tiers: state.settings.compensation.domain_tiers(),
            basis: state.settings.compensation.basis.clone(),
        })
    }

    pub fn dependency_name(&self, id: i64, lang: Lang) -> String {
        self.deps
            .iter()
            .find(|d| d.id == id)
            .map(|d| dep_label(d, lang))
            .unwrap_or_default()
    }

    pub fn service_slugs(&self) -> Vec<&str> {
        self.deps.iter().map(|d| d.slug.as_str()).collect()
    }

    pub fn association_ids(&self) -> Vec<i64> {
        self.associations.iter().map(|a| a.id).collect()
    }
}

pub fn time_zone(state: &AppState) -> chrono_tz::Tz {
    state
        .settings
        .notify
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Seoul)
}

pub fn dep_label(d: &dependencies::Model, lang: Lang) -> String {
    match lang {
        Lang::En => d.name_en.clone().unwrap_or_else(|| d.name.clone()),
        Lang::Ko => d.name.clone(),
    }
}

/// `2022-10-15 15:30` in the service's time zone.
pub fn fmt_time(tz: chrono_tz::Tz, ms: i64) -> String {
    tz.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.format("%Y-%m-%d %H:%M").to_string())
        .unwrap_or_default()
}

pub fn fmt_duration(lang: Lang, ms: i64) -> String {
    let locale = if lang == Lang::En {
        Locale::En
    } else {
        Locale::Ko
    };
    format_duration(
        locale,
        Duration::from_millis(u64::try_from(ms).unwrap_or(0)),
    )
}

/// The measured outage a report is about.
pub struct IncidentBox {
    pub id: i64,
    pub dependency: String,
    pub start: String,
    pub end: String,
    pub duration: String,
}

impl IncidentBox {
    pub fn new(ctx: &FormContext, i: &incidents::Model, lang: Lang) -> IncidentBox {
        IncidentBox {
            id: i.id,
            dependency: ctx.dependency_name(i.dependency_id, lang),
            start: fmt_time(ctx.tz, i.started_at),
            end: i
                .resolved_at
                .map(|r| fmt_time(ctx.tz, r))
                .unwrap_or_else(|| lang.t("진행 중", "ongoing").into()),
            duration: i
                .resolved_at
                .map(|r| fmt_duration(lang, r - i.started_at))
                .unwrap_or_default(),
        }
    }
}

/// One option of a select or one checkbox.
pub struct Opt {
    pub value: String,
    pub label: String,
    pub selected: bool,
}

/// The hidden fields that travel with the form.
pub struct Hidden {
    pub csrf: String,
    pub stamp: String,
    pub token: String,
}

#[derive(Template)]
#[template(path = "reports/form.html")]
pub struct FormPage {
    pub lang: &'static str,
    pub l: Lang,
    pub title: String,
    pub r: RawReport,
    pub h: Helper,
    pub hidden: Hidden,
    pub errors: Vec<(String, String)>,
    pub incident: Option<IncidentBox>,
    /// The event's key (the hidden `incident` value) and each service's measured window.
    pub event_key: Option<i64>,
    pub windows: Vec<ServiceBox>,
    pub incidents: Vec<Opt>,
    pub sido: Vec<Opt>,
    pub trades: Vec<Opt>,
    pub kinds: Vec<Opt>,
    /// The event's services first (`in_event`), then the rest of the catalog.
    pub services: Vec<ServiceOpt>,
    pub associations: Vec<Opt>,
    pub substitutes: Vec<Opt>,
    /// The estimated compensation tier of the loss as typed (or of the sales difference).
    pub tier: String,
    /// The tiers for the page's script: `[[up_to, estimate], …]`.
    pub tiers_json: String,
    pub basis: String,
    /// When the merchant's earlier report on this incident is being edited: when it was sent.
    pub editing: Option<String>,
    /// The loss helper's result, when asked for without JavaScript.
    pub estimate: Option<String>,
    pub signed_in: bool,
    /// Names of the files to choose again (see [`Extras::files_sent`]).
    pub choose_again: Vec<String>,
}

impl FormPage {
    /// The message of a field, or "".
    pub fn err(&self, field: &str) -> &str {
        self.errors
            .iter()
            .find(|(f, _)| f == field)
            .map(|(_, m)| m.as_str())
            .unwrap_or("")
    }

    /// The `aria-invalid` value of a field.
    pub fn invalid(&self, field: &str) -> &'static str {
        if self.err(field).is_empty() {
            "false"
        } else {
            "true"
        }
    }
}

/// One service to tick, with whether it was paid or free.
pub struct ServiceOpt {
    pub value: String,
    pub label: String,
    pub selected: bool,
    /// `paid` | `free` | "".
    pub usage: String,
    pub in_event: bool,
}

/// What the page shows besides the values.
pub struct Extras {
    pub incident: Option<incidents::Model>,
    pub event: Option<Event>,
    pub editing: Option<i64>,
    pub estimate: Option<String>,
    pub signed_in: bool,
    /// Files sent with a submission that is shown again: a browser cannot refill a file
    /// input, so the page names them and asks for them again.
    pub files_sent: Vec<String>,
}

fn opts<'a>(
    items: impl Iterator<Item = (String, String)>,
    chosen: impl Fn(&str) -> bool + 'a,
) -> Vec<Opt> {
    items
        .map(|(value, label)| Opt {
            selected: chosen(&value),
            value,
            label,
        })
        .collect()
}

pub fn page(
    ctx: &FormContext,
    lang: Lang,
    r: RawReport,
    h: Helper,
    hidden: Hidden,
    errors: &[FieldError],
    x: Extras,
) -> FormPage {
    let errors = errors
        .iter()
        .map(|e| (e.field.to_string(), e.problem.message(lang)))
        .collect();
    let choice = |list: &[super::choices::Choice]| {
        list.iter()
            .map(|c| (c.code.to_string(), c.label(lang).to_string()))
            .collect::<Vec<_>>()
    };
    let incidents = ctx.recent.iter().map(|i| {
        let label = format!(
            "{} · {}",
            ctx.dependency_name(i.dependency_id, lang),
            fmt_time(ctx.tz, i.started_at)
        );
        (i.id.to_string(), label)
    });
    FormPage {
        lang: lang.code(),
        l: lang,
        title: lang.t("장애 피해 신고", "Report outage damage").to_string(),
        incidents: opts(incidents, |v| v == r.incident.trim()),
        sido: opts(choice(&SIDO).into_iter(), |v| v == r.region_sido),
        trades: opts(choice(&TRADES).into_iter(), |v| v == r.trade),
        kinds: opts(choice(&KINDS).into_iter(), |v| {
            r.kinds.iter().any(|k| k == v)
        }),
        services: service_opts(ctx, &r, x.event.as_ref(), lang),
        substitutes: opts(
            [
                (
                    "yes",
                    lang.t("있었음 (전화·현금 등으로 대신함)", "Yes (phone, cash, …)"),
                ),
                ("partly", lang.t("일부만", "Partly")),
                ("no", lang.t("없었음", "No")),
            ]
            .into_iter()
            .map(|(v, l)| (v.to_string(), l.to_string())),
            |v| v == r.substitute.trim(),
        ),
        tier: claim_loss(&r)
            .map(|loss| tier_text(&ctx.tiers, loss, lang))
            .unwrap_or_default(),
        tiers_json: serde_json::to_string(
            &ctx.tiers
                .iter()
                .map(|t| [t.up_to_krw, t.estimate_krw])
                .collect::<Vec<_>>(),
        )
        .unwrap_or_else(|_| "[]".into()),
        basis: ctx.basis.clone(),
        event_key: x.event.as_ref().map(|e| e.key().id),
        windows: x
            .event
            .as_ref()
            .map(|e| {
                e.incidents
                    .iter()
                    .map(|i| ServiceBox::new(ctx, i, lang))
                    .collect()
            })
            .unwrap_or_default(),
        associations: opts(
            ctx.associations
                .iter()
                .map(|a| (a.id.to_string(), a.name.clone())),
            |v| v == r.association.trim(),
        ),
        incident: x.incident.as_ref().map(|i| IncidentBox::new(ctx, i, lang)),
        editing: x.editing.map(|at| fmt_time(ctx.tz, at)),
        estimate: x.estimate,
        signed_in: x.signed_in,
        choose_again: x.files_sent,
        errors,
        r,
        h,
        hidden,
    }
}

/// The loss a claim states as typed: the sales difference when both are given, else the
/// loss field.
pub fn claim_loss(r: &RawReport) -> Option<i64> {
    use super::validate::krw;
    match (krw(&r.sales_outage), krw(&r.sales_comparable)) {
        (Ok(o), Ok(c)) => Some(meoktong_domain::claims::loss_from_sales(o, c)),
        _ => krw(&r.estimated_loss).ok(),
    }
}

fn service_opts(
    ctx: &FormContext,
    r: &RawReport,
    event: Option<&Event>,
    lang: Lang,
) -> Vec<ServiceOpt> {
    let in_event = event.map(|e| e.dependency_ids()).unwrap_or_default();
    let opt = |d: &dependencies::Model| ServiceOpt {
        selected: r.services.contains(&d.slug),
        usage: r
            .usage
            .iter()
            .find(|(slug, _)| *slug == d.slug)
            .map(|(_, u)| u.clone())
            .unwrap_or_default(),
        in_event: in_event.contains(&d.id),
        value: d.slug.clone(),
        label: dep_label(d, lang),
    };
    let mut out: Vec<ServiceOpt> = in_event
        .iter()
        .filter_map(|id| ctx.deps.iter().find(|d| d.id == *id))
        .map(opt)
        .collect();
    out.extend(
        ctx.deps
            .iter()
            .filter(|d| !in_event.contains(&d.id))
            .map(opt),
    );
    out
}

/// "Label: message" lines for the summary above the form.
pub fn summary(errors: &[(String, String)], lang: Lang) -> Vec<String> {
    errors
        .iter()
        .map(|(f, m)| format!("{}: {m}", field_label(f, lang)))
        .collect()
}

impl FormPage {
    pub fn summary(&self) -> Vec<String> {
        summary(&self.errors, self.l)
    }
}

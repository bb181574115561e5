//! The outage event a report is about: the incidents whose probe-measured windows overlap
//! (the fire's Talk, Login, Pay and Map), keyed by the first of them. One report per merchant
//! per event; the association's totals and exports are by event.
use super::form::{FormContext, dep_label, fmt_duration, fmt_time};
use crate::AppState;
use crate::error::WebError;
use crate::i18n::Lang;
use meoktong_domain::claims;
use meoktong_storage::entity::{dependencies, incidents};
use meoktong_storage::reports::ServiceWindow;

/// An event: its incidents, first-started first (the first is the key).
#[derive(Debug, Clone)]
pub struct Event {
    pub incidents: Vec<incidents::Model>,
}

impl Event {
    /// The event `incident_id` belongs to (`None` for an unknown incident).
    pub async fn of(
        state: &AppState,
        incident_id: i64,
        now: i64,
    ) -> Result<Option<Event>, WebError> {
        // A false alarm leaves the damage-report flow: it is no event, and no part of one.
        let false_alarms = meoktong_storage::status_comms::marks::false_alarms(&state.db).await?;
        if false_alarms.contains(&incident_id) {
            return Ok(None);
        }
        let mut incidents =
            meoktong_storage::incidents::event_of(&state.db, incident_id, now).await?;
        incidents.retain(|i| !false_alarms.contains(&i.id));
        Ok((!incidents.is_empty()).then_some(Event { incidents }))
    }

    /// The event's key: its first incident.
    pub fn key(&self) -> &incidents::Model {
        &self.incidents[0]
    }

    pub fn ids(&self) -> Vec<i64> {
        self.incidents.iter().map(|i| i.id).collect()
    }

    /// First start to last end (`None` while anything is still down).
    pub fn span(&self) -> (i64, Option<i64>) {
        let start = self
            .incidents
            .iter()
            .map(|i| i.started_at)
            .min()
            .unwrap_or_default();
        let end = if self.incidents.iter().any(|i| i.resolved_at.is_none()) {
            None
        } else {
            self.incidents.iter().filter_map(|i| i.resolved_at).max()
        };
        (start, end)
    }

    /// The dependency ids of the event, in order, once each.
    pub fn dependency_ids(&self) -> Vec<i64> {
        let mut out = Vec::new();
        for i in &self.incidents {
            if !out.contains(&i.dependency_id) {
                out.push(i.dependency_id);
            }
        }
        out
    }

    /// The measured window of each service in `slugs` (services outside the event have
    /// none). A service down twice in one event keeps each window.
    pub fn windows(&self, deps: &[dependencies::Model], slugs: &[String]) -> Vec<ServiceWindow> {
        self.incidents
            .iter()
            .filter(|i| {
                deps.iter()
                    .any(|d| d.id == i.dependency_id && slugs.contains(&d.slug))
            })
            .map(|i| ServiceWindow {
                incident_id: i.id,
                dependency_id: i.dependency_id,
                start: i.started_at,
                end: i.resolved_at,
            })
            .collect()
    }
}

/// One service's measured outage, as the pages print it.
pub struct ServiceBox {
    pub slug: String,
    pub dependency: String,
    pub start: String,
    pub end: String,
    pub duration: String,
    /// The 2025-03-28 legal line: two hours or more.
    pub two_hours: bool,
    pub ongoing: bool,
}

impl ServiceBox {
    pub fn new(ctx: &FormContext, i: &incidents::Model, lang: Lang) -> ServiceBox {
        let dep = ctx.deps.iter().find(|d| d.id == i.dependency_id);
        ServiceBox::of(dep, ctx.tz, i, lang)
    }

    pub fn from_names(names: &super::view::Names, i: &incidents::Model) -> ServiceBox {
        ServiceBox::of(names.deps.get(&i.dependency_id), names.tz, i, names.lang)
    }

    fn of(
        dep: Option<&dependencies::Model>,
        tz: chrono_tz::Tz,
        i: &incidents::Model,
        lang: Lang,
    ) -> ServiceBox {
        let ctx_tz = tz;
        let now = meoktong_storage::now_ms();
        ServiceBox {
            slug: dep.map(|d| d.slug.clone()).unwrap_or_default(),
            dependency: dep.map(|d| dep_label(d, lang)).unwrap_or_default(),
            start: fmt_time(ctx_tz, i.started_at),
            end: i
                .resolved_at
                .map(|r| fmt_time(ctx_tz, r))
                .unwrap_or_else(|| lang.t("진행 중", "ongoing").into()),
            duration: fmt_duration(lang, i.resolved_at.unwrap_or(now) - i.started_at),
            two_hours: claims::reaches_two_hours(i.resolved_at.unwrap_or(now) - i.started_at),
            ongoing: i.resolved_at.is_none(),
        }
    }
}

/// The estimate's words: "추정 3만 원" / "증빙 필요", with the basis. Empty for no loss.
pub fn tier_text(tiers: &[claims::Tier], loss_krw: i64, lang: Lang) -> String {
    match claims::estimate(tiers, loss_krw) {
        None => String::new(),
        Some(claims::Estimate::Amount(a)) => format!(
            "{} {}{}",
            lang.t("추정", "Estimated"),
            super::validate::group_digits(a),
            lang.t("원", " KRW")
        ),
        Some(claims::Estimate::ProofRequired) => lang
            .t(
                "추정: 증빙 필요 (손실을 증명하는 자료로 심사)",
                "Estimated: proof required (judged on evidence of the loss)",
            )
            .into(),
    }
}

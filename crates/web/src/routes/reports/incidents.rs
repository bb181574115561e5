//! `/association/incidents…`: the outages an association has reports on, and per outage the
//! totals (number of reports, total and median loss, by region, trade and affected service)
//! beside the measured outage duration, with bar charts.
use super::choices::{self, SIDO, TRADES};
use super::event::{Event, ServiceBox};
use super::form::{fmt_duration, fmt_time};
use super::totals::{self, Chart, Group, Totals};
use super::validate::group_digits;
use super::view::{Names, status_label};
use super::{LangQuery, lang_of, render, staff_of};
use crate::AppState;
use crate::auth::session::CurrentUser;
use crate::error::WebError;
use crate::i18n::Lang;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::Response;
use meoktong_storage::entity::incidents;
use meoktong_storage::reports::{self, Filter, Report};

/// One outage event's reports in an association's scope, with their totals. `incident` is
/// the event's key (its first incident).
pub struct IncidentTotals {
    pub incident: incidents::Model,
    pub event: Event,
    pub reports: Vec<Report>,
    pub totals: Totals,
    pub names: Names,
}

pub async fn load(
    state: &AppState,
    association_id: i64,
    incident_id: i64,
    lang: Lang,
) -> Result<IncidentTotals, WebError> {
    let event = Event::of(state, incident_id, meoktong_storage::now_ms())
        .await?
        .ok_or(WebError::NotFound)?;
    let incident = event.key().clone();
    let filter = Filter {
        status: None,
        incident_id: None,
        incident_ids: event.ids(),
    };
    let reports =
        reports::of_association(&state.db, &state.crypto, association_id, &filter).await?;
    let rows: Vec<totals::Row<'_>> = reports
        .iter()
        .map(|r| totals::Row {
            status: &r.row.status,
            region: &r.row.region_sido,
            trade: &r.row.trade,
            services: &r.affected_services,
            loss: r.row.estimated_loss_krw,
            lost_orders: r.row.lost_orders,
        })
        .collect();
    let totals = totals::compute(&rows);
    let names = Names::load(state, &event.ids(), lang).await?;
    Ok(IncidentTotals {
        incident,
        event,
        reports,
        totals,
        names,
    })
}

impl IncidentTotals {
    /// The event's span (first start to last end): start, end and duration as text.
    pub fn outage(&self) -> (String, String, String) {
        let (lang, tz) = (self.names.lang, self.names.tz);
        let (start, end_at) = self.event.span();
        let end = end_at
            .map(|r| fmt_time(tz, r))
            .unwrap_or_else(|| lang.t("진행 중", "ongoing").into());
        let duration = end_at
            .map(|r| fmt_duration(lang, r - start))
            .unwrap_or_default();
        (fmt_time(tz, start), end, duration)
    }

    /// Every service of the event, once each: `카카오톡 · 카카오페이`.
    pub fn dependency(&self) -> String {
        let mut names: Vec<String> = Vec::new();
        for i in &self.event.incidents {
            let n = self.names.dependency_of(i);
            if !names.contains(&n) {
                names.push(n);
            }
        }
        names.join(" · ")
    }

    /// Each service's measured window.
    pub fn windows(&self) -> Vec<ServiceBox> {
        self.event
            .incidents
            .iter()
            .map(|i| ServiceBox::from_names(&self.names, i))
            .collect()
    }
}

pub struct GroupRow {
    pub label: String,
    pub reports: usize,
    pub loss: String,
}

pub struct Section {
    pub title: String,
    pub chart: Chart,
    pub rows: Vec<GroupRow>,
}

fn section(title: &str, groups: &[Group], label: impl Fn(&str) -> String, lang: Lang) -> Section {
    let won = lang.t("원", " KRW");
    // "1 report", "2 reports"; Korean counts with 건 either way.
    let count = |n: usize| match lang {
        Lang::Ko => "건",
        Lang::En if n == 1 => " report",
        Lang::En => " reports",
    };
    let items: Vec<(String, i64, String)> = groups
        .iter()
        .map(|g| {
            (
                label(&g.key),
                g.loss_krw,
                format!(
                    "{}{won} · {}{}",
                    group_digits(g.loss_krw),
                    g.reports,
                    count(g.reports)
                ),
            )
        })
        .collect();
    Section {
        title: title.to_string(),
        chart: totals::chart(title, &items),
        rows: groups
            .iter()
            .map(|g| GroupRow {
                label: label(&g.key),
                reports: g.reports,
                loss: group_digits(g.loss_krw),
            })
            .collect(),
    }
}

/// The three breakdowns, labelled in the reader's language.
pub fn sections(t: &IncidentTotals) -> Vec<Section> {
    let lang = t.names.lang;
    vec![
        section(
            lang.t("지역별", "By region"),
            &t.totals.by_region,
            |k| choices::label(&SIDO, k, lang),
            lang,
        ),
        section(
            lang.t("업종별", "By trade"),
            &t.totals.by_trade,
            |k| choices::label(&TRADES, k, lang),
            lang,
        ),
        section(
            lang.t("서비스별", "By affected service"),
            &t.totals.by_service,
            |k| t.names.service(k),
            lang,
        ),
    ]
}

/// The headline numbers.
pub struct Summary {
    pub dependency: String,
    pub windows: Vec<ServiceBox>,
    pub start: String,
    pub end: String,
    pub duration: String,
    pub reports: usize,
    pub total: String,
    pub median: String,
    pub lost_orders: String,
    pub by_status: Vec<(&'static str, usize)>,
}

pub fn summary(t: &IncidentTotals) -> Summary {
    let (start, end, duration) = t.outage();
    let lang = t.names.lang;
    Summary {
        dependency: t.dependency(),
        windows: t.windows(),
        start,
        end,
        duration,
        reports: t.totals.reports,
        total: group_digits(t.totals.total_loss_krw),
        median: group_digits(t.totals.median_loss_krw),
        lost_orders: group_digits(t.totals.lost_orders),
        by_status: super::review::STATUSES
            .iter()
            .map(|s| {
                (
                    status_label(s, lang),
                    t.totals.by_status.get(*s).copied().unwrap_or(0),
                )
            })
            .collect(),
    }
}

pub struct IncidentRow {
    pub id: i64,
    pub name: String,
    pub reports: i64,
}

#[derive(Template)]
#[template(path = "reports/incidents.html")]
struct ListPage {
    lang: &'static str,
    l: Lang,
    title: String,
    rows: Vec<IncidentRow>,
    /// For the association menu (`association/_nav.html`).
    csrf: String,
    active: &'static str,
}

pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let association_id = staff_of(&user)?;
    let lang = lang_of(q.lang.as_deref(), &headers, Some(&user));
    let counts = reports::incidents_of_association(&state.db, association_id).await?;
    // Reports are filed on an event's key; older ones may sit on another incident of it.
    let now = meoktong_storage::now_ms();
    let mut events: Vec<(Event, i64)> = Vec::new();
    for (id, n) in counts {
        if let Some(e) = events.iter_mut().find(|(e, _)| e.ids().contains(&id)) {
            e.1 += n;
            continue;
        }
        if let Some(e) = Event::of(&state, id, now).await? {
            events.push((e, n));
        }
    }
    let all_ids: Vec<i64> = events.iter().flat_map(|(e, _)| e.ids()).collect();
    let names = Names::load(&state, &all_ids, lang).await?;
    events.sort_by_key(|(e, _)| std::cmp::Reverse(e.key().started_at));
    let rows = events
        .into_iter()
        .map(|(e, reports)| {
            let mut services: Vec<String> = Vec::new();
            for i in &e.incidents {
                let n = names.dependency_of(i);
                if !services.contains(&n) {
                    services.push(n);
                }
            }
            IncidentRow {
                id: e.key().id,
                name: format!(
                    "{} · {}",
                    services.join(" · "),
                    names.time(e.key().started_at)
                ),
                reports,
            }
        })
        .collect();
    let title = lang
        .t("장애별 피해 합계", "Damage totals per outage")
        .into();
    render(
        StatusCode::OK,
        &ListPage {
            lang: lang.code(),
            l: lang,
            title,
            rows,
            csrf: user.csrf.clone(),
            active: "incidents",
        },
        None,
    )
}

#[derive(Template)]
#[template(path = "reports/totals.html")]
struct TotalsPage {
    lang: &'static str,
    l: Lang,
    title: String,
    id: i64,
    s: Summary,
    sections: Vec<Section>,
    width: u32,
    csrf: String,
    active: &'static str,
}

pub async fn totals_page(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let association_id = staff_of(&user)?;
    let lang = lang_of(q.lang.as_deref(), &headers, Some(&user));
    let t = load(&state, association_id, id, lang).await?;
    let s = summary(&t);
    let title = format!(
        "{} · {}",
        s.dependency,
        lang.t("피해 합계", "damage totals")
    );
    let page = TotalsPage {
        lang: lang.code(),
        l: lang,
        title,
        id,
        sections: sections(&t),
        s,
        width: totals::CHART_WIDTH,
        csrf: user.csrf.clone(),
        active: "incidents",
    };
    render(StatusCode::OK, &page, None)
}

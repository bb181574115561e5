//! `GET /dashboard`: each subscribed dependency's state (colour, icon and words), since
//! when, and a latency sparkline while it answers; during an outage, a link to the open
//! alert page and its playbook for each dependency that is down, and a plain word when the
//! store's own internet (its heartbeat) is down; warnings about unverified or dependent
//! contacts.
use super::{Dash, Shell, warnings, with_shell};
use crate::AppState;
use crate::error::WebError;
use crate::i18n::Lang;
use crate::views::alert_links;
use crate::views::catalog_words::{Call, calls_for_category};
use crate::views::sparkline;
use crate::views::{dep_name, since_words, state_words};
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use meoktong_domain::Category;
use meoktong_domain::message::NoticeKind;
use meoktong_storage::contact_book::ContactView;
use meoktong_storage::{contact_book, contacts, dashboard, now_ms, outbox};

pub struct DepCard {
    pub slug: String,
    pub name: String,
    /// The dependency's public status page.
    pub href: String,
    pub state: String,
    pub state_label: &'static str,
    pub icon: &'static str,
    /// `06:09부터 정상`.
    pub since: String,
    pub spark: Option<String>,
    pub latency: String,
    /// While down or slow: the open alert's page, when the merchant was told.
    pub alert_href: Option<String>,
    /// What to do: the alert page's playbook, else the merchant's playbook of its category.
    pub playbook_href: String,
}

/// The store's own internet, when a heartbeat monitor says it is down.
pub struct StoreOffline {
    pub since: String,
    pub alert_href: Option<String>,
    /// The internet providers' customer centres.
    pub calls: Vec<Call>,
}

#[derive(Template)]
#[template(path = "dashboard/overview.html")]
struct OverviewPage {
    shell: Shell,
    business: String,
    deps: Vec<DepCard>,
    warnings: Vec<String>,
    store_offline: Option<StoreOffline>,
}
with_shell!(OverviewPage);

pub async fn page(State(state): State<AppState>, dash: Dash) -> Result<Response, WebError> {
    let l = dash.ctx.lang;
    let m = dash.merchant_id;
    let now = now_ms();
    // Independent reads, each on its own pooled connection.
    let (merchant, subs, all, contact_list, monitors) = tokio::try_join!(
        contacts::merchant(&state.db, m),
        dashboard::subscriptions_of(&state.db, m),
        crate::cache::overview(&state, now),
        contact_book::list(&state.db, &state.crypto, m),
        dashboard::heartbeats_of(&state.db, m),
    )?;
    let business = merchant.map(|m| m.business_name).unwrap_or_default();
    let mine: Vec<_> = all
        .iter()
        .filter(|d| subs.iter().any(|s| s.dependency_id == d.dependency.id))
        .collect();
    let ids: Vec<i64> = mine.iter().map(|d| d.dependency.id).collect();
    let mut series = crate::cache::latency_series(&state, &ids, now).await?;
    let troubled: Vec<i64> = mine
        .iter()
        .filter(|d| d.state == "down" || d.state == "degraded")
        .map(|d| d.dependency.id)
        .collect();
    let alerts = alert_links::open_alerts(&state, m, &troubled, now).await?;
    let deps = mine
        .iter()
        .map(|d| {
            let (state_label, icon) = state_words(l, &d.state);
            let pts = series.remove(&d.dependency.id).unwrap_or_default();
            // A dependency that is down has no response time worth showing: what the
            // probes measured is how fast it failed.
            let answers = d.state == "up" || d.state == "degraded";
            let pts: &[f64] = if answers { &pts } else { &[] };
            let latency = sparkline::mean_ms(pts)
                .map(|v| format!("{v} ms"))
                .unwrap_or_default();
            let alert_href = alerts.get(&d.dependency.id).cloned();
            let category = Category::parse(&d.dependency.category).unwrap_or(Category::Other);
            let playbook_href = match &alert_href {
                Some(h) => format!("{h}#playbook"),
                None => format!("/dashboard/playbooks#p-{}", category.as_str()),
            };
            let label = format!(
                "{} {latency}",
                l.t("최근 응답 시간, 평균", "Recent response time, mean")
            );
            DepCard {
                slug: d.dependency.slug.clone(),
                name: dep_name(l, &d.dependency),
                href: format!("/status/{}", d.dependency.slug),
                state: d.state.clone(),
                state_label,
                icon,
                since: since_words(l, state_label, &dash.ctx.since(d.since, now)),
                spark: sparkline::svg(pts, &label),
                latency,
                alert_href,
                playbook_href,
            }
        })
        .collect();
    let store_offline = store_offline(&state, &dash, &monitors, now).await?;
    let on_platform: Vec<(String, Option<String>)> = mine
        .iter()
        .map(|d| (dep_name(l, &d.dependency), d.dependency.platform.clone()))
        .collect();
    let page = OverviewPage {
        shell: dash.shell(l.t("현황", "Overview"), "overview"),
        business,
        deps,
        warnings: contact_warnings(l, &contact_list, &on_platform),
        store_offline,
    };
    Ok(dash.ctx.ok(page.render()?))
}

/// The store's internet is down when one of its heartbeat monitors is: since the last ping,
/// with the latest store-offline alert's page.
async fn store_offline(
    state: &AppState,
    dash: &Dash,
    monitors: &[meoktong_storage::entity::heartbeat_monitors::Model],
    now: i64,
) -> Result<Option<StoreOffline>, WebError> {
    let Some(down) = monitors.iter().find(|m| m.state == "down") else {
        return Ok(None);
    };
    let recent = outbox::notices_of_merchant(&state.db, dash.merchant_id, 20).await?;
    let alert_href = match recent
        .iter()
        .find(|n| n.kind == NoticeKind::StoreOffline.as_str())
    {
        Some(n) => {
            let sent = outbox::messages_of_notice(&state.db, n.id).await?;
            alert_links::href_of(state, n, &sent, now)
        }
        None => None,
    };
    Ok(Some(StoreOffline {
        since: down
            .last_ping_at
            .map(|at| dash.ctx.since(at, now))
            .unwrap_or_default(),
        alert_href,
        calls: calls_for_category(dash.ctx.lang, &state.catalog_extras, Category::Network, &[]),
    }))
}

/// Unverified channels and fallbacks that share a platform with a subscribed dependency.
pub fn contact_warnings(
    l: Lang,
    list: &[ContactView],
    subscribed: &[(String, Option<String>)],
) -> Vec<String> {
    let mut out = Vec::new();
    if list.iter().any(|c| c.phone.is_some() && !c.phone_verified) {
        out.push(
            l.t(
                "확인하지 않은 휴대폰 번호가 있습니다. 연락처에서 인증번호로 확인해 주세요.",
                "A mobile number is not verified yet: verify it with a code on the contacts page.",
            )
            .to_string(),
        );
    }
    for w in warnings::shared_platforms(list, subscribed) {
        out.push(match l {
            Lang::Ko => format!(
                "예비 연락 수단인 이메일이 모두 {} 메일입니다. {}에 장애가 나면 이메일도 받을 수 없습니다. 다른 곳의 이메일을 추가해 주세요.",
                w.platform,
                w.dependencies.join(", ")
            ),
            Lang::En => format!(
                "Every fallback email is on {}: when {} fails, that email fails with it. Add an email hosted elsewhere.",
                w.platform,
                w.dependencies.join(", ")
            ),
        });
    }
    out
}

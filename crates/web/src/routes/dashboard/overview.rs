//! `GET /dashboard`: each subscribed dependency's state (colour, icon and words), since
//! when, and a latency sparkline; warnings about unverified or dependent contacts.
use super::{Dash, Shell, warnings, with_shell};
use crate::AppState;
use crate::error::WebError;
use crate::i18n::Lang;
use crate::views::sparkline;
use crate::views::{dep_name, state_words};
use askama::Template;
use axum::extract::State;
use axum::response::Response;
use meoktong_storage::contact_book::ContactView;
use meoktong_storage::{contact_book, contacts, dashboard, now_ms};

pub struct DepCard {
    pub slug: String,
    pub name: String,
    pub state: String,
    pub state_label: &'static str,
    pub icon: &'static str,
    pub since: String,
    pub spark: Option<String>,
    pub latency: String,
}

#[derive(Template)]
#[template(path = "dashboard/overview.html")]
struct OverviewPage {
    shell: Shell,
    business: String,
    deps: Vec<DepCard>,
    warnings: Vec<String>,
}
with_shell!(OverviewPage);

pub async fn page(State(state): State<AppState>, dash: Dash) -> Result<Response, WebError> {
    let l = dash.ctx.lang;
    let m = dash.merchant_id;
    let now = now_ms();
    // Independent reads, each on its own pooled connection.
    let (merchant, subs, all, contact_list) = tokio::try_join!(
        contacts::merchant(&state.db, m),
        dashboard::subscriptions_of(&state.db, m),
        crate::cache::overview(&state, now),
        contact_book::list(&state.db, &state.crypto, m),
    )?;
    let business = merchant.map(|m| m.business_name).unwrap_or_default();
    let mine: Vec<_> = all
        .iter()
        .filter(|d| subs.iter().any(|s| s.dependency_id == d.dependency.id))
        .collect();
    let ids: Vec<i64> = mine.iter().map(|d| d.dependency.id).collect();
    let mut series = crate::cache::latency_series(&state, &ids, now).await?;
    let deps = mine
        .iter()
        .map(|d| {
            let (state_label, icon) = state_words(l, &d.state);
            let pts = series.remove(&d.dependency.id).unwrap_or_default();
            let latency = sparkline::mean_ms(&pts)
                .map(|v| format!("{v} ms"))
                .unwrap_or_default();
            let label = format!(
                "{} {latency}",
                l.t("최근 응답 시간, 평균", "Recent response time, mean")
            );
            DepCard {
                slug: d.dependency.slug.clone(),
                name: dep_name(l, &d.dependency),
                state: d.state.clone(),
                state_label,
                icon,
                since: dash.ctx.time(d.since),
                spark: sparkline::svg(&pts, &label),
                latency,
            }
        })
        .collect();
    let on_platform: Vec<(String, Option<String>)> = mine
        .iter()
        .map(|d| (dep_name(l, &d.dependency), d.dependency.platform.clone()))
        .collect();
    let page = OverviewPage {
        shell: dash.shell(l.t("현황", "Overview"), "overview"),
        business,
        deps,
        warnings: contact_warnings(l, &contact_list, &on_platform),
    };
    Ok(dash.ctx.ok(page.render()?))
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

//! `/dashboard/catalog`: choose the dependencies the shop relies on, grouped by category,
//! each with a plain line on what it covers (how it is checked folded under "기술 정보") and
//! its customer centre; "degraded" alerts are opt-in per dependency.
use super::{Dash, Shell, with_shell};
use crate::AppState;
use crate::error::WebError;
use crate::services::merchant;
use crate::views::catalog_words::{self, Call};
use crate::views::{dep_name, locale, state_words};
use askama::Template;
use axum::extract::{Form, State};
use axum::response::Response;
use meoktong_domain::Category;
use meoktong_domain::message::category_label;
use meoktong_storage::{dashboard, status};

pub struct Item {
    pub slug: String,
    pub name: String,
    pub description: String,
    pub technical: &'static str,
    pub call: Option<Call>,
    pub subscribed: bool,
    pub degraded: bool,
    pub state: String,
    pub state_label: &'static str,
    pub icon: &'static str,
}

pub struct Group {
    pub label: &'static str,
    pub items: Vec<Item>,
}

#[derive(Template)]
#[template(path = "dashboard/catalog.html")]
struct CatalogPage {
    shell: Shell,
    groups: Vec<Group>,
}
with_shell!(CatalogPage);

pub async fn page(State(state): State<AppState>, dash: Dash) -> Result<Response, WebError> {
    let l = dash.ctx.lang;
    let subs = dashboard::subscriptions_of(&state.db, dash.merchant_id).await?;
    let deps = status::overview(&state.db).await?;
    let x = &state.catalog_extras;
    let groups = Category::ALL
        .iter()
        .map(|cat| Group {
            label: category_label(*cat, locale(l)),
            items: deps
                .iter()
                .filter(|d| {
                    Category::parse(&d.dependency.category).unwrap_or(Category::Other) == *cat
                })
                .map(|d| {
                    let sub = subs.iter().find(|s| s.dependency_id == d.dependency.id);
                    let (state_label, icon) = state_words(l, &d.state);
                    Item {
                        slug: d.dependency.slug.clone(),
                        name: dep_name(l, &d.dependency),
                        description: catalog_words::description(l, x, &d.dependency),
                        technical: catalog_words::technical(l, x, &d.dependency),
                        call: catalog_words::call_for(l, x, &d.dependency),
                        subscribed: sub.is_some(),
                        degraded: sub.is_some_and(|s| s.notify_degraded),
                        state: d.state.clone(),
                        state_label,
                        icon,
                    }
                })
                .collect(),
        })
        .filter(|g: &Group| !g.items.is_empty())
        .collect();
    let page = CatalogPage {
        shell: dash.shell(l.t("서비스 선택", "Choose services"), "catalog"),
        groups,
    };
    Ok(dash.ctx.ok(page.render()?))
}

/// The form posts `dep=<slug>` for each ticked dependency and `degraded=<slug>` for each
/// degraded opt-in.
pub async fn save(
    State(state): State<AppState>,
    dash: Dash,
    Form(form): Form<Vec<(String, String)>>,
) -> Result<Response, WebError> {
    dash.csrf(crate::views::form_value(&form, "csrf"))?;
    let degraded: Vec<&str> = form
        .iter()
        .filter(|(k, _)| k == "degraded")
        .map(|(_, v)| v.as_str())
        .collect();
    let wanted: Vec<(String, bool)> = form
        .iter()
        .filter(|(k, _)| k == "dep")
        .map(|(_, v)| (v.clone(), degraded.contains(&v.as_str())))
        .collect();
    merchant::set_subscriptions(
        &state,
        dash.merchant_id,
        dash.user.user_id,
        &wanted,
        dash.ctx.lang,
    )
    .await?;
    Ok(dash.ctx.redirect("/dashboard?done=saved"))
}

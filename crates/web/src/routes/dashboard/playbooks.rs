//! `/dashboard/playbooks`: what to do when a category of service fails, per category, with
//! sensible Korean defaults. The first line goes into the SMS; the whole text onto the alert
//! page and into the email. Each category lists the customer centres its playbook may have
//! the merchant call (from the catalog), and the page links the printable order sheet.
use super::{Dash, Shell, with_shell};
use crate::AppState;
use crate::error::WebError;
use crate::services::merchant;
use crate::views::catalog_words::{Call, calls_for_category};
use crate::views::locale;
use askama::Template;
use axum::extract::{Form, Path, State};
use axum::response::Response;
use meoktong_domain::Category;
use meoktong_domain::message::{category_label, default_playbook_text};
use meoktong_storage::contacts;
use serde::Deserialize;

pub struct Book {
    pub category: &'static str,
    pub label: &'static str,
    pub text: String,
    pub custom: bool,
    pub calls: Vec<Call>,
}

#[derive(Template)]
#[template(path = "dashboard/playbooks.html")]
struct PlaybooksPage {
    shell: Shell,
    books: Vec<Book>,
}
with_shell!(PlaybooksPage);

pub async fn page(State(state): State<AppState>, dash: Dash) -> Result<Response, WebError> {
    let l = dash.ctx.lang;
    let own = contacts::playbooks(&state.db, dash.merchant_id).await?;
    let catalog = meoktong_storage::catalog::list_dependencies(&state.db).await?;
    let deps: Vec<_> = catalog.iter().filter(|d| d.enabled).collect();
    let books = Category::ALL
        .iter()
        .map(|c| {
            let mine = own.iter().find(|p| p.category == c.as_str());
            Book {
                category: c.as_str(),
                label: category_label(*c, locale(l)),
                text: mine
                    .map(|p| p.text.clone())
                    .unwrap_or_else(|| default_playbook_text(*c, locale(l)).to_string()),
                custom: mine.is_some(),
                calls: calls_for_category(l, &state.catalog_extras, *c, &deps),
            }
        })
        .collect();
    let page = PlaybooksPage {
        shell: dash.shell(l.t("대응 방법", "Playbooks"), "playbooks"),
        books,
    };
    Ok(dash.ctx.ok(page.render()?))
}

#[derive(Debug, Deserialize)]
pub struct BookForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    text: String,
}

pub async fn save(
    State(state): State<AppState>,
    dash: Dash,
    Path(category): Path<String>,
    Form(f): Form<BookForm>,
) -> Result<Response, WebError> {
    dash.csrf(&f.csrf)?;
    merchant::set_playbook(&state, dash.merchant_id, &category, &f.text, dash.ctx.lang).await?;
    Ok(dash
        .ctx
        .redirect(&format!("/dashboard/playbooks?done=saved#p-{category}")))
}

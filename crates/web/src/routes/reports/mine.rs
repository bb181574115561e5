//! `/reports` and `/reports/{id}`: a merchant's own reports and how their review stands.
//! Another merchant's report does not exist here (404).
use super::view::{Names, ReportView};
use super::{LangQuery, lang_of, render, staff_of};
use crate::AppState;
use crate::auth::session::CurrentUser;
use crate::error::WebError;
use crate::i18n::Lang;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Redirect, Response};
use meoktong_storage::reports;

#[derive(Template)]
#[template(path = "reports/mine.html")]
struct MinePage {
    lang: &'static str,
    l: Lang,
    title: String,
    rows: Vec<ReportView>,
}

pub async fn list(
    State(state): State<AppState>,
    user: CurrentUser,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    if staff_of(&user).is_ok() {
        return Ok(Redirect::to("/association/reports").into_response());
    }
    let merchant = user.merchant()?;
    let lang = lang_of(q.lang.as_deref(), &headers, Some(&user));
    let mine = reports::of_merchant(&state.db, &state.crypto, merchant).await?;
    let ids: Vec<i64> = mine.iter().map(|r| r.row.incident_id).collect();
    let names = Names::load(&state, &ids, lang).await?;
    let rows = mine
        .iter()
        .map(|r| ReportView::new(r, &names, &[], None))
        .collect();
    let page = MinePage {
        lang: lang.code(),
        l: lang,
        title: lang.t("내 피해 신고", "My damage reports").into(),
        rows,
    };
    render(StatusCode::OK, &page, None)
}

#[derive(Template)]
#[template(path = "reports/mine_detail.html")]
struct MineDetail {
    lang: &'static str,
    l: Lang,
    title: String,
    d: ReportView,
}

pub async fn detail(
    State(state): State<AppState>,
    user: CurrentUser,
    Path(id): Path<i64>,
    Query(q): Query<LangQuery>,
    headers: HeaderMap,
) -> Result<Response, WebError> {
    let merchant = user.merchant()?;
    let lang = lang_of(q.lang.as_deref(), &headers, Some(&user));
    let rep = reports::one_of_merchant(&state.db, &state.crypto, merchant, id)
        .await?
        .ok_or(WebError::NotFound)?;
    let names = Names::load(&state, &[rep.row.incident_id], lang).await?;
    let files = reports::attachments(&state.db, rep.row.id).await?;
    let d = ReportView::new(&rep, &names, &files, None);
    let page = MineDetail {
        lang: lang.code(),
        l: lang,
        title: format!("{} #{}", lang.t("피해 신고", "Damage report"), d.id),
        d,
    };
    render(StatusCode::OK, &page, None)
}

//! `/dashboard/associations`: the associations a merchant belongs to, and joining one with
//! its invite code (`?code=` pre-fills the form, so an association can hand out a link).
//! A merchant may belong to several; each sees only this merchant's membership, contacts
//! (masked) and the reports filed to it.
use super::{Dash, Shell, with_shell};
use crate::AppState;
use crate::error::WebError;
use askama::Template;
use axum::extract::{Form, Query, State};
use axum::response::Response;
use meoktong_storage::{members, now_ms};
use serde::Deserialize;
use std::collections::HashMap;

#[derive(Template)]
#[template(path = "dashboard/associations.html")]
struct AssociationsPage {
    shell: Shell,
    names: Vec<String>,
    code: String,
    error: String,
}
with_shell!(AssociationsPage);

async fn render(
    state: &AppState,
    dash: Dash,
    code: String,
    error: String,
) -> Result<Response, WebError> {
    let l = dash.ctx.lang;
    let names = members::associations_of(&state.db, dash.merchant_id)
        .await?
        .into_iter()
        .map(|a| a.name)
        .collect();
    let failed = !error.is_empty();
    let page = AssociationsPage {
        shell: dash.shell(l.t("소속 단체", "Associations"), "associations"),
        names,
        code,
        error,
    };
    let html = page.render()?;
    Ok(if failed {
        dash.ctx.invalid(html)
    } else {
        dash.ctx.ok(html)
    })
}

pub async fn page(
    State(state): State<AppState>,
    dash: Dash,
    Query(q): Query<HashMap<String, String>>,
) -> Result<Response, WebError> {
    let code = q.get("code").cloned().unwrap_or_default();
    render(&state, dash, code, String::new()).await
}

#[derive(Debug, Deserialize)]
pub struct JoinForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    code: String,
}

pub async fn join(
    State(state): State<AppState>,
    dash: Dash,
    Form(f): Form<JoinForm>,
) -> Result<Response, WebError> {
    dash.csrf(&f.csrf)?;
    let l = dash.ctx.lang;
    let code = f.code.trim().to_ascii_uppercase();
    if !crate::services::limits::allow_invite_code(dash.merchant_id) {
        return Err(WebError::TooManyRequests(
            l.t(
                "코드를 너무 여러 번 넣었습니다. 한 시간 뒤에 다시 해 주세요.",
                "Too many codes tried. Try again in an hour.",
            )
            .into(),
        ));
    }
    match members::join_by_code(
        &state.db,
        dash.merchant_id,
        dash.user.user_id,
        &code,
        now_ms(),
    )
    .await?
    {
        Some(_) => Ok(dash.ctx.redirect("/dashboard/associations?done=saved")),
        None => {
            let e = l.t(
                "맞는 초대 코드가 없습니다. 단체에서 받은 코드를 다시 확인해 주세요.",
                "No association has that invite code. Check the code you were given.",
            );
            render(&state, dash, f.code, e.into()).await
        }
    }
}

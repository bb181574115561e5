//! `/dashboard/tokens`: API tokens for `/api/v1` (`Authorization: Bearer …`). A new token is
//! shown once; only its keyed hash is stored; revoking is immediate.
use super::{Dash, Shell, with_shell};
use crate::AppState;
use crate::auth::session::random_token;
use crate::error::WebError;
use crate::routes::ui::{Errors, Field};
use askama::Template;
use axum::extract::{Form, Path, State};
use axum::response::Response;
use meoktong_storage::{accounts, now_ms, sessions};
use serde::Deserialize;

pub struct TokenRow {
    pub id: i64,
    pub name: String,
    pub created: String,
    pub last_used: String,
    pub revoked: bool,
}

#[derive(Template)]
#[template(path = "dashboard/tokens.html")]
struct TokensPage {
    shell: Shell,
    tokens: Vec<TokenRow>,
    fields: Vec<Field>,
    created: String,
    public_url: String,
}
with_shell!(TokensPage);

async fn render(
    state: &AppState,
    dash: Dash,
    errors: Errors,
    created: String,
) -> Result<Response, WebError> {
    let l = dash.ctx.lang;
    let tokens = accounts::api_tokens_of(&state.db, dash.user.user_id)
        .await?
        .into_iter()
        .map(|t| TokenRow {
            id: t.id,
            name: t.name,
            created: dash.ctx.time(t.created_at),
            last_used: t
                .last_used_at
                .map(|t| dash.ctx.time(t))
                .unwrap_or_else(|| "-".into()),
            revoked: t.revoked,
        })
        .collect();
    let mut fields = vec![Field::new(
        "name",
        l.t(
            "토큰 이름 (예: 포스 연동)",
            "Token name (e.g. POS integration)",
        ),
        "text",
        "off",
    )];
    errors.apply(&mut fields);
    let invalid = !errors.is_empty();
    let public_url = state
        .settings
        .server
        .public_url
        .trim_end_matches('/')
        .to_string();
    let page = TokensPage {
        shell: dash.shell(l.t("API 토큰", "API tokens"), "tokens"),
        tokens,
        fields,
        created,
        public_url,
    };
    let html = page.render()?;
    Ok(if invalid {
        dash.ctx.invalid(html)
    } else {
        dash.ctx.ok(html)
    })
}

pub async fn page(State(state): State<AppState>, dash: Dash) -> Result<Response, WebError> {
    render(&state, dash, Errors::default(), String::new()).await
}

#[derive(Debug, Deserialize)]
pub struct TokenForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
}

pub async fn create(
    State(state): State<AppState>,
    dash: Dash,
    Form(f): Form<TokenForm>,
) -> Result<Response, WebError> {
    dash.csrf(&f.csrf)?;
    let mut errors = Errors::default();
    let name = crate::routes::account::validate::short_text(
        &mut errors,
        "name",
        &f.name,
        60,
        dash.ctx.lang,
    );
    if !errors.is_empty() {
        return render(&state, dash, errors, String::new()).await;
    }
    let token = format!("mt_{}", random_token(32));
    sessions::create_api_token(
        &state.db,
        &state.crypto,
        dash.user.user_id,
        &name,
        &token,
        "api",
        now_ms(),
    )
    .await?;
    render(&state, dash, Errors::default(), token).await
}

pub async fn revoke(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<i64>,
    Form(f): Form<TokenForm>,
) -> Result<Response, WebError> {
    dash.csrf(&f.csrf)?;
    if !accounts::revoke_api_token(&state.db, dash.user.user_id, id).await? {
        return Err(WebError::NotFound);
    }
    Ok(dash.ctx.redirect("/dashboard/tokens?done=revoked"))
}

//! `/dashboard/tokens`: API tokens for `/api/v1` (`Authorization: Bearer …`), for every role
//! (merchants, association staff, operators each see and revoke their own). A new token is
//! shown once; only its keyed hash is stored; revoking is immediate. Only a signed-in
//! session can list, mint or revoke tokens: a bearer token cannot (403), so a leaked token
//! cannot make itself a successor. A password reset revokes every API token of the user.
use super::{Shell, flash, with_shell};
use crate::AppState;
use crate::auth::session::{CurrentUser, Role, random_token};
use crate::error::WebError;
use crate::views::{Ctx, Errors, Field};
use askama::Template;
use axum::extract::{Form, FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::response::Response;
use std::collections::HashMap;

/// A signed-in user of any role, by session only (a bearer token is refused: 403).
pub struct AnyRole {
    pub user: CurrentUser,
    pub ctx: Ctx,
    done: String,
}

impl FromRequestParts<AppState> for AnyRole {
    type Rejection = WebError;

    async fn from_request_parts(
        parts: &mut Parts,
        state: &AppState,
    ) -> Result<Self, Self::Rejection> {
        let user = CurrentUser::from_request_parts(parts, state).await?;
        if user.via_api_token {
            return Err(WebError::Forbidden);
        }
        let q = Query::<HashMap<String, String>>::try_from_uri(&parts.uri)
            .map(|Query(q)| q)
            .unwrap_or_default();
        let ctx = Ctx::new(state, &q, &parts.headers, Some(&user));
        let done = q.get("done").cloned().unwrap_or_default();
        Ok(AnyRole { user, ctx, done })
    }
}

impl AnyRole {
    fn shell(&self, title: &'static str, active: &'static str) -> Shell {
        let l = self.ctx.lang;
        let (merchant_nav, home) = match self.user.role {
            Role::Merchant => (true, "/dashboard"),
            Role::Association => (false, "/association/reports"),
            Role::Operator => (false, "/operator"),
        };
        Shell {
            lang: l.code(),
            title,
            l,
            csrf: self.user.csrf.clone(),
            active,
            flash: flash(l, &self.done),
            merchant_nav,
            home,
        }
    }

    fn csrf(&self, submitted: &str) -> Result<(), WebError> {
        self.user.check_csrf(Some(submitted))
    }
}
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
    dash: AnyRole,
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

pub async fn page(State(state): State<AppState>, dash: AnyRole) -> Result<Response, WebError> {
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
    dash: AnyRole,
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
    dash: AnyRole,
    Path(id): Path<i64>,
    Form(f): Form<TokenForm>,
) -> Result<Response, WebError> {
    dash.csrf(&f.csrf)?;
    if !accounts::revoke_api_token(&state.db, dash.user.user_id, id).await? {
        return Err(WebError::NotFound);
    }
    Ok(dash.ctx.redirect("/dashboard/tokens?done=revoked"))
}

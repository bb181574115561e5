//! `/dashboard/heartbeats`: store heartbeat monitors. The POS or router pings a secret URL
//! every period; when the pings stop the merchant gets an SMS over the mobile network. The
//! URL is shown once, with a copy-paste curl line; only its keyed hash is stored.
use super::{Dash, Shell, with_shell};
use crate::AppState;
use crate::auth::session::random_token;
use crate::error::WebError;
use crate::views::{Ctx, Errors, Field};
use askama::Template;
use axum::extract::{Form, Path, State};
use axum::response::Response;
use meoktong_storage::{dashboard, now_ms};
use serde::Deserialize;

pub struct Monitor {
    pub id: i64,
    pub name: String,
    pub period: String,
    pub last_ping: String,
    pub state: String,
    pub state_label: &'static str,
}

#[derive(Template)]
#[template(path = "dashboard/heartbeats.html")]
struct MonitorsPage {
    shell: Shell,
    monitors: Vec<Monitor>,
    fields: Vec<Field>,
    created_url: String,
}
with_shell!(MonitorsPage);

fn state_label(ctx: &Ctx, s: &str) -> &'static str {
    match s {
        "up" => ctx.t("✓ 정상", "✓ online"),
        "down" => ctx.t("✕ 끊김", "✕ offline"),
        _ => ctx.t("? 아직 신호 없음", "? no ping yet"),
    }
}

async fn render(
    state: &AppState,
    dash: Dash,
    form: &CreateForm,
    errors: Errors,
    created_url: String,
) -> Result<Response, WebError> {
    let l = dash.ctx.lang;
    let monitors = dashboard::heartbeats_of(&state.db, dash.merchant_id)
        .await?
        .into_iter()
        .map(|m| Monitor {
            id: m.id,
            name: m.name,
            period: crate::views::duration_words(l, m.period_ms),
            last_ping: m
                .last_ping_at
                .map(|t| dash.ctx.time(t))
                .unwrap_or_else(|| "-".into()),
            state_label: state_label(&dash.ctx, &m.state),
            state: m.state,
        })
        .collect();
    let mut fields = vec![
        Field::new(
            "name",
            l.t("이름 (예: 계산대 포스)", "Name (e.g. counter POS)"),
            "text",
            "off",
        )
        .value(&form.name),
        Field::new(
            "period_minutes",
            l.t("신호 주기 (분)", "Ping every (minutes)"),
            "number",
            "off",
        )
        .value(if form.period_minutes.is_empty() {
            "1"
        } else {
            &form.period_minutes
        }),
    ];
    errors.apply(&mut fields);
    let invalid = !errors.is_empty();
    let page = MonitorsPage {
        shell: dash.shell(l.t("매장 인터넷 감시", "Store heartbeat"), "heartbeats"),
        monitors,
        fields,
        created_url,
    };
    let html = page.render()?;
    Ok(if invalid {
        dash.ctx.invalid(html)
    } else {
        dash.ctx.ok(html)
    })
}

pub async fn page(State(state): State<AppState>, dash: Dash) -> Result<Response, WebError> {
    render(
        &state,
        dash,
        &CreateForm::default(),
        Errors::default(),
        String::new(),
    )
    .await
}

#[derive(Debug, Default, Deserialize)]
pub struct CreateForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    name: String,
    #[serde(default)]
    period_minutes: String,
}

pub async fn create(
    State(state): State<AppState>,
    dash: Dash,
    Form(f): Form<CreateForm>,
) -> Result<Response, WebError> {
    dash.csrf(&f.csrf)?;
    let l = dash.ctx.lang;
    let mut errors = Errors::default();
    let name = crate::routes::account::validate::short_text(&mut errors, "name", &f.name, 60, l);
    let minutes = f
        .period_minutes
        .trim()
        .parse::<i64>()
        .ok()
        .filter(|m| (1..=60).contains(m));
    if minutes.is_none() {
        errors.add(
            "period_minutes",
            l.t("1에서 60 사이의 분을 적어 주세요.", "Give 1 to 60 minutes."),
        );
    }
    let Some(minutes) = minutes.filter(|_| errors.is_empty()) else {
        return render(&state, dash, &f, errors, String::new()).await;
    };
    let token = random_token(24);
    let period_ms = minutes * 60_000;
    dashboard::create_heartbeat(
        &state.db,
        dash.merchant_id,
        &name,
        &state.crypto.hash(&token),
        period_ms,
        period_ms * 2,
        now_ms(),
    )
    .await?;
    let url = format!(
        "{}/hb/{token}",
        state.settings.server.public_url.trim_end_matches('/')
    );
    render(&state, dash, &CreateForm::default(), Errors::default(), url).await
}

#[derive(Debug, Deserialize)]
pub struct RemoveForm {
    #[serde(default)]
    csrf: String,
}

pub async fn remove(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<i64>,
    Form(f): Form<RemoveForm>,
) -> Result<Response, WebError> {
    dash.csrf(&f.csrf)?;
    if !dashboard::delete_heartbeat(&state.db, dash.merchant_id, id).await? {
        return Err(WebError::NotFound);
    }
    Ok(dash.ctx.redirect("/dashboard/heartbeats?done=removed"))
}

//! `/dashboard/contacts`: contacts in the order they are tried; each mobile number verified
//! by an SMS code and each email by a link; a test alert per contact; the webhook
//! (`super::webhook`).
use super::{Dash, Shell, with_shell};
use crate::AppState;
use crate::error::WebError;
use crate::services::merchant;
use crate::views::{Errors, Field, dep_name};
use askama::Template;
use axum::extract::{Form, Path, State};
use axum::response::Response;
use meoktong_storage::{contact_book, dashboard, now_ms, status};
use serde::Deserialize;

pub struct Row {
    pub id: i64,
    pub number: i32,
    pub label: String,
    pub phone: String,
    pub email: String,
    pub phone_verified: bool,
    pub email_verified: bool,
    pub opted_out: bool,
    /// Alert calls (`[voice]`) on for this contact.
    pub voice_enabled: bool,
    pub code_error: String,
    pub first: bool,
    pub last: bool,
}

#[derive(Template)]
#[template(path = "dashboard/contacts.html")]
struct ContactsPage {
    shell: Shell,
    rows: Vec<Row>,
    warnings: Vec<String>,
    fields: Vec<Field>,
    form_error: String,
    webhook: super::webhook::Section,
}
with_shell!(ContactsPage);

#[derive(Debug, Default, Deserialize)]
pub struct AddForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    label: String,
    #[serde(default)]
    phone: String,
    #[serde(default)]
    email: String,
}

/// What to show besides the list: the add form's values and messages, a wrong code, the
/// webhook form's outcome.
#[derive(Default)]
pub(super) struct Problems {
    add: AddForm,
    add_errors: Errors,
    code: Option<(i64, String)>,
    form_error: String,
    pub(super) webhook: super::webhook::Shown,
}

pub(super) async fn render(
    state: &AppState,
    dash: Dash,
    p: Problems,
) -> Result<Response, WebError> {
    let l = dash.ctx.lang;
    let list = contact_book::list(&state.db, &state.crypto, dash.merchant_id).await?;
    let subs = dashboard::subscriptions_of(&state.db, dash.merchant_id).await?;
    let deps = status::overview(&state.db).await?;
    let subscribed: Vec<(String, Option<String>)> = deps
        .iter()
        .filter(|d| subs.iter().any(|s| s.dependency_id == d.dependency.id))
        .map(|d| (dep_name(l, &d.dependency), d.dependency.platform.clone()))
        .collect();
    let warnings = super::overview::contact_warnings(l, &list, &subscribed);
    let n = list.len();
    let rows = list
        .into_iter()
        .enumerate()
        .map(|(i, c)| Row {
            id: c.id,
            number: c.position + 1,
            label: c.label.unwrap_or_default(),
            phone: c
                .phone
                .as_deref()
                .map(crate::views::display_phone)
                .unwrap_or_default(),
            email: c.email.unwrap_or_default(),
            phone_verified: c.phone_verified,
            email_verified: c.email_verified,
            opted_out: c.sms_opted_out,
            voice_enabled: c.voice_enabled,
            code_error: p
                .code
                .as_ref()
                .filter(|(id, _)| *id == c.id)
                .map(|(_, m)| m.clone())
                .unwrap_or_default(),
            first: i == 0,
            last: i + 1 == n,
        })
        .collect();
    let mut fields = vec![
        Field::new(
            "label",
            l.t("이름 (예: 직원 김민수)", "Name (e.g. manager Kim)"),
            "text",
            "name",
        )
        .value(&p.add.label),
        Field::new("phone", l.t("휴대폰 번호", "Mobile number"), "tel", "tel").value(&p.add.phone),
        Field::new("email", l.t("이메일", "Email"), "email", "email").value(&p.add.email),
    ];
    p.add_errors.apply(&mut fields);
    let invalid = !p.add_errors.is_empty()
        || p.code.is_some()
        || !p.form_error.is_empty()
        || !p.webhook.error.is_empty();
    let webhook = super::webhook::section(state, dash.merchant_id, p.webhook).await?;
    let page = ContactsPage {
        shell: dash.shell(l.t("연락처", "Contacts"), "contacts"),
        rows,
        warnings,
        fields,
        form_error: p.form_error,
        webhook,
    };
    let html = page.render()?;
    Ok(if invalid {
        dash.ctx.invalid(html)
    } else {
        dash.ctx.ok(html)
    })
}

pub async fn page(State(state): State<AppState>, dash: Dash) -> Result<Response, WebError> {
    render(&state, dash, Problems::default()).await
}

pub async fn add(
    State(state): State<AppState>,
    dash: Dash,
    Form(f): Form<AddForm>,
) -> Result<Response, WebError> {
    dash.csrf(&f.csrf)?;
    let domains = &state.settings.channels.platform_domains;
    match merchant::parse_contact(&f.label, &f.phone, &f.email, dash.ctx.lang, domains) {
        Ok(c) => {
            merchant::add_contact(&state, dash.merchant_id, dash.user.user_id, &c).await?;
            Ok(dash.ctx.redirect("/dashboard/contacts?done=added"))
        }
        Err(add_errors) => {
            render(
                &state,
                dash,
                Problems {
                    add: f,
                    add_errors,
                    ..Problems::default()
                },
            )
            .await
        }
    }
}

#[derive(Debug, Deserialize)]
pub struct ActionForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    dir: String,
    /// `on` or `off` (the call toggle).
    #[serde(default)]
    voice: String,
    #[serde(default)]
    code: String,
}

pub async fn remove(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<i64>,
    Form(f): Form<ActionForm>,
) -> Result<Response, WebError> {
    dash.csrf(&f.csrf)?;
    let c = merchant::contact(&state, dash.merchant_id, id).await?;
    if contact_book::list(&state.db, &state.crypto, dash.merchant_id)
        .await?
        .len()
        <= 1
    {
        let form_error = dash
            .ctx
            .t(
                "마지막 연락처는 지울 수 없습니다. 다른 연락처를 먼저 추가하세요.",
                "The last contact cannot be removed; add another first.",
            )
            .to_string();
        return render(
            &state,
            dash,
            Problems {
                form_error,
                ..Problems::default()
            },
        )
        .await;
    }
    contact_book::remove(
        &state.db,
        dash.merchant_id,
        c.id,
        dash.user.user_id,
        now_ms(),
    )
    .await?;
    Ok(dash.ctx.redirect("/dashboard/contacts?done=removed"))
}

/// `POST /dashboard/contacts/{id}/voice`: alert calls to the contact on or off.
pub async fn voice(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<i64>,
    Form(f): Form<ActionForm>,
) -> Result<Response, WebError> {
    dash.csrf(&f.csrf)?;
    if !contact_book::set_voice_enabled(
        &state.db,
        dash.merchant_id,
        id,
        f.voice == "on",
        dash.user.user_id,
        now_ms(),
    )
    .await?
    {
        return Err(WebError::NotFound);
    }
    Ok(dash.ctx.redirect("/dashboard/contacts?done=saved"))
}

pub async fn reorder(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<i64>,
    Form(f): Form<ActionForm>,
) -> Result<Response, WebError> {
    dash.csrf(&f.csrf)?;
    let delta = if f.dir == "up" { -1 } else { 1 };
    if !contact_book::move_by(
        &state.db,
        dash.merchant_id,
        id,
        delta,
        dash.user.user_id,
        now_ms(),
    )
    .await?
    {
        return Err(WebError::NotFound);
    }
    Ok(dash.ctx.redirect("/dashboard/contacts?done=saved"))
}

pub async fn send_code(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<i64>,
    Form(f): Form<ActionForm>,
) -> Result<Response, WebError> {
    dash.csrf(&f.csrf)?;
    let c = merchant::contact(&state, dash.merchant_id, id).await?;
    merchant::send_sms_code(&state, dash.merchant_id, &c, dash.ctx.lang).await?;
    Ok(dash
        .ctx
        .redirect(&format!("/dashboard/contacts?done=code-sent#c{id}")))
}

pub async fn verify_phone(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<i64>,
    Form(f): Form<ActionForm>,
) -> Result<Response, WebError> {
    dash.csrf(&f.csrf)?;
    let c = merchant::contact(&state, dash.merchant_id, id).await?;
    match merchant::verify_sms_code(&state, dash.merchant_id, &c, &f.code, dash.ctx.lang).await {
        Ok(()) => Ok(dash
            .ctx
            .redirect(&format!("/dashboard/contacts?done=verified#c{id}"))),
        Err(WebError::Validation { message, .. }) => {
            render(
                &state,
                dash,
                Problems {
                    code: Some((id, message)),
                    ..Problems::default()
                },
            )
            .await
        }
        Err(e) => Err(e),
    }
}

pub async fn send_email_link(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<i64>,
    Form(f): Form<ActionForm>,
) -> Result<Response, WebError> {
    dash.csrf(&f.csrf)?;
    let c = merchant::contact(&state, dash.merchant_id, id).await?;
    merchant::send_email_link(&state, dash.merchant_id, &c, dash.ctx.lang).await?;
    Ok(dash
        .ctx
        .redirect(&format!("/dashboard/contacts?done=link-sent#c{id}")))
}

pub async fn test_alert(
    State(state): State<AppState>,
    dash: Dash,
    Path(id): Path<i64>,
    Form(f): Form<ActionForm>,
) -> Result<Response, WebError> {
    dash.csrf(&f.csrf)?;
    let c = merchant::contact(&state, dash.merchant_id, id).await?;
    merchant::send_test_alert(&state, dash.merchant_id, Some(c.id), dash.ctx.lang).await?;
    Ok(dash.ctx.redirect("/dashboard/contacts?done=test-sent"))
}

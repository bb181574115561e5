//! `/dashboard/business`: region, trade and 사업자등록번호, asked once and pre-filled into every
//! damage report (`reports::prefill`).
use super::{Dash, Shell, with_shell};
use crate::AppState;
use crate::error::WebError;
use crate::routes::reports::choices::{self, SIDO, TRADES, match_trade, split_region};
use crate::routes::reports::form::Opt;
use crate::routes::reports::validate::{self, MAX_SIGUNGU, Problem};
use askama::Template;
use axum::extract::{Form, State};
use axum::response::Response;
use meoktong_storage::{contacts, merchants, now_ms};
use serde::Deserialize;

#[derive(Template)]
#[template(path = "dashboard/business.html")]
struct BusinessPage {
    shell: Shell,
    sido: Vec<Opt>,
    sigungu: String,
    trades: Vec<Opt>,
    brn: String,
    errors: Vec<(&'static str, String)>,
}
with_shell!(BusinessPage);

impl BusinessPage {
    pub fn err(&self, field: &str) -> &str {
        self.errors
            .iter()
            .find(|(f, _)| *f == field)
            .map(|(_, m)| m.as_str())
            .unwrap_or("")
    }
}

fn opts(list: &[choices::Choice], chosen: &str, dash: &Dash) -> Vec<Opt> {
    list.iter()
        .map(|c| Opt {
            value: c.code.to_string(),
            label: c.label(dash.ctx.lang).to_string(),
            selected: c.code == chosen,
        })
        .collect()
}

fn page(dash: &Dash, f: &BusinessForm, errors: Vec<(&'static str, String)>) -> BusinessPage {
    BusinessPage {
        shell: dash.shell(dash.ctx.lang.t("사업장 정보", "Your business"), "business"),
        sido: opts(&SIDO, &f.region_sido, dash),
        sigungu: f.region_sigungu.clone(),
        trades: opts(&TRADES, &f.trade, dash),
        brn: f.brn.clone(),
        errors,
    }
}

pub async fn show(State(state): State<AppState>, dash: Dash) -> Result<Response, WebError> {
    let mut f = BusinessForm::default();
    if let Some(m) = contacts::merchant(&state.db, dash.merchant_id).await? {
        let (sido, rest) = split_region(m.region.as_deref().unwrap_or_default());
        f.region_sido = sido.unwrap_or_default().to_string();
        f.region_sigungu = rest;
        f.trade = m
            .trade
            .as_deref()
            .and_then(match_trade)
            .unwrap_or_default()
            .to_string();
        if let Some(enc) = &m.brn_enc {
            f.brn = state.crypto.decrypt(enc).map_err(WebError::Unexpected)?;
        }
    }
    let body = page(&dash, &f, Vec::new()).render()?;
    Ok(dash.ctx.ok(body))
}

#[derive(Debug, Default, Deserialize)]
pub struct BusinessForm {
    #[serde(default)]
    csrf: String,
    #[serde(default)]
    region_sido: String,
    #[serde(default)]
    region_sigungu: String,
    #[serde(default)]
    trade: String,
    #[serde(default)]
    brn: String,
}

pub async fn save(
    State(state): State<AppState>,
    dash: Dash,
    Form(f): Form<BusinessForm>,
) -> Result<Response, WebError> {
    dash.csrf(&f.csrf)?;
    let lang = dash.ctx.lang;
    let mut errors = Vec::new();
    let mut check = |field: &'static str, r: Result<String, Problem>| {
        r.map_err(|p| errors.push((field, p.message(lang)))).ok()
    };
    let sido = check(
        "region_sido",
        validate::one_of(&f.region_sido, SIDO.iter().map(|c| c.code)),
    );
    let sigungu = check(
        "region_sigungu",
        validate::text(&f.region_sigungu, MAX_SIGUNGU, false),
    );
    let trade = check(
        "trade",
        validate::one_of(&f.trade, TRADES.iter().map(|c| c.code)),
    );
    // The number is optional here; given, it must be a real one.
    let brn = if f.brn.trim().is_empty() {
        Some(String::new())
    } else {
        check("brn", validate::brn(&f.brn))
    };
    let (Some(sido), Some(sigungu), Some(trade), Some(brn)) = (sido, sigungu, trade, brn) else {
        let body = page(&dash, &f, errors).render()?;
        return Ok(dash.ctx.invalid(body));
    };
    let region = format!("{sido} {sigungu}").trim().to_string();
    let trade_ko = TRADES
        .iter()
        .find(|c| c.code == trade)
        .map(|c| c.ko)
        .unwrap_or_default();
    merchants::set_business(
        &state.db,
        &state.crypto,
        dash.merchant_id,
        &region,
        trade_ko,
        Some(brn.as_str()).filter(|b| !b.is_empty()),
        now_ms(),
    )
    .await?;
    Ok(dash.ctx.redirect("/dashboard/business?done=saved"))
}

//! The manual order sheet (수기 주문서): one A4 page to write phone and walk-in orders on by
//! hand while ordering or payment services are down — the store's name and the date at the
//! top, then numbered rows with time, customer contact, order, amount and how it was paid.
//! Printed from the alert page (`/a/{token}/order-sheet`, the link's token is the key) and
//! from the dashboard (`/dashboard/order-sheet`, signed in).
use crate::AppState;
use crate::error::WebError;
use crate::i18n::Lang;
use crate::routes::alert;
use crate::routes::dashboard::Dash;
use askama::Template;
use axum::extract::{Path, Query, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{Html, Response};
use chrono::TimeZone;
use meoktong_storage::{contacts, now_ms};
use std::collections::HashMap;

/// Rows on the sheet: as many as fit one A4 page with the heading (see the print CSS).
pub const ROWS: usize = 18;

#[derive(Template)]
#[template(path = "orders/sheet.html")]
struct SheetPage {
    lang: &'static str,
    title: &'static str,
    l: Lang,
    business: String,
    date: String,
    rows: Vec<usize>,
    back_href: String,
}

/// Today's date as the sheet prints it: `2026년 12월 8일 (화)` / `Tue 8 Dec 2026`.
fn today(l: Lang, tz: chrono_tz::Tz, now: i64) -> String {
    let Some(t) = tz.timestamp_millis_opt(now).single() else {
        return String::new();
    };
    match l {
        Lang::Ko => {
            const DAYS: [&str; 7] = ["월", "화", "수", "목", "금", "토", "일"];
            let day = DAYS[chrono::Datelike::weekday(&t).num_days_from_monday() as usize];
            format!("{} ({day})", t.format("%Y년 %-m월 %-d일"))
        }
        Lang::En => t.format("%a %-d %b %Y").to_string(),
    }
}

fn render(l: Lang, business: String, date: String, back_href: String) -> Result<String, WebError> {
    Ok(SheetPage {
        lang: l.code(),
        title: l.t("수기 주문서", "Manual order sheet"),
        l,
        business,
        date,
        rows: (1..=ROWS).collect(),
        back_href,
    }
    .render()?)
}

/// `GET /dashboard/order-sheet`.
pub async fn for_merchant(State(state): State<AppState>, dash: Dash) -> Result<Response, WebError> {
    let l = dash.ctx.lang;
    let business = contacts::merchant(&state.db, dash.merchant_id)
        .await?
        .map(|m| m.business_name)
        .unwrap_or_default();
    let html = render(
        l,
        business,
        today(l, dash.ctx.tz, now_ms()),
        "/dashboard".into(),
    )?;
    Ok(dash.ctx.ok(html))
}

/// `GET /a/{token}/order-sheet`: the same sheet for the alert's merchant (no login).
pub async fn for_alert(
    State(state): State<AppState>,
    Path(token): Path<String>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Response {
    let asked = q.get("lang").map(String::as_str);
    let now = now_ms();
    let notice = match alert::find_notice(&state, &token, now).await {
        Ok(Some(n)) => n,
        Ok(None) => return alert::not_found(Lang::negotiate(asked, &headers)),
        Err(e) => return alert::private_error(e),
    };
    let merchant = match contacts::merchant(&state.db, notice.merchant_id).await {
        Ok(Some(m)) => m,
        Ok(None) => return alert::not_found(Lang::negotiate(asked, &headers)),
        Err(e) => return alert::private_error(e.into()),
    };
    let l = alert::page_lang(asked, merchant.locale.as_deref(), &headers);
    let tz = meoktong_notify::compose::zone_of(&merchant, crate::views::service_tz(&state));
    let back = format!("/a/{}", alert::encode_segment(&token));
    match render(l, merchant.business_name, today(l, tz, now), back) {
        Ok(html) => alert::private(StatusCode::OK, Html(html)),
        Err(e) => alert::private_error(e),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_date_reads_as_people_write_it() {
        // 2026-12-08 01:00 UTC is 10:00 on Tuesday in Seoul.
        let now = 1_796_691_600_000;
        assert_eq!(
            today(Lang::Ko, chrono_tz::Asia::Seoul, now),
            "2026년 12월 8일 (화)"
        );
        assert_eq!(
            today(Lang::En, chrono_tz::Asia::Seoul, now),
            "Tue 8 Dec 2026"
        );
    }
}

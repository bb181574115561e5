//! `/dev/outbox`: every message the `log` providers "sent", newest first (demo only).
use crate::AppState;
use crate::error::WebError;
use crate::i18n::Lang;
use askama::Template;
use axum::extract::{Query, State};
use axum::http::HeaderMap;
use axum::response::Html;
use chrono::TimeZone;
use std::collections::HashMap;

pub struct Row {
    pub at: String,
    pub channel: String,
    pub recipient: String,
    pub subject: String,
    pub body: String,
}

#[derive(Template)]
#[template(path = "dev/outbox.html")]
struct OutboxPage {
    lang: &'static str,
    title: &'static str,
    rows: Vec<Row>,
}

pub async fn outbox(
    State(state): State<AppState>,
    Query(q): Query<HashMap<String, String>>,
    headers: HeaderMap,
) -> Result<Html<String>, WebError> {
    if !state.dev_mode {
        return Err(WebError::NotFound);
    }
    let lang = Lang::negotiate(q.get("lang").map(String::as_str), &headers);
    let tz: chrono_tz::Tz = state
        .settings
        .notify
        .time_zone
        .parse()
        .unwrap_or(chrono_tz::Asia::Seoul);
    let rows = meoktong_storage::dev_outbox::list(&state.db, 500)
        .await?
        .into_iter()
        .map(|m| Row {
            at: tz
                .timestamp_millis_opt(m.at)
                .single()
                .map(|t| t.format("%m-%d %H:%M:%S").to_string())
                .unwrap_or_default(),
            channel: m.channel,
            recipient: m.recipient,
            subject: m.subject.unwrap_or_default(),
            body: m.body,
        })
        .collect();
    let page = OutboxPage {
        lang: lang.code(),
        title: lang.t("보낸 메시지 (개발용)", "Sent messages (dev outbox)"),
        rows,
    };
    Ok(Html(page.render()?))
}

//! Twilio's webhooks for alert calls (`[voice]`): the call's progress and the key pressed.
//! Signature-checked exactly like the SMS hooks ([`super::hooks`]): 403 when wrong.
//!
//! Pressing 1 acknowledges the notice (via `voice`); any other key hears the call again. A
//! call's final status (`completed`, `busy`, `no-answer`, `failed`, `canceled`) is recorded
//! in the history and `/metrics` and never acknowledges: `completed` only means answered.
use super::hooks::{Params, param, verified};
use crate::AppState;
use crate::error::WebError;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, OriginalUri, Query, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use meoktong_domain::duration_text::Locale;
use meoktong_notify::compose::twiml_say;
use meoktong_storage::outbox::Channel;
use meoktong_storage::{now_ms, outbox};
use std::collections::HashMap;

/// Final call states; anything else (`initiated`, `ringing`, `in-progress`) is progress only.
const FINAL: &[&str] = &["completed", "busy", "no-answer", "failed", "canceled"];

/// `POST /hooks/twilio/voice/status`.
pub async fn status(
    State(state): State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
    form: Result<Form<Params>, FormRejection>,
) -> Result<StatusCode, WebError> {
    let params = verified(&state, &uri, &headers, form)?;
    let (Some(sid), Some(call_status)) = (param(&params, "CallSid"), param(&params, "CallStatus"))
    else {
        tracing::warn!("Twilio call status without CallSid or CallStatus; ignored");
        return Ok(StatusCode::OK);
    };
    if !FINAL.contains(&call_status) {
        return Ok(StatusCode::OK);
    }
    match outbox::record_call_status(&state.db, sid, call_status, now_ms()).await? {
        Some(row) => {
            state
                .metrics
                .notifications
                .with_label_values(&[Channel::Voice.as_str(), call_status])
                .inc();
            tracing::info!(
                outbox.id = row.id,
                notice.id = row.notice_id,
                call.status = call_status,
                "alert call ended"
            );
        }
        None => tracing::warn!(call.sid = sid, "status of an unknown call; ignored"),
    }
    Ok(StatusCode::OK)
}

/// `POST /hooks/twilio/voice/gather?notice={id}&lang={ko|en}`: the key pressed during the
/// call. 1 acknowledges; another key hears the call again.
pub async fn gather(
    State(state): State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
    Query(query): Query<HashMap<String, String>>,
    form: Result<Form<Params>, FormRejection>,
) -> Result<Response, WebError> {
    let params = verified(&state, &uri, &headers, form)?;
    let locale = query
        .get("lang")
        .and_then(|l| Locale::parse(l))
        .unwrap_or(Locale::Ko);
    let notice_id = query.get("notice").and_then(|n| n.parse::<i64>().ok());
    let call = match param(&params, "CallSid") {
        Some(sid) => outbox::by_provider_message_id(&state.db, sid)
            .await?
            .filter(|r| r.channel == Channel::Voice.as_str()),
        None => None,
    };
    let digits = param(&params, "Digits").unwrap_or("");
    let Some(notice_id) = notice_id.or(call.as_ref().map(|c| c.notice_id)) else {
        return Ok(twiml(&format!(
            "<Response>{}<Hangup/></Response>",
            bye(locale)
        )));
    };
    if digits == "1" {
        let contact = call.as_ref().and_then(|c| c.contact_id);
        let first = outbox::acknowledge(&state.db, notice_id, "voice", contact, now_ms()).await?;
        state
            .metrics
            .notifications
            .with_label_values(&[Channel::Voice.as_str(), "acknowledged"])
            .inc();
        tracing::info!(notice.id = notice_id, first, "alert acknowledged by phone");
        let said = match locale {
            Locale::Ko => "확인되었습니다. 이 알림은 더 보내지 않습니다.",
            Locale::En => "Acknowledged. No more alerts for this outage will be sent.",
        };
        return Ok(twiml(&format!(
            "<Response>{}<Hangup/></Response>",
            twiml_say(locale, said)
        )));
    }
    // Another key: the call's own TwiML again (it asks for 1 once more).
    match call {
        Some(row) => Ok(twiml(&row.body)),
        None => Ok(twiml(&format!(
            "<Response>{}<Hangup/></Response>",
            bye(locale)
        ))),
    }
}

fn bye(locale: Locale) -> String {
    twiml_say(
        locale,
        match locale {
            Locale::Ko => "통화를 종료합니다.",
            Locale::En => "Goodbye.",
        },
    )
}

fn twiml(body: &str) -> Response {
    let body = if body.starts_with("<?xml") {
        body.to_string()
    } else {
        format!("<?xml version=\"1.0\" encoding=\"UTF-8\"?>{body}")
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "text/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

//! Twilio's webhooks: delivery status callbacks and inbound SMS (acknowledge, STOP, START).
//!
//! Every request must carry a valid `X-Twilio-Signature` made with one of the configured
//! accounts' auth tokens over `{server.public_url}{path}` plus the query string as received
//! (never the Host header, which a client chooses) and the form parameters; otherwise 403.
//!
//! Callbacks arrive late, early, twice or out of order; `meoktong_notify::delivery_status`
//! says how each one moves an outbox row forward only.
use crate::AppState;
use crate::error::WebError;
use axum::extract::rejection::FormRejection;
use axum::extract::{Form, OriginalUri, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use meoktong_domain::mask::mask_phone;
use meoktong_domain::message::NoticeKind;
use meoktong_notify::delivery_status::{self, Applied};
use meoktong_storage::entity::{contacts as contact_entity, notices};
use meoktong_storage::outbox::NoticeStatus;
use meoktong_storage::sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use meoktong_storage::{StorageError, audit, contacts, now_ms, outbox};

/// Form parameters as posted, repeated names kept (they are all signed).
pub(super) type Params = Vec<(String, String)>;

const SIGNATURE_HEADER: &str = "x-twilio-signature";

pub(super) fn param<'a>(params: &'a Params, name: &str) -> Option<&'a str> {
    params
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

/// Whether the request was signed by one of the configured Twilio accounts.
fn signed_by_twilio(
    state: &AppState,
    uri: &OriginalUri,
    headers: &HeaderMap,
    params: &Params,
) -> bool {
    let Some(given) = headers.get(SIGNATURE_HEADER).and_then(|v| v.to_str().ok()) else {
        return false;
    };
    let mut url = format!(
        "{}{}",
        state.settings.server.public_url.trim_end_matches('/'),
        uri.path()
    );
    if let Some(query) = uri.query() {
        url.push('?');
        url.push_str(query);
    }
    state
        .twilio_auth_tokens
        .iter()
        .filter(|t| !t.is_empty())
        .any(|token| meoktong_notify::verify_twilio_signature(token.expose(), &url, params, given))
}

/// The signed form parameters, or 403 when the signature is missing or wrong.
pub(super) fn verified(
    state: &AppState,
    uri: &OriginalUri,
    headers: &HeaderMap,
    form: Result<Form<Params>, FormRejection>,
) -> Result<Params, WebError> {
    let params = form.map(|Form(p)| p).unwrap_or_default();
    if signed_by_twilio(state, uri, headers, &params) {
        Ok(params)
    } else {
        tracing::warn!(
            http.path = uri.path(),
            "Twilio webhook with a missing or wrong signature"
        );
        Err(WebError::Forbidden)
    }
}

/// `POST /hooks/twilio/status`: a message's delivery status.
pub async fn status(
    State(state): State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
    form: Result<Form<Params>, FormRejection>,
) -> Result<StatusCode, WebError> {
    let params = verified(&state, &uri, &headers, form)?;
    let Some(sid) = param(&params, "MessageSid").or_else(|| param(&params, "SmsSid")) else {
        tracing::warn!("Twilio status callback without MessageSid; ignored");
        return Ok(StatusCode::OK);
    };
    let status = param(&params, "MessageStatus")
        .or_else(|| param(&params, "SmsStatus"))
        .unwrap_or("");
    let error_code = param(&params, "ErrorCode").filter(|c| !c.is_empty());
    apply_status(&state, sid, status, error_code).await?;
    Ok(StatusCode::OK)
}

/// Moves the SMS with this sid forward ([`meoktong_notify::delivery_status`]). A sid not
/// recorded yet is kept and applied when its acceptance is committed; either way Twilio gets
/// 200 (it must not retry forever).
async fn apply_status(
    state: &AppState,
    sid: &str,
    status: &str,
    error_code: Option<&str>,
) -> Result<(), StorageError> {
    let applied = delivery_status::apply_sms_status(
        &state.db,
        &state.metrics,
        sid,
        status,
        error_code,
        now_ms(),
    )
    .await?;
    if matches!(applied, Applied::Applied { fallbacks } if fallbacks > 0) {
        state.outbox_changed.notify_waiters();
    }
    Ok(())
}

/// What an inbound SMS asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Command {
    Acknowledge,
    OptOut,
    OptIn,
    Other,
}

fn command(body: &str) -> Command {
    let word = body
        .trim()
        .trim_end_matches(|c: char| c.is_whitespace() || matches!(c, '.' | '!' | '。'))
        .to_uppercase();
    match word.as_str() {
        "1" | "OK" | "확인" => Command::Acknowledge,
        "STOP" | "STOPALL" | "UNSUBSCRIBE" | "CANCEL" | "END" | "QUIT" | "수신거부" => {
            Command::OptOut
        }
        "START" | "YES" | "UNSTOP" => Command::OptIn,
        _ => Command::Other,
    }
}

/// TwiML: `<Response/>`, or one message.
fn twiml(message: Option<&str>) -> Response {
    let body = match message {
        Some(m) => format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Message>{}</Message></Response>",
            m.replace('&', "&amp;")
                .replace('<', "&lt;")
                .replace('>', "&gt;")
        ),
        None => "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response/>".to_string(),
    };
    (
        StatusCode::OK,
        [(header::CONTENT_TYPE, "application/xml; charset=utf-8")],
        body,
    )
        .into_response()
}

/// `POST /hooks/twilio/inbound`: a merchant's reply. Always 200 with TwiML once signed.
pub async fn inbound(
    State(state): State<AppState>,
    uri: OriginalUri,
    headers: HeaderMap,
    form: Result<Form<Params>, FormRejection>,
) -> Result<Response, WebError> {
    let params = verified(&state, &uri, &headers, form)?;
    let from = param(&params, "From").unwrap_or("").trim().to_string();
    let body = param(&params, "Body").unwrap_or("");
    let reply = match handle_inbound(&state, &from, command(body)).await {
        Ok(reply) => reply,
        Err(e) => {
            tracing::error!(error = %e, sms.from = %mask_phone(&from), "inbound SMS could not be handled");
            None
        }
    };
    Ok(twiml(reply))
}

async fn handle_inbound(
    state: &AppState,
    from: &str,
    cmd: Command,
) -> Result<Option<&'static str>, StorageError> {
    let masked = mask_phone(from);
    if from.is_empty() || cmd == Command::Other {
        return Ok(None);
    }
    let now = now_ms();
    let (db, crypto) = (&state.db, &state.crypto);
    let known = contacts::by_phone(db, crypto, from).await?;
    if known.is_empty() {
        tracing::info!(sms.from = %masked, "inbound SMS from an unknown number; ignored");
        return Ok(None);
    }
    match cmd {
        Command::Acknowledge => {
            let Some((notice, contact)) = notice_to_acknowledge(state, &known).await? else {
                tracing::info!(sms.from = %masked, "acknowledgement by SMS, but no open alert");
                return Ok(Some("[먹통] 확인할 알림이 없어요. No open alert."));
            };
            let first = outbox::acknowledge(db, notice.id, "sms", Some(contact), now).await?;
            tracing::info!(notice.id = notice.id, merchant.id = notice.merchant_id, contact.id = contact, first, sms.from = %masked, "alert acknowledged by SMS");
            Ok(Some(
                "[먹통] 확인했어요. 이 알림은 더 보내지 않아요. Acknowledged.",
            ))
        }
        Command::OptOut | Command::OptIn => {
            let opted_out = cmd == Command::OptOut;
            let n = contacts::set_sms_opt_out(db, crypto, from, opted_out).await?;
            for c in &known {
                audit::record(
                    &db.conn,
                    now,
                    audit::AuditEntry {
                        actor_user_id: None,
                        actor: "sms",
                        action: if opted_out { "contact.sms_opt_out" } else { "contact.sms_opt_in" },
                        target_type: "contact",
                        target_id: Some(c.id),
                        detail: serde_json::json!({ "merchant_id": c.merchant_id, "phone": masked }),
                    },
                )
                .await?;
            }
            tracing::info!(sms.from = %masked, contacts = n, opted_out, "SMS opt-out changed by reply");
            Ok(Some(if opted_out {
                "[먹통] 문자 알림을 중단했어요. START로 다시 받기. Unsubscribed."
            } else {
                "[먹통] 문자 알림을 다시 보내요. Resubscribed."
            }))
        }
        Command::Other => Ok(None),
    }
}

/// The latest open alert of the sender's merchants that asks for an acknowledgement (a
/// recovery is only news), else their latest open notice; with the replying contact's id.
async fn notice_to_acknowledge(
    state: &AppState,
    known: &[contact_entity::Model],
) -> Result<Option<(notices::Model, i64)>, StorageError> {
    let mut merchant_ids: Vec<i64> = known.iter().map(|c| c.merchant_id).collect();
    merchant_ids.sort_unstable();
    merchant_ids.dedup();
    let wanting_ack = notices::Entity::find()
        .filter(notices::Column::MerchantId.is_in(merchant_ids.clone()))
        .filter(notices::Column::Status.eq(NoticeStatus::Open))
        .filter(
            notices::Column::Kind.is_in(
                NoticeKind::ALL
                    .into_iter()
                    .filter(|k| k.wants_ack())
                    .map(NoticeKind::as_str),
            ),
        )
        .order_by_desc(notices::Column::CreatedAt)
        .order_by_desc(notices::Column::Id)
        .one(&state.db.conn)
        .await?;
    let notice = match wanting_ack {
        Some(n) => Some(n),
        None => outbox::latest_open_notice(&state.db, &merchant_ids).await?,
    };
    Ok(notice.and_then(|n| {
        let contact = known
            .iter()
            .filter(|c| c.merchant_id == n.merchant_id)
            .min_by_key(|c| c.position)?
            .id;
        Some((n, contact))
    }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reply_words_are_read_loosely() {
        assert_eq!(command(" ok "), Command::Acknowledge);
        assert_eq!(command("Ok."), Command::Acknowledge);
        assert_eq!(command("확인"), Command::Acknowledge);
        assert_eq!(command("1"), Command::Acknowledge);
        assert_eq!(command("stop"), Command::OptOut);
        assert_eq!(command("Unsubscribe"), Command::OptOut);
        assert_eq!(command("start"), Command::OptIn);
        assert_eq!(command("UNSTOP"), Command::OptIn);
        assert_eq!(command("확인했어요 고마워요"), Command::Other);
        assert_eq!(command("11"), Command::Other);
        assert_eq!(command(""), Command::Other);
    }

    #[test]
    fn twiml_is_escaped_xml() {
        let r = twiml(Some("a < b & c"));
        assert_eq!(r.status(), StatusCode::OK);
        assert_eq!(
            r.headers()
                .get(header::CONTENT_TYPE)
                .and_then(|v| v.to_str().ok()),
            Some("application/xml; charset=utf-8")
        );
    }
}

//! The Messages create endpoint, checked the way Twilio checks it.
use std::sync::Arc;
use std::time::{Duration, SystemTime};

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use rand::Rng as _;
use serde_json::json;

use super::segments::num_segments;
use super::{Mode, RecordedMessage, RecordedRequest, Shared, field};

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route(
            "/2010-04-01/Accounts/{sid}/Messages.json",
            post(create_message),
        )
        .fallback(|| async { twilio_error(404, 20404, "The requested resource was not found") })
        .with_state(shared)
}

/// Twilio's error body: `{"code", "message", "more_info", "status"}`.
pub(crate) fn twilio_error(status: u16, code: u32, message: &str) -> Response {
    let body = json!({
        "code": code,
        "message": message,
        "more_info": format!("https://www.twilio.com/docs/errors/{code}"),
        "status": status,
    });
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (status, axum::Json(body)).into_response()
}

/// Twilio's wording for the codes tests are likely to ask for.
fn message_for(code: u32) -> &'static str {
    match code {
        20003 => "Authenticate",
        20429 => "Too Many Requests",
        20500 => "An internal server error has occurred",
        21211 => "The 'To' number is not a valid phone number.",
        21408 => {
            "Permission to send an SMS has not been enabled for the region indicated by the 'To' number."
        }
        21606 => {
            "The 'From' phone number provided is not a valid message-capable Twilio phone number for this destination."
        }
        21610 => "Attempt to send to unsubscribed recipient",
        21611 => "This 'From' number has exceeded the maximum number of queued messages",
        21612 => "The 'To' phone number is not currently reachable via SMS.",
        21614 => "'To' number is not a valid mobile number",
        21635 => "The 'To' number cannot receive SMS: it is a landline.",
        _ => "Twilio stand-in error",
    }
}

pub(super) fn authorized(headers: &HeaderMap, shared: &Shared) -> bool {
    let Some(value) = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
    else {
        return false;
    };
    let Some(encoded) = value.strip_prefix("Basic ") else {
        return false;
    };
    let Ok(decoded) = STANDARD.decode(encoded.trim()) else {
        return false;
    };
    let expected = format!("{}:{}", shared.account_sid, shared.auth_token);
    decoded == expected.as_bytes()
}

pub(super) fn is_e164(number: &str) -> bool {
    let digits = number.strip_prefix('+').unwrap_or("");
    (7..=15).contains(&digits.len())
        && digits.bytes().all(|b| b.is_ascii_digit())
        && !digits.starts_with('0')
}

/// The checks Twilio makes before it queues anything, in its order; `Err` is the code and
/// message of Twilio's 400 answer.
fn validate(fields: &[(String, String)]) -> Result<(), (u32, String)> {
    let Some(to) = field(fields, "To").filter(|t| !t.is_empty()) else {
        return Err((21604, "A 'To' phone number is required.".to_string()));
    };
    if field(fields, "From").is_none_or(str::is_empty)
        && field(fields, "MessagingServiceSid").is_none_or(str::is_empty)
    {
        return Err((21603, "A 'From' phone number is required.".to_string()));
    }
    let has_content = ["Body", "MediaUrl", "ContentSid"]
        .iter()
        .any(|k| field(fields, k).is_some_and(|v| !v.is_empty()));
    if !has_content {
        return Err((21602, "Message body is required.".to_string()));
    }
    if field(fields, "Body").is_some_and(|b| b.chars().count() > 1600) {
        return Err((
            21617,
            "The concatenated message body exceeds the 1600 character limit.".to_string(),
        ));
    }
    if !is_e164(to) {
        return Err((
            21211,
            format!("The 'To' number {to} is not a valid phone number."),
        ));
    }
    if let Some(callback) = field(fields, "StatusCallback")
        && url::Url::parse(callback).is_err()
    {
        return Err((
            21609,
            "The StatusCallback URL is not a valid URL.".to_string(),
        ));
    }
    if let Some(validity) = field(fields, "ValidityPeriod") {
        match validity.parse::<i64>() {
            Ok(v) if (1..=36_000).contains(&v) => {}
            Ok(v) if v > 36_000 => {
                return Err((
                    90007,
                    "Invalid validity period value: must be 1 to 36000 seconds.".to_string(),
                ));
            }
            _ => {
                return Err((
                    90014,
                    "Validity Period should be positive integer".to_string(),
                ));
            }
        }
    }
    Ok(())
}

async fn create_message(
    State(shared): State<Arc<Shared>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    let content_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned);
    let is_form = content_type
        .as_deref()
        .is_some_and(|c| c.starts_with("application/x-www-form-urlencoded"));
    // Twilio reads parameters only from a form body: anything else looks like no parameters.
    let fields: Vec<(String, String)> = if is_form {
        url::form_urlencoded::parse(&body).into_owned().collect()
    } else {
        Vec::new()
    };
    let is_authorized = authorized(&headers, &shared);
    let index = {
        let mut inner = shared.lock();
        inner.requests.push(RecordedRequest {
            at: SystemTime::now(),
            path_account_sid: sid.clone(),
            content_type,
            fields: fields.clone(),
            authorized: is_authorized,
            answered: None,
        });
        inner.requests.len() - 1
    };
    let response = answer(&shared, &sid, is_authorized, fields).await;
    shared.lock().requests[index].answered = Some(response.status().as_u16());
    response
}

async fn answer(
    shared: &Shared,
    sid: &str,
    is_authorized: bool,
    fields: Vec<(String, String)>,
) -> Response {
    if !is_authorized {
        return twilio_error(401, 20003, message_for(20003));
    }
    if sid != shared.account_sid {
        return twilio_error(404, 20404, "The requested resource was not found");
    }
    if let Err((code, message)) = validate(&fields) {
        return twilio_error(400, code, &message);
    }
    let to = field(&fields, "To").unwrap_or_default().to_string();
    match shared.mode_for(&to) {
        Mode::Accept => accept(shared, fields),
        Mode::Fail500 => twilio_error(500, 20500, message_for(20500)),
        Mode::TwilioError { http_status, code } => {
            twilio_error(http_status, code, message_for(code))
        }
        Mode::RateLimited { retry_after_secs } => {
            let mut response = twilio_error(429, 20429, message_for(20429));
            if let Some(secs) = retry_after_secs {
                response
                    .headers_mut()
                    .insert(header::RETRY_AFTER, secs.into());
            }
            response
        }
        Mode::Hang => {
            tokio::time::sleep(Duration::from_secs(3600)).await;
            twilio_error(500, 20500, message_for(20500))
        }
    }
}

fn accept(shared: &Shared, fields: Vec<(String, String)>) -> Response {
    let id: u128 = rand::thread_rng().r#gen();
    let sid = format!("SM{id:032x}");
    let get = |name: &str| {
        field(&fields, name)
            .filter(|v| !v.is_empty())
            .map(str::to_owned)
    };
    let body = get("Body").unwrap_or_default();
    let service = get("MessagingServiceSid");
    // README: `queued`, or `accepted` when a Messaging Service picks the sender.
    let status = if service.is_some() {
        "accepted"
    } else {
        "queued"
    };
    let segments = num_segments(&body);
    let message = RecordedMessage {
        sid: sid.clone(),
        to: get("To").unwrap_or_default(),
        from: get("From"),
        messaging_service_sid: service.clone(),
        body: body.clone(),
        status_callback: get("StatusCallback"),
        validity_period: get("ValidityPeriod").and_then(|v| v.parse().ok()),
        num_segments: segments,
        status: status.into(),
        fields: fields.clone(),
        at: SystemTime::now(),
    };
    let now = chrono::Utc::now().to_rfc2822();
    let account = &shared.account_sid;
    let uri = format!("/2010-04-01/Accounts/{account}/Messages/{sid}.json");
    let json = json!({
        "account_sid": account, "api_version": "2010-04-01", "body": body,
        "date_created": now, "date_sent": null, "date_updated": now, "direction": "outbound-api",
        "error_code": null, "error_message": null, "from": message.from, "messaging_service_sid": service,
        "num_media": "0", "num_segments": segments.to_string(), "price": null, "price_unit": "USD",
        "sid": sid, "status": status, "to": message.to,
        "subresource_uris": { "media": format!("/2010-04-01/Accounts/{account}/Messages/{sid}/Media.json") },
        "uri": uri,
    });
    shared.lock().messages.push(message);
    (StatusCode::CREATED, axum::Json(json)).into_response()
}

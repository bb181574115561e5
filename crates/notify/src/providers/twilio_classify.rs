//! Reading Twilio's answers: the accepted message, or an error classified for the dispatcher.
//!
//! Pure functions of status, headers and body, so every rule has a unit test.
//!
//! The rules (reference/twilio/README.md):
//! - 429, code 20429 (too many requests) and 21611 (the sender's queue is full) are
//!   back-pressure: transient, honouring `Retry-After`.
//! - 408 and every 5xx are transient: Twilio or the path to it is failing, not our request.
//! - 401/403 and code 20003 (authentication) are **permanent**: the same token will fail
//!   every retry, and the merchant must not wait while the SMS retries until its validity
//!   runs out. [`ProviderError::is_config_error`] marks them so the dispatcher logs them at
//!   error level for the operator and fails over to the next provider.
//! - Every other 4xx is permanent: 21211 invalid To, 21610 unsubscribed (STOP), 21612,
//!   21614 not a mobile, 21635 landline, 21408 region not enabled, 21606 From not capable.
//! - A 2xx whose body has no `sid` is permanent too: Twilio may have queued the message, and
//!   retrying could send it twice; falling back to email is the safe side.
use std::time::{Duration, SystemTime};

use meoktong_domain::mask::mask_text;
use serde::Deserialize;

use super::{ProviderError, SmsAccepted};

/// A `Retry-After` longer than this is cut down: the dispatcher's own backoff and the
/// message's validity decide beyond it.
const MAX_RETRY_AFTER: Duration = Duration::from_secs(3600);
/// How much of an unparseable error body goes into the message.
const MAX_BODY_IN_MESSAGE: usize = 200;

/// Codes Twilio answers with a 4xx that still mean "later": rate limit, queue full.
const TRANSIENT_CODES: &[u32] = &[20429, 21611];

/// Twilio's error body: `{"code": 21211, "message": "...", "more_info": "...", "status": 400}`.
#[derive(Debug, Deserialize)]
struct TwilioErrorBody {
    code: Option<u32>,
    message: Option<String>,
    more_info: Option<String>,
}

/// The two fields of the created Message resource we need.
#[derive(Debug, Deserialize)]
struct MessageResource {
    sid: String,
    status: String,
}

/// Reads a 2xx answer to Messages create.
pub(crate) fn parse_accepted(http_status: u16, body: &str) -> Result<SmsAccepted, ProviderError> {
    match serde_json::from_str::<MessageResource>(body) {
        Ok(m) if !m.sid.is_empty() => Ok(SmsAccepted {
            provider_message_id: m.sid,
            status: m.status,
        }),
        _ => Err(ProviderError::permanent(
            None,
            format!(
                "twilio answered HTTP {http_status} without a message sid; not retried to avoid a duplicate SMS"
            ),
        )),
    }
}

/// Classifies a non-2xx answer. Phone numbers in Twilio's message are masked.
pub(crate) fn classify_failure(
    http_status: u16,
    retry_after: Option<&str>,
    body: &str,
    now: SystemTime,
) -> ProviderError {
    let parsed = serde_json::from_str::<TwilioErrorBody>(body).ok();
    let twilio_code = parsed.as_ref().and_then(|p| p.code);
    let mut message = match parsed.as_ref().and_then(|p| p.message.as_deref()) {
        Some(m) => format!("HTTP {http_status}: {}", mask_text(m)),
        None => format!(
            "HTTP {http_status}: {}",
            mask_text(&truncate(body.trim(), MAX_BODY_IN_MESSAGE))
        ),
    };
    if let Some(info) = parsed.as_ref().and_then(|p| p.more_info.as_deref()) {
        message.push_str(&format!(" ({info})"));
    }
    let code = twilio_code.map(|c| c.to_string());
    let transient = http_status == 429
        || http_status == 408
        || http_status >= 500
        || twilio_code.is_some_and(|c| TRANSIENT_CODES.contains(&c));
    if transient {
        let retry_after = retry_after.and_then(|v| parse_retry_after(v, now));
        ProviderError::transient(code, message, retry_after)
    } else {
        ProviderError::permanent(code, message)
    }
}

/// Classifies a request that got no HTTP answer (`what` names the peer in the message).
/// Timeouts and connection errors are transient; a request that could not even be built
/// (bad URL) is permanent. The URL is dropped from the message: it names the account, or a
/// webhook's secret path.
pub(crate) fn classify_transport_error(what: &str, e: &reqwest::Error) -> ProviderError {
    let code = if e.is_timeout() {
        Some("timeout")
    } else if e.is_connect() {
        Some("connect")
    } else {
        None
    };
    let message = format!("{what} request failed: {}", error_chain(e));
    if e.is_builder() {
        ProviderError::permanent(None, message)
    } else {
        ProviderError::transient(code.map(str::to_owned), message, None)
    }
}

/// The error and its sources, without the URL reqwest puts in its own message.
fn error_chain(e: &reqwest::Error) -> String {
    use std::error::Error as _;
    let mut text = match e.url() {
        Some(url) => e.to_string().replace(url.as_str(), "<url>"),
        None => e.to_string(),
    };
    let mut source = e.source();
    while let Some(s) = source {
        text.push_str(&format!(": {s}"));
        source = s.source();
    }
    text
}

/// `Retry-After` is either seconds or an HTTP date (RFC 9110 §10.2.3).
pub(crate) fn parse_retry_after(value: &str, now: SystemTime) -> Option<Duration> {
    let value = value.trim();
    let wait = if let Ok(secs) = value.parse::<u64>() {
        Duration::from_secs(secs)
    } else {
        let at: SystemTime = chrono::DateTime::parse_from_rfc2822(value).ok()?.into();
        at.duration_since(now).unwrap_or(Duration::ZERO)
    };
    Some(wait.min(MAX_RETRY_AFTER))
}

fn truncate(text: &str, max_chars: usize) -> String {
    text.chars().take(max_chars).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn twilio_error(code: u32, status: u16, message: &str) -> String {
        serde_json::json!({
            "code": code, "message": message,
            "more_info": format!("https://www.twilio.com/docs/errors/{code}"), "status": status
        })
        .to_string()
    }

    fn classify(status: u16, body: &str) -> ProviderError {
        classify_failure(status, None, body, SystemTime::now())
    }

    #[test]
    fn recipient_errors_are_permanent_with_their_code() {
        for code in [21211, 21610, 21612, 21614, 21635, 21408, 21606] {
            let e = classify(400, &twilio_error(code, 400, "nope"));
            assert!(e.is_permanent(), "{code}");
            assert_eq!(e.code(), Some(code.to_string().as_str()));
        }
    }

    #[test]
    fn the_phone_number_in_twilios_message_is_masked() {
        let body = twilio_error(
            21211,
            400,
            "The 'To' number +821012345678 is not a valid phone number.",
        );
        let e = classify(400, &body);
        assert!(!e.message().contains("+821012345678"), "{}", e.message());
        assert!(
            e.message().contains("5678") && e.message().contains("twilio.com/docs/errors/21211")
        );
    }

    #[test]
    fn authentication_is_a_permanent_config_error() {
        let e = classify(401, &twilio_error(20003, 401, "Authenticate"));
        assert!(e.is_permanent() && e.is_config_error());
        let e = classify(401, "");
        assert!(e.is_permanent());
    }

    #[test]
    fn back_pressure_and_server_errors_are_transient() {
        assert!(!classify(429, &twilio_error(20429, 429, "Too Many Requests")).is_permanent());
        assert!(!classify(400, &twilio_error(21611, 400, "queue full")).is_permanent());
        assert!(!classify(500, &twilio_error(20500, 500, "Internal")).is_permanent());
        assert!(!classify(503, "<html>Service Unavailable</html>").is_permanent());
        assert!(!classify(408, "").is_permanent());
        assert!(classify(404, "").is_permanent());
    }

    #[test]
    fn retry_after_is_honoured_in_seconds_and_as_a_date() {
        let now = SystemTime::UNIX_EPOCH + Duration::from_secs(784_111_777); // 06 Nov 1994 08:49:37 GMT
        let e = classify_failure(429, Some("7"), "", now);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(7)));
        let e = classify_failure(503, Some("Sun, 06 Nov 1994 08:50:07 GMT"), "", now);
        assert_eq!(e.retry_after(), Some(Duration::from_secs(30)));
        assert_eq!(
            parse_retry_after("Sun, 06 Nov 1994 08:00:00 GMT", now),
            Some(Duration::ZERO)
        );
        assert_eq!(parse_retry_after("999999", now), Some(MAX_RETRY_AFTER));
        assert_eq!(parse_retry_after("soon", now), None);
    }

    #[test]
    fn an_unparseable_body_is_kept_short() {
        let e = classify(502, &"x".repeat(10_000));
        assert!(e.message().len() < 300);
        assert_eq!(e.code(), None);
    }

    #[test]
    fn accepted_needs_a_sid() {
        let ok = parse_accepted(201, r#"{"sid":"SM0123","status":"queued","to":"+8210"}"#)
            .expect("accepted");
        assert_eq!(
            ok,
            SmsAccepted {
                provider_message_id: "SM0123".into(),
                status: "queued".into()
            }
        );
        assert!(parse_accepted(201, "not json").is_err_and(|e| e.is_permanent()));
        assert!(parse_accepted(201, r#"{"sid":"","status":"queued"}"#).is_err());
    }
}

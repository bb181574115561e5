//! Reading Solapi's answers: per-message outcomes of a batch, delivery reports, and errors
//! classified for the dispatcher. Pure functions of status and body, each rule unit-tested.
//!
//! The rules (reference/solapi):
//! - HTTP 403 `InvalidAPIKey` / `SignatureDoesNotMatch` / `Forbidden`, 402 `NotEnoughBalance`:
//!   Solapi refusing our account. Permanent and a configuration error
//!   ([`ProviderError::is_config_error`]): the dispatcher hands over to the next provider at
//!   once and logs at error level.
//! - 403 `RequestTimeTooSkewed` (our clock is off by more than 15 minutes) and
//!   `DuplicatedSignature`: transient (a retry signs anew); the first logs a hint.
//! - 408, 429, every 5xx, timeouts and refused connections: transient.
//! - Any other 4xx (400 `ValidationError`, 404, 413 `RecipientsTooMany`): permanent.
//! - Per message, `statusCode` `2000` is accepted. 1062/2062 (sender not registered) and
//!   1030/2230 (no balance) are our account: configuration errors. Other 1xxx are refusals of
//!   this message (blocked or opted-out recipient, 1029 a character outside EUC-KR): permanent.
//!   2xxx (platform failure) is transient. A message the answer says nothing about is
//!   permanent: Solapi may have taken it, and retrying could send it twice.
//! - Reports: `4000` is delivered; `2000`/`3000` (or no code) not final yet; any other code is
//!   a failure (3xxx carrier failures such as 3043 handset off, 3040 timeout, 3059 spoofed
//!   sender), reported as `failed` so the email goes out at once, as with Twilio's
//!   `undelivered`.
use std::collections::HashMap;

use meoktong_domain::mask::mask_text;
use serde::Deserialize;

use super::{DeliveryReport, ProviderError, SmsAccepted};

/// The custom field that carries our outbox row id (≤ 30 characters).
pub(crate) const REFERENCE_FIELD: &str = "meoktongOutboxId";

/// Solapi's error body: `{"errorCode": "...", "errorMessage": "..."}`.
#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ErrorBody {
    error_code: Option<String>,
    error_message: Option<String>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct BatchAnswer {
    #[serde(default)]
    failed_message_list: Vec<MessageOutcome>,
    #[serde(default)]
    message_list: Vec<MessageOutcome>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct MessageOutcome {
    message_id: Option<String>,
    status_code: Option<String>,
    status_message: Option<String>,
    to: Option<String>,
    custom_fields: Option<HashMap<String, String>>,
}

impl MessageOutcome {
    fn reference(&self) -> Option<i64> {
        self.custom_fields
            .as_ref()?
            .get(REFERENCE_FIELD)?
            .parse()
            .ok()
    }
}

/// Classifies a non-2xx answer to any Solapi request.
pub(crate) fn classify_http_failure(http_status: u16, body: &str) -> ProviderError {
    let parsed = serde_json::from_str::<ErrorBody>(body).ok();
    let code = parsed.as_ref().and_then(|p| p.error_code.clone());
    let detail = parsed
        .as_ref()
        .and_then(|p| p.error_message.clone())
        .unwrap_or_else(|| body.trim().chars().take(200).collect());
    let message = format!(
        "solapi HTTP {http_status} {}: {}",
        code.as_deref().unwrap_or("-"),
        mask_text(&detail)
    );
    match (http_status, code.as_deref()) {
        (403, Some("RequestTimeTooSkewed")) => {
            tracing::warn!(
                "solapi refused the request's date: this host's clock is more than 15 minutes off (check NTP)"
            );
            ProviderError::transient(code, format!("{message} (check this host's clock)"), None)
        }
        (403, Some("DuplicatedSignature")) => ProviderError::transient(code, message, None),
        (401 | 403, None) => ProviderError::permanent(Some("Forbidden".into()), message),
        (402, None) => ProviderError::permanent(Some("NotEnoughBalance".into()), message),
        (408 | 429, _) => ProviderError::transient(code, message, None),
        (s, _) if s >= 500 => ProviderError::transient(code, message, None),
        _ => ProviderError::permanent(code, message),
    }
}

/// Classifies a per-message `statusCode` at intake: `Ok` when accepted (`2000`).
pub(crate) fn classify_status(code: &str, status_message: &str) -> Result<(), ProviderError> {
    if code == "2000" {
        return Ok(());
    }
    let message = format!(
        "solapi refused the message: {code} {}",
        mask_text(status_message)
    );
    let code_owned = Some(code.to_string());
    if code.starts_with('2') && !matches!(code, "2062" | "2230" | "2060" | "2061" | "2064") {
        return Err(ProviderError::transient(code_owned, message, None));
    }
    Err(ProviderError::permanent(code_owned, message))
}

/// Reads a 200 answer of `send-many/detail`: one outcome per reference, in order.
pub(crate) fn parse_batch_answer(
    body: &str,
    items: &[(i64, String)],
) -> Vec<Result<SmsAccepted, ProviderError>> {
    let answer = match serde_json::from_str::<BatchAnswer>(body) {
        Ok(a) => a,
        Err(e) => {
            let err = ProviderError::permanent(
                None,
                format!(
                    "solapi answered 200 with a body we cannot read ({e}); not retried to avoid a duplicate SMS"
                ),
            );
            return items.iter().map(|_| Err(err.clone())).collect();
        }
    };
    let mut outcomes: HashMap<i64, Result<SmsAccepted, ProviderError>> = HashMap::new();
    // Failed items without our custom field are matched by recipient, first unmatched first.
    let mut unmatched_failures: Vec<&MessageOutcome> = Vec::new();
    for (failed, m) in answer
        .failed_message_list
        .iter()
        .map(|m| (true, m))
        .chain(answer.message_list.iter().map(|m| (false, m)))
    {
        let Some(reference) = m.reference() else {
            if failed {
                unmatched_failures.push(m);
            }
            continue;
        };
        let outcome = outcome_of(m, failed);
        // A failure for a reference wins over an acceptance of it.
        if failed || !outcomes.contains_key(&reference) {
            outcomes.insert(reference, outcome);
        }
    }
    for m in unmatched_failures {
        let to = m.to.as_deref().unwrap_or("");
        if let Some((reference, _)) = items
            .iter()
            .find(|(r, t)| t == to && !outcomes.contains_key(r))
        {
            outcomes.insert(*reference, outcome_of(m, true));
        }
    }
    items
        .iter()
        .map(|(reference, _)| {
            outcomes.remove(reference).unwrap_or_else(|| {
                Err(ProviderError::permanent(
                    None,
                    "solapi's answer says nothing about this message; not retried to avoid a duplicate SMS",
                ))
            })
        })
        .collect()
}

fn outcome_of(m: &MessageOutcome, failed: bool) -> Result<SmsAccepted, ProviderError> {
    let code = m
        .status_code
        .as_deref()
        .unwrap_or(if failed { "" } else { "2000" });
    let status_message = m.status_message.as_deref().unwrap_or("");
    if failed && code == "2000" {
        return Err(ProviderError::permanent(
            Some(code.into()),
            "solapi listed the message as failed without a code",
        ));
    }
    classify_status(code, status_message)?;
    match m.message_id.as_deref().filter(|id| !id.is_empty()) {
        Some(id) => Ok(SmsAccepted {
            provider_message_id: id.to_string(),
            status: "accepted".into(),
        }),
        None => Err(ProviderError::permanent(
            None,
            "solapi accepted the message without a message id; not retried to avoid a duplicate SMS",
        )),
    }
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListAnswer {
    #[serde(default)]
    message_list: HashMap<String, ListedMessage>,
}

#[derive(Debug, Deserialize)]
#[serde(rename_all = "camelCase")]
struct ListedMessage {
    message_id: Option<String>,
    status_code: Option<String>,
}

/// What a report's `statusCode` means: `delivered`, `failed`, or `sent` (not final yet).
pub(crate) fn report_status(code: &str) -> &'static str {
    match code {
        "4000" => "delivered",
        "" | "2000" | "3000" => "sent",
        _ => "failed",
    }
}

/// Reads a 200 answer of `GET /messages/v4/list`.
pub(crate) fn parse_list_answer(body: &str) -> Result<Vec<DeliveryReport>, ProviderError> {
    let answer = serde_json::from_str::<ListAnswer>(body).map_err(|e| {
        ProviderError::transient(None, format!("solapi message list unreadable: {e}"), None)
    })?;
    let mut reports: Vec<DeliveryReport> = answer
        .message_list
        .into_iter()
        .map(|(key, m)| {
            let code = m.status_code.unwrap_or_default();
            let status = report_status(&code);
            DeliveryReport {
                provider_message_id: m.message_id.unwrap_or(key),
                status: status.to_string(),
                error_code: (status == "failed").then_some(code),
            }
        })
        .collect();
    reports.sort_by(|a, b| a.provider_message_id.cmp(&b.provider_message_id));
    Ok(reports)
}

/// The national number Solapi wants for an E.164 Korean number (`+821012345678` →
/// `01012345678`); `None` for a number outside Korea.
pub(crate) fn national_number(e164: &str) -> Option<String> {
    let digits: String = e164.chars().filter(|c| !matches!(c, ' ' | '-')).collect();
    let rest = digits.strip_prefix("+82")?;
    let rest = rest.strip_prefix('0').unwrap_or(rest);
    (!rest.is_empty() && rest.chars().all(|c| c.is_ascii_digit())).then(|| format!("0{rest}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn err(status: u16, code: &str) -> ProviderError {
        classify_http_failure(
            status,
            &serde_json::json!({"errorCode": code, "errorMessage": "x"}).to_string(),
        )
    }

    #[test]
    fn a_refused_account_is_a_permanent_config_error() {
        for (status, code) in [
            (403, "InvalidAPIKey"),
            (403, "SignatureDoesNotMatch"),
            (403, "Forbidden"),
            (402, "NotEnoughBalance"),
        ] {
            let e = err(status, code);
            assert!(e.is_permanent() && e.is_config_error(), "{code}: {e}");
        }
        assert!(classify_http_failure(403, "").is_config_error());
    }

    #[test]
    fn clock_skew_duplicates_5xx_and_rate_limits_are_transient() {
        let skew = err(403, "RequestTimeTooSkewed");
        assert!(!skew.is_permanent() && !skew.is_config_error());
        assert!(skew.message().contains("clock"), "{skew}");
        assert!(!err(403, "DuplicatedSignature").is_permanent());
        assert!(!classify_http_failure(503, "<html>").is_permanent());
        assert!(!err(500, "InternalError").is_permanent());
        assert!(!classify_http_failure(429, "").is_permanent());
        assert!(err(400, "ValidationError").is_permanent());
        assert!(!err(400, "ValidationError").is_config_error());
        assert!(err(413, "RecipientsTooMany").is_permanent());
    }

    #[test]
    fn per_message_codes() {
        assert!(classify_status("2000", "").is_ok());
        let e = classify_status("1062", "발신번호 미등록").expect_err("refused");
        assert!(e.is_permanent() && e.is_config_error());
        assert!(
            classify_status("1030", "")
                .expect_err("x")
                .is_config_error()
        );
        for code in ["1060", "1061", "1064", "1029", "1031", "1010"] {
            let e = classify_status(code, "").expect_err("refused");
            assert!(e.is_permanent() && !e.is_config_error(), "{code}");
        }
        assert!(
            !classify_status("2100", "platform")
                .expect_err("x")
                .is_permanent()
        );
        assert!(
            classify_status("2062", "")
                .expect_err("x")
                .is_config_error()
        );
    }

    #[test]
    fn a_partly_failed_batch_gives_one_outcome_per_message() {
        let body = r#"{"groupInfo":{"groupId":"G4V1","count":{"total":3}},
          "failedMessageList":[{"to":"01099998888","from":"0212345678","messageId":"M4V2","statusCode":"1060","statusMessage":"수신 차단","customFields":{"meoktongOutboxId":"2"}},
                               {"to":"01077776666","messageId":"M4V3","statusCode":"1062","statusMessage":"발신번호 미등록"}],
          "messageList":[{"messageId":"M4V1","statusCode":"2000","statusMessage":"정상 접수","customFields":{"meoktongOutboxId":"1"}}]}"#;
        let items = vec![
            (1, "01012345678".to_string()),
            (2, "01099998888".to_string()),
            (3, "01077776666".to_string()),
            (4, "01055554444".to_string()),
        ];
        let out = parse_batch_answer(body, &items);
        assert_eq!(
            out[0],
            Ok(SmsAccepted {
                provider_message_id: "M4V1".into(),
                status: "accepted".into()
            })
        );
        let e = out[1].clone().expect_err("blocked");
        assert_eq!(e.code(), Some("1060"));
        assert!(e.is_permanent() && !e.is_config_error());
        let e = out[2].clone().expect_err("matched by recipient");
        assert!(e.is_config_error());
        assert!(
            out[3].clone().is_err_and(|e| e.is_permanent()),
            "no word about it"
        );
        assert!(
            parse_batch_answer("nope", &items)
                .iter()
                .all(|o| o.is_err())
        );
    }

    #[test]
    fn reports_map_to_delivered_failed_or_not_yet() {
        let body = r#"{"startKey":null,"nextKey":null,"limit":20,"messageList":{
            "M4V1":{"messageId":"M4V1","statusCode":"4000","status":"COMPLETE"},
            "M4V2":{"messageId":"M4V2","statusCode":"3043","status":"COMPLETE"},
            "M4V3":{"messageId":"M4V3","statusCode":"3000","status":"PENDING"}}}"#;
        let r = parse_list_answer(body).expect("readable");
        assert_eq!(r.len(), 3);
        assert_eq!(
            (r[0].status.as_str(), r[0].error_code.clone()),
            ("delivered", None)
        );
        assert_eq!(
            (r[1].status.as_str(), r[1].error_code.as_deref()),
            ("failed", Some("3043"))
        );
        assert_eq!(r[2].status, "sent");
        assert!(parse_list_answer("{}").expect("empty").is_empty());
    }

    #[test]
    fn korean_numbers_become_national() {
        assert_eq!(
            national_number("+821012345678").as_deref(),
            Some("01012345678")
        );
        assert_eq!(
            national_number("+82 10-1234-5678").as_deref(),
            Some("01012345678")
        );
        assert_eq!(
            national_number("+8201012345678").as_deref(),
            Some("01012345678")
        );
        assert_eq!(national_number("+15005550006"), None);
        assert_eq!(national_number("+82"), None);
    }
}

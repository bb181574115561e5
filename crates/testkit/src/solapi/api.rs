//! The endpoints, checked the way Solapi checks them.
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Instant;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{RawQuery, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use hmac::{Hmac, Mac};
use rand::Rng as _;
use serde_json::{Value, json};
use sha2::Sha256;

use super::{Shared, SolapiFault, SolapiMessage, SolapiRequest};

/// Solapi refuses a date further than this from its own clock.
const MAX_SKEW_SECS: i64 = 15 * 60;
const SMS_MAX: usize = 90;
const LMS_MAX: usize = 2000;
const SUBJECT_MAX: usize = 40;
const MAX_MESSAGES: usize = 10_000;

pub(crate) fn router(shared: Arc<Shared>) -> Router {
    Router::new()
        .route("/messages/v4/send-many/detail", post(send_many_detail))
        .route("/messages/v4/list", get(list))
        .fallback(|| async { error(404, "ResourceNotFound", "no such resource") })
        .with_state(shared)
}

fn error(status: u16, code: &str, message: &str) -> Response {
    let status = StatusCode::from_u16(status).unwrap_or(StatusCode::INTERNAL_SERVER_ERROR);
    (
        status,
        axum::Json(json!({"errorCode": code, "errorMessage": message})),
    )
        .into_response()
}

/// Checks `Authorization: HMAC-SHA256 apiKey=…, date=…, salt=…, signature=…`.
fn check_auth(headers: &HeaderMap, shared: &Shared) -> Result<(), String> {
    let value = headers
        .get(header::AUTHORIZATION)
        .and_then(|v| v.to_str().ok())
        .ok_or("InvalidAPIKey")?;
    let rest = value.strip_prefix("HMAC-SHA256 ").ok_or("InvalidAPIKey")?;
    let parts: HashMap<&str, &str> = rest
        .split(',')
        .filter_map(|p| p.trim().split_once('='))
        .collect();
    let (Some(key), Some(date), Some(salt), Some(signature)) = (
        parts.get("apiKey"),
        parts.get("date"),
        parts.get("salt"),
        parts.get("signature"),
    ) else {
        return Err("InvalidAPIKey".into());
    };
    if *key != shared.api_key {
        return Err("InvalidAPIKey".into());
    }
    if !(12..=64).contains(&salt.len()) {
        return Err("SignatureDoesNotMatch".into());
    }
    let Ok(mut mac) = Hmac::<Sha256>::new_from_slice(shared.api_secret.as_bytes()) else {
        return Err("SignatureDoesNotMatch".into());
    };
    mac.update(date.as_bytes());
    mac.update(salt.as_bytes());
    let expected = hex::encode(mac.finalize().into_bytes());
    if expected != *signature {
        return Err("SignatureDoesNotMatch".into());
    }
    let at = chrono::DateTime::parse_from_rfc3339(date).map_err(|_| "RequestTimeTooSkewed")?;
    let skew = (chrono::Utc::now().timestamp() - at.timestamp()).abs();
    if skew > MAX_SKEW_SECS {
        return Err("RequestTimeTooSkewed".into());
    }
    if !shared.lock().signatures.insert(signature.to_string()) {
        return Err("DuplicatedSignature".into());
    }
    Ok(())
}

fn record(
    shared: &Shared,
    method: &str,
    path: &str,
    auth: Result<(), String>,
    messages: usize,
    answered: u16,
) {
    shared.lock().requests.push(SolapiRequest {
        at: Instant::now(),
        method: method.into(),
        path: path.into(),
        auth,
        messages,
        answered,
    });
}

/// Answers with the fault, if one applies (after a `Slow` one's wait, `None`: go on).
async fn apply_fault(shared: &Shared) -> Option<Response> {
    match shared.fault()? {
        SolapiFault::ServerError => Some(error(503, "ServiceUnavailable", "try again later")),
        SolapiFault::InvalidApiKey => Some(error(403, "InvalidAPIKey", "유효하지 않은 API Key")),
        SolapiFault::NotEnoughBalance => Some(error(402, "NotEnoughBalance", "잔액 부족")),
        SolapiFault::Slow(d) => {
            tokio::time::sleep(d).await;
            None
        }
    }
}

/// EUC-KR bytes, `None` when a character has no EUC-KR form.
fn euc_kr_bytes(text: &str) -> Option<usize> {
    let (bytes, _, unmappable) = encoding_rs::EUC_KR.encode(text);
    (!unmappable).then_some(bytes.len())
}

fn id(prefix: &str) -> String {
    let time = chrono::Utc::now().format("%y%m%d%H%M%S%3f").to_string();
    let random: String = rand::thread_rng()
        .sample_iter(&rand::distributions::Alphanumeric)
        .take(15)
        .map(|c| char::from(c).to_ascii_uppercase())
        .collect();
    format!("{prefix}{}{random}", &time[..14.min(time.len())])
}

/// What Solapi decides for one message at intake: `Ok` (type, bytes) or a status code.
fn intake(
    m: &Value,
    senders: &std::collections::HashSet<String>,
) -> Result<(String, usize), (&'static str, &'static str)> {
    let text_of = |k: &str| m.get(k).and_then(Value::as_str);
    let (Some(to), Some(from), Some(text)) = (text_of("to"), text_of("from"), text_of("text"))
    else {
        return Err(("1010", "필수 입력 항목 누락"));
    };
    if to.is_empty() || from.is_empty() || text.is_empty() {
        return Err(("1010", "필수 입력 항목 누락"));
    }
    if !to.chars().all(|c| c.is_ascii_digit()) {
        return Err(("1021", "수신번호 형식 오류"));
    }
    if !senders.contains(from) {
        return Err(("1062", "발신번호 미등록"));
    }
    if text
        .chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r')
    {
        return Err(("1028", "출력할 수 없는 문자"));
    }
    let Some(bytes) = euc_kr_bytes(text) else {
        return Err(("1029", "EUC-KR로 표현할 수 없는 문자"));
    };
    let subject = text_of("subject");
    let kind = match text_of("type") {
        Some(t) => t.to_string(),
        None if subject.is_some() || bytes > SMS_MAX => "LMS".into(),
        None => "SMS".into(),
    };
    match kind.as_str() {
        "SMS" => {
            if subject.is_some() {
                return Err(("1013", "SMS에는 제목을 넣을 수 없음"));
            }
            if bytes > SMS_MAX {
                return Err(("1031", "메시지 길이 초과"));
            }
        }
        "LMS" => {
            if bytes > LMS_MAX {
                return Err(("1031", "메시지 길이 초과"));
            }
            if let Some(s) = subject {
                match euc_kr_bytes(s) {
                    None => return Err(("1029", "EUC-KR로 표현할 수 없는 문자")),
                    Some(b) if b > SUBJECT_MAX => return Err(("1014", "제목 길이 초과")),
                    _ => {}
                }
            }
        }
        _ => return Err(("1025", "메시지 타입 오류")),
    }
    Ok((kind, bytes))
}

async fn send_many_detail(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    const PATH: &str = "/messages/v4/send-many/detail";
    if let Err(code) = check_auth(&headers, &shared) {
        record(&shared, "POST", PATH, Err(code.clone()), 0, 403);
        return error(403, &code, "authentication failed");
    }
    if let Some(r) = apply_fault(&shared).await {
        record(&shared, "POST", PATH, Ok(()), 0, r.status().as_u16());
        return r;
    }
    let Ok(body) = serde_json::from_slice::<Value>(&body) else {
        record(&shared, "POST", PATH, Ok(()), 0, 400);
        return error(400, "ValidationError", "the body is not JSON");
    };
    let Some(messages) = body
        .get("messages")
        .and_then(Value::as_array)
        .filter(|m| !m.is_empty())
    else {
        record(&shared, "POST", PATH, Ok(()), 0, 400);
        return error(400, "ValidationError", "messages is required");
    };
    if messages.len() > MAX_MESSAGES {
        record(&shared, "POST", PATH, Ok(()), messages.len(), 413);
        return error(413, "RecipientsTooMany", "too many messages");
    }
    let show = body.get("showMessageList").and_then(Value::as_bool) == Some(true);
    let allow_duplicates = body.get("allowDuplicates").and_then(Value::as_bool) == Some(true);
    let group_id = id("G4V");
    let mut failed = Vec::new();
    let mut accepted = Vec::new();
    let mut seen = std::collections::HashSet::new();
    let mut inner = shared.lock();
    for m in messages {
        let to = m
            .get("to")
            .and_then(Value::as_str)
            .unwrap_or("")
            .to_string();
        let custom: HashMap<String, String> = m
            .get("customFields")
            .and_then(|c| serde_json::from_value(c.clone()).ok())
            .unwrap_or_default();
        let message_id = id("M4V");
        let decided = intake(m, &inner.senders).map_err(|(c, t)| (c.to_string(), t.to_string()));
        let decided = match decided {
            Ok(_) if !allow_duplicates && !seen.insert(to.clone()) => {
                Err(("1026".to_string(), "중복 수신번호".to_string()))
            }
            Ok(ok) => match inner.refuse.get(&to) {
                Some(code) => Err((code.clone(), "수신 거부".to_string())),
                None => Ok(ok),
            },
            Err(e) => Err(e),
        };
        match decided {
            Ok((kind, bytes)) => {
                let at = inner.messages.len();
                inner.by_id.insert(message_id.clone(), at);
                inner.messages.push(SolapiMessage {
                    message_id: message_id.clone(),
                    group_id: group_id.clone(),
                    to: to.clone(),
                    from: m.get("from").and_then(Value::as_str).unwrap_or("").into(),
                    text: m.get("text").and_then(Value::as_str).unwrap_or("").into(),
                    kind,
                    subject: m.get("subject").and_then(Value::as_str).map(str::to_string),
                    bytes,
                    custom_fields: custom.clone(),
                    at: Instant::now(),
                });
                accepted.push(json!({"messageId": message_id, "statusCode": "2000",
                    "statusMessage": "정상 접수(이통사로 접수 예정) ", "customFields": custom}));
            }
            Err((code, text)) => {
                inner.refused.push((to.clone(), code.clone()));
                failed.push(
                    json!({"to": to, "from": m.get("from"), "type": m.get("type"),
                    "country": "82", "messageId": message_id, "statusCode": code,
                    "statusMessage": text, "accountId": "12925149", "customFields": custom}),
                );
            }
        }
    }
    drop(inner);
    let count = json!({"total": messages.len(), "sentSuccess": 0, "sentFailed": 0,
        "sentPending": 0, "registeredFailed": failed.len(), "registeredSuccess": accepted.len()});
    let mut answer = json!({
        "groupInfo": {"groupId": group_id, "status": "SENDING", "apiVersion": "4",
            "accountId": "12925149", "count": count},
        "failedMessageList": failed,
    });
    if show {
        answer["messageList"] = json!(accepted);
    }
    record(&shared, "POST", PATH, Ok(()), messages.len(), 200);
    axum::Json(answer).into_response()
}

async fn list(
    State(shared): State<Arc<Shared>>,
    headers: HeaderMap,
    RawQuery(query): RawQuery,
) -> Response {
    const PATH: &str = "/messages/v4/list";
    if let Err(code) = check_auth(&headers, &shared) {
        record(&shared, "GET", PATH, Err(code.clone()), 0, 403);
        return error(403, &code, "authentication failed");
    }
    if let Some(r) = apply_fault(&shared).await {
        record(&shared, "GET", PATH, Ok(()), 0, r.status().as_u16());
        return r;
    }
    let query = query.unwrap_or_default();
    let params: Vec<(String, String)> = url::form_urlencoded::parse(query.as_bytes())
        .into_owned()
        .collect();
    let wanted: Vec<String> = params
        .iter()
        .filter(|(k, _)| k == "messageId" || k == "messageIds" || k.starts_with("messageIds["))
        .map(|(_, v)| v.clone())
        .collect();
    let limit = params
        .iter()
        .find(|(k, _)| k == "limit")
        .and_then(|(_, v)| v.parse::<usize>().ok())
        .unwrap_or(20);
    let inner = shared.lock();
    let mut list = serde_json::Map::new();
    let found: Vec<&SolapiMessage> = if wanted.is_empty() {
        inner.messages.iter().take(limit).collect()
    } else {
        wanted
            .iter()
            .filter_map(|id| inner.by_id.get(id).and_then(|&i| inner.messages.get(i)))
            .take(limit)
            .collect()
    };
    for m in found {
        let code = inner
            .reports
            .get(&m.to)
            .cloned()
            .unwrap_or_else(|| "4000".into());
        let status = if code == "3000" {
            "PENDING"
        } else {
            "COMPLETE"
        };
        list.insert(
            m.message_id.clone(),
            json!({"messageId": m.message_id, "groupId": m.group_id, "type": m.kind,
                "to": m.to, "from": m.from, "statusCode": code, "status": status,
                "networkName": "SKT", "customFields": m.custom_fields}),
        );
    }
    drop(inner);
    record(&shared, "GET", PATH, Ok(()), 0, 200);
    axum::Json(json!({"startKey": null, "nextKey": null, "limit": limit, "messageList": list}))
        .into_response()
}

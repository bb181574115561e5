//! A stand-in for Twilio's Calls API (reference/twilio/voice.md): checks Basic auth, the form
//! and the fields Twilio requires (`To`, `From`, exactly one of `Url`/`Twiml`/`ApplicationSid`,
//! `Twiml` at most 4,000 characters, a `StatusCallback` URL whose host has no `_`), records
//! each call, and plays the callee: status callbacks and key presses posted to the
//! `<Gather action>`, signed as Twilio signs.
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use axum::Router;
use axum::body::Bytes;
use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::routing::post;
use rand::Rng as _;
use serde_json::json;

use super::api::{authorized, is_e164, twilio_error};
use super::hooks::sign;
use super::{HookResponse, Signing, StandInError, field};
use crate::{WaitTimeout, wait_until};

/// A call the stand-in accepted (answered 201).
#[derive(Debug, Clone)]
pub struct RecordedCall {
    pub sid: String,
    pub to: String,
    pub from: String,
    pub twiml: String,
    pub status_callback: Option<String>,
    /// The `<Gather action>` of the TwiML, unescaped.
    pub gather_action: Option<String>,
    /// `queued`, then the last status posted.
    pub status: String,
    pub fields: Vec<(String, String)>,
}

impl RecordedCall {
    /// The text of every `<Say>`, in order.
    pub fn said(&self) -> Vec<String> {
        let mut out = Vec::new();
        let mut rest = self.twiml.as_str();
        while let Some(at) = rest.find("<Say") {
            let after = &rest[at..];
            let (Some(open_end), Some(close)) = (after.find('>'), after.find("</Say>")) else {
                break;
            };
            out.push(unescape(&after[open_end + 1..close]));
            rest = &after[close..];
        }
        out
    }
}

struct Inner {
    once: VecDeque<(u16, u32)>,
    calls: Vec<RecordedCall>,
    requests: usize,
    sequence: u32,
}

pub(crate) struct VoiceShared {
    base: super::Shared,
    inner: Mutex<Inner>,
}

impl VoiceShared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }
}

/// The running Calls stand-in. Dropping it stops the server.
pub struct TwilioVoiceStandIn {
    addr: SocketAddr,
    shared: Arc<VoiceShared>,
    http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

fn unescape(s: &str) -> String {
    s.replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&apos;", "'")
        .replace("&amp;", "&")
}

/// The `action` attribute of the first `<Gather>`.
fn gather_action(twiml: &str) -> Option<String> {
    let gather = &twiml[twiml.find("<Gather")?..];
    let tag = &gather[..gather.find('>')?];
    let start = tag.find("action=\"")? + "action=\"".len();
    let len = tag[start..].find('"')?;
    Some(unescape(&tag[start..start + len]))
}

/// Twilio's checks of a create request, in its order; `Err` is the code and message of its 400.
fn validate(fields: &[(String, String)]) -> Result<(), (u32, String)> {
    let Some(to) = field(fields, "To").filter(|t| !t.is_empty()) else {
        return Err((21201, "No 'To' number is specified".into()));
    };
    let Some(from) = field(fields, "From").filter(|t| !t.is_empty()) else {
        return Err((21213, "No 'From' number is specified".into()));
    };
    let given = ["Url", "Twiml", "ApplicationSid"]
        .iter()
        .filter(|k| field(fields, k).is_some_and(|v| !v.is_empty()))
        .count();
    if given == 0 {
        return Err((21205, "Url, Twiml or ApplicationSid is required".into()));
    }
    if !is_e164(to) {
        return Err((21211, format!("Invalid 'To' Phone Number: {to}")));
    }
    if !is_e164(from) {
        return Err((21212, format!("Invalid 'From' Phone Number: {from}")));
    }
    if let Some(twiml) = field(fields, "Twiml") {
        if twiml.chars().count() > 4000 {
            return Err((21220, "Twiml exceeds 4000 characters".into()));
        }
        if !twiml.contains("<Response") || !twiml.trim_end().ends_with("</Response>") {
            return Err((
                12100,
                "Document parse failure: Twiml is not a <Response>".into(),
            ));
        }
        if twiml.contains("<Gather") {
            let absolute = gather_action(twiml)
                .and_then(|a| url::Url::parse(&a).ok())
                .is_some_and(|u| matches!(u.scheme(), "http" | "https"));
            if !absolute {
                return Err((12100, "<Gather> action is not an absolute URL".into()));
            }
        }
    }
    if let Some(callback) = field(fields, "StatusCallback") {
        let ok = url::Url::parse(callback).is_ok_and(|u| {
            matches!(u.scheme(), "http" | "https") && u.host_str().is_some_and(|h| !h.contains('_'))
        });
        if !ok {
            return Err((21609, "Invalid StatusCallback URL".into()));
        }
    }
    Ok(())
}

async fn create_call(
    State(shared): State<Arc<VoiceShared>>,
    Path(sid): Path<String>,
    headers: HeaderMap,
    body: Bytes,
) -> Response {
    shared.lock().requests += 1;
    if !authorized(&headers, &shared.base) || sid != shared.base.account_sid {
        return twilio_error(401, 20003, "Authenticate");
    }
    let form_type = headers
        .get(header::CONTENT_TYPE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|t| t.starts_with("application/x-www-form-urlencoded"));
    if !form_type {
        return twilio_error(400, 20001, "Content-Type must be form-encoded");
    }
    let fields: Vec<(String, String)> = url::form_urlencoded::parse(&body).into_owned().collect();
    if let Err((code, message)) = validate(&fields) {
        return twilio_error(400, code, &message);
    }
    if let Some((status, code)) = shared.lock().once.pop_front() {
        return twilio_error(status, code, "Twilio stand-in error");
    }
    let call_sid = format!("CA{:032x}", rand::thread_rng().r#gen::<u128>());
    let twiml = field(&fields, "Twiml").unwrap_or("").to_string();
    let call = RecordedCall {
        sid: call_sid.clone(),
        to: field(&fields, "To").unwrap_or("").into(),
        from: field(&fields, "From").unwrap_or("").into(),
        gather_action: gather_action(&twiml),
        twiml,
        status_callback: field(&fields, "StatusCallback").map(str::to_string),
        status: "queued".into(),
        fields: fields.clone(),
    };
    let answer = json!({
        "sid": call_sid, "account_sid": shared.base.account_sid, "to": call.to,
        "from": call.from, "status": "queued", "direction": "outbound-api",
        "answered_by": null, "duration": null, "price": null, "api_version": "2010-04-01",
        "queue_time": "0",
        "uri": format!("/2010-04-01/Accounts/{sid}/Calls/{call_sid}.json"),
    });
    shared.lock().calls.push(call);
    (StatusCode::CREATED, axum::Json(answer)).into_response()
}

impl TwilioVoiceStandIn {
    /// Starts on 127.0.0.1 with an OS-chosen port, accepting `account_sid:auth_token`.
    pub async fn start(account_sid: &str, auth_token: &str) -> TwilioVoiceStandIn {
        let shared = Arc::new(VoiceShared {
            base: super::Shared::new(account_sid, auth_token),
            inner: Mutex::new(Inner {
                once: VecDeque::new(),
                calls: Vec::new(),
                requests: 0,
                sequence: 0,
            }),
        });
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("twilio voice stand-in: cannot bind 127.0.0.1:0: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => panic!("twilio voice stand-in: no local address: {e}"),
        };
        let app = Router::new()
            .route("/2010-04-01/Accounts/{sid}/Calls.json", post(create_call))
            .fallback(|| async { twilio_error(404, 20404, "The requested resource was not found") })
            .with_state(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "twilio voice stand-in stopped");
            }
        });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        TwilioVoiceStandIn {
            addr,
            shared,
            http,
            server,
        }
    }

    /// `http://127.0.0.1:PORT`: what goes into `[voice] base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Answers the next valid create request with this Twilio error (e.g. 400/21215).
    pub fn push_error_once(&self, http_status: u16, code: u32) {
        self.shared.lock().once.push_back((http_status, code));
    }

    /// The accepted calls, in order.
    pub fn calls(&self) -> Vec<RecordedCall> {
        self.shared.lock().calls.clone()
    }

    /// Every create request, whatever its answer.
    pub fn request_count(&self) -> usize {
        self.shared.lock().requests
    }

    pub async fn wait_for_calls(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<RecordedCall>, WaitTimeout> {
        wait_until("accepted calls", n, timeout, || self.calls()).await
    }

    fn call(&self, sid: &str) -> Result<RecordedCall, StandInError> {
        self.calls()
            .into_iter()
            .find(|c| c.sid == sid)
            .ok_or_else(|| StandInError::UnknownSid(sid.to_string()))
    }

    fn call_params(&self, call: &RecordedCall, status: &str) -> Vec<(String, String)> {
        let seq = {
            let mut inner = self.shared.lock();
            inner.sequence += 1;
            inner.sequence
        };
        [
            ("CallSid", call.sid.clone()),
            ("AccountSid", self.shared.base.account_sid.clone()),
            ("From", call.from.clone()),
            ("To", call.to.clone()),
            ("Called", call.to.clone()),
            ("Caller", call.from.clone()),
            ("CallStatus", status.to_string()),
            ("Direction", "outbound-api".into()),
            ("ApiVersion", "2010-04-01".into()),
            ("SequenceNumber", seq.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect()
    }

    /// Posts the call's status (`completed`, `no-answer`, `busy`, `failed`, …) to its
    /// `StatusCallback`, signed as Twilio signs.
    pub async fn send_call_status(
        &self,
        sid: &str,
        status: &str,
    ) -> Result<HookResponse, StandInError> {
        self.send_call_status_signed(sid, status, Signing::Valid)
            .await
    }

    pub async fn send_call_status_signed(
        &self,
        sid: &str,
        status: &str,
        signing: Signing,
    ) -> Result<HookResponse, StandInError> {
        let call = self.call(sid)?;
        let url = call
            .status_callback
            .clone()
            .ok_or_else(|| StandInError::NoStatusCallback(sid.to_string()))?;
        let mut params = self.call_params(&call, status);
        params.push(("CallbackSource".into(), "call-progress-events".into()));
        if matches!(
            status,
            "completed" | "no-answer" | "busy" | "failed" | "canceled"
        ) {
            params.push((
                "CallDuration".into(),
                if status == "completed" { "21" } else { "0" }.into(),
            ));
        }
        if signing == Signing::Valid {
            let mut inner = self.shared.lock();
            if let Some(c) = inner.calls.iter_mut().find(|c| c.sid == sid) {
                c.status = status.to_string();
            }
        }
        self.post_signed(&url, params, signing).await
    }

    /// The callee presses `digits` while the `<Gather>` listens: posted to its `action`
    /// with the call's parameters and `Digits`, signed; the answer is the TwiML that follows.
    pub async fn press(&self, sid: &str, digits: &str) -> Result<HookResponse, StandInError> {
        self.press_signed(sid, digits, Signing::Valid).await
    }

    pub async fn press_signed(
        &self,
        sid: &str,
        digits: &str,
        signing: Signing,
    ) -> Result<HookResponse, StandInError> {
        let call = self.call(sid)?;
        let url = call
            .gather_action
            .clone()
            .ok_or_else(|| StandInError::Http(format!("call {sid} has no <Gather action>")))?;
        let mut params = self.call_params(&call, "in-progress");
        params.push(("Digits".into(), digits.to_string()));
        self.post_signed(&url, params, signing).await
    }

    async fn post_signed(
        &self,
        url: &str,
        params: Vec<(String, String)>,
        signing: Signing,
    ) -> Result<HookResponse, StandInError> {
        let mut request = self.http.post(url).form(&params);
        let token = match signing {
            Signing::Valid => Some(self.shared.base.auth_token.clone()),
            Signing::Wrong => Some(format!("{}-wrong", self.shared.base.auth_token)),
            Signing::Missing => None,
        };
        if let Some(token) = token {
            request = request.header("X-Twilio-Signature", sign(&token, url, &params));
        }
        let response = request
            .send()
            .await
            .map_err(|e| StandInError::Http(e.to_string()))?;
        let status = response.status().as_u16();
        let content_type = response
            .headers()
            .get(reqwest::header::CONTENT_TYPE)
            .and_then(|v| v.to_str().ok())
            .map(str::to_owned);
        let body = response
            .text()
            .await
            .map_err(|e| StandInError::Http(e.to_string()))?;
        Ok(HookResponse {
            status,
            content_type,
            body,
        })
    }
}

impl Drop for TwilioVoiceStandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn form(items: &[(&str, &str)]) -> Vec<(String, String)> {
        items
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect()
    }

    #[test]
    fn checks_what_twilio_checks() {
        let twiml = "<Response><Gather numDigits=\"1\" action=\"https://h.example/g?a=1&amp;b=2\"><Say>x</Say></Gather></Response>";
        let ok = form(&[
            ("To", "+821012345678"),
            ("From", "+15005550006"),
            ("Twiml", twiml),
            ("StatusCallback", "https://h.example/s"),
        ]);
        assert!(validate(&ok).is_ok());
        assert_eq!(
            gather_action(twiml).as_deref(),
            Some("https://h.example/g?a=1&b=2")
        );
        let no_content = form(&[("To", "+821012345678"), ("From", "+15005550006")]);
        assert_eq!(validate(&no_content).map_err(|e| e.0), Err(21205));
        let bad_to = form(&[
            ("To", "010-1234-5678"),
            ("From", "+15005550006"),
            ("Twiml", twiml),
        ]);
        assert_eq!(validate(&bad_to).map_err(|e| e.0), Err(21211));
        let relative = form(&[
            ("To", "+821012345678"),
            ("From", "+15005550006"),
            (
                "Twiml",
                "<Response><Gather action=\"/g\"></Gather></Response>",
            ),
        ]);
        assert_eq!(validate(&relative).map_err(|e| e.0), Err(12100));
        let underscore = form(&[
            ("To", "+821012345678"),
            ("From", "+15005550006"),
            ("Twiml", twiml),
            ("StatusCallback", "https://a_b.example/s"),
        ]);
        assert_eq!(validate(&underscore).map_err(|e| e.0), Err(21609));
    }
}

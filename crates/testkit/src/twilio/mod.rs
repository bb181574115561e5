//! A stand-in for Twilio's Messages API (reference/twilio/messages-openapi.json).
//!
//! It checks Basic auth, form encoding and the required fields the way Twilio does, answers
//! with Twilio's Message and error shapes, records every request, and can be told to fail.
//! It also plays Twilio's side of the webhooks: signed status callbacks and inbound SMS.
mod api;
mod hooks;
mod segments;
mod voice;

use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

pub use hooks::{HookResponse, Signing, StandInError};
pub use voice::{RecordedCall, TwilioVoiceStandIn};

use crate::{WaitTimeout, wait_until};

/// How the stand-in answers a valid, authenticated create request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Mode {
    /// 201 with a `queued` Message (the default).
    Accept,
    /// 500 with Twilio's error body (code 20500).
    Fail500,
    /// Any Twilio error, e.g. `{ http_status: 400, code: 21211 }` (invalid To).
    TwilioError { http_status: u16, code: u32 },
    /// 429 with code 20429 and, if given, `Retry-After: <secs>`.
    RateLimited { retry_after_secs: Option<u64> },
    /// Never answers (until the client gives up), like a Twilio that hangs.
    Hang,
}

/// One HTTP request to the Messages endpoint, whatever the answer.
#[derive(Debug, Clone)]
pub struct RecordedRequest {
    pub at: SystemTime,
    /// The `{AccountSid}` in the path.
    pub path_account_sid: String,
    pub content_type: Option<String>,
    /// Form fields in the order sent (empty if the body was not a form).
    pub fields: Vec<(String, String)>,
    /// Basic auth matched the account sid and token.
    pub authorized: bool,
    /// The HTTP status answered; `None` while hanging.
    pub answered: Option<u16>,
}

impl RecordedRequest {
    /// The first value of a form field.
    pub fn field(&self, name: &str) -> Option<&str> {
        field(&self.fields, name)
    }
}

/// A message the stand-in accepted (answered 201).
#[derive(Debug, Clone)]
pub struct RecordedMessage {
    pub sid: String,
    pub to: String,
    pub from: Option<String>,
    pub messaging_service_sid: Option<String>,
    pub body: String,
    pub status_callback: Option<String>,
    pub validity_period: Option<u32>,
    pub num_segments: u32,
    /// `queued` at creation, then whatever the last status callback said.
    pub status: String,
    pub fields: Vec<(String, String)>,
    pub at: SystemTime,
}

pub(crate) fn field<'a>(fields: &'a [(String, String)], name: &str) -> Option<&'a str> {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map(|(_, v)| v.as_str())
}

pub(crate) struct Shared {
    account_sid: String,
    auth_token: String,
    inner: Mutex<Inner>,
}

struct Inner {
    mode: Mode,
    once: VecDeque<Mode>,
    per_recipient: HashMap<String, Mode>,
    own_number: String,
    requests: Vec<RecordedRequest>,
    messages: Vec<RecordedMessage>,
}

impl Shared {
    pub(crate) fn new(account_sid: &str, auth_token: &str) -> Shared {
        Shared {
            account_sid: account_sid.to_string(),
            auth_token: auth_token.to_string(),
            inner: Mutex::new(Inner {
                mode: Mode::Accept,
                once: VecDeque::new(),
                per_recipient: HashMap::new(),
                own_number: "+15005550006".into(),
                requests: Vec::new(),
                messages: Vec::new(),
            }),
        }
    }

    /// A panicking test thread must not hide the records from the others.
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The mode for the next request to `to`: one-shot modes first, then the recipient's,
    /// then the global one.
    fn mode_for(&self, to: &str) -> Mode {
        let mut inner = self.lock();
        if let Some(mode) = inner.once.pop_front() {
            return mode;
        }
        inner
            .per_recipient
            .get(to)
            .cloned()
            .unwrap_or_else(|| inner.mode.clone())
    }
}

/// The running stand-in. Dropping it stops the server.
pub struct TwilioStandIn {
    addr: SocketAddr,
    shared: Arc<Shared>,
    http: reqwest::Client,
    server: tokio::task::JoinHandle<()>,
}

impl TwilioStandIn {
    /// Starts on 127.0.0.1 with an OS-chosen port, accepting `account_sid:auth_token`.
    ///
    /// Panics if it cannot bind a loopback port: nothing in a test can go on without it.
    pub async fn start(account_sid: &str, auth_token: &str) -> TwilioStandIn {
        let shared = Arc::new(Shared {
            account_sid: account_sid.to_string(),
            auth_token: auth_token.to_string(),
            inner: Mutex::new(Inner {
                mode: Mode::Accept,
                once: VecDeque::new(),
                per_recipient: HashMap::new(),
                own_number: "+15005550006".into(),
                requests: Vec::new(),
                messages: Vec::new(),
            }),
        });
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("twilio stand-in: cannot bind 127.0.0.1:0: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => panic!("twilio stand-in: no local address: {e}"),
        };
        let app = api::router(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "twilio stand-in stopped");
            }
        });
        let http = reqwest::Client::builder()
            .timeout(Duration::from_secs(30))
            .build()
            .unwrap_or_default();
        TwilioStandIn {
            addr,
            shared,
            http,
            server,
        }
    }

    /// `http://127.0.0.1:PORT`: what goes into `[[sms]] base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn account_sid(&self) -> &str {
        &self.shared.account_sid
    }

    /// How every later request is answered (unless a one-shot or recipient mode applies).
    pub fn set_mode(&self, mode: Mode) {
        self.shared.lock().mode = mode;
    }

    /// Answers requests to `to` this way, whatever the global mode (e.g. 21211 for one number).
    pub fn set_recipient_mode(&self, to: &str, mode: Mode) {
        self.shared
            .lock()
            .per_recipient
            .insert(to.to_string(), mode);
    }

    /// Answers the next valid request this way, then goes back to the other modes; queued
    /// one-shots apply in order (e.g. two 500s, then accept: a retry test).
    pub fn push_once(&self, mode: Mode) {
        self.shared.lock().once.push_back(mode);
    }

    /// The stand-in's own number: `To` of inbound SMS (default `+15005550006`).
    pub fn set_own_number(&self, number: &str) {
        self.shared.lock().own_number = number.to_string();
    }

    /// Every request to the Messages endpoint, in arrival order.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared.lock().requests.clone()
    }

    pub fn request_count(&self) -> usize {
        self.shared.lock().requests.len()
    }

    /// The accepted messages, in order.
    pub fn messages(&self) -> Vec<RecordedMessage> {
        self.shared.lock().messages.clone()
    }

    /// Waits until at least `n` messages were accepted.
    pub async fn wait_for_messages(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<RecordedMessage>, WaitTimeout> {
        wait_until("accepted SMS", n, timeout, || self.messages()).await
    }

    /// Waits until at least `n` requests arrived, whatever their answer.
    pub async fn wait_for_requests(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<RecordedRequest>, WaitTimeout> {
        wait_until("Twilio requests", n, timeout, || self.requests()).await
    }
}

impl Drop for TwilioStandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

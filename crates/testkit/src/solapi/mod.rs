//! A stand-in for Solapi's Messages API v4 (reference/solapi).
//!
//! It checks what Solapi checks: the HMAC-SHA256 `Authorization` header (known key, signature,
//! date within 15 minutes, no signature used twice), the body and each message's required
//! fields, EUC-KR byte limits (SMS 90, LMS 2,000, subject 40), characters outside EUC-KR
//! (1029) and the registered sender number (1062); it answers `send-many/detail` with per-message
//! outcomes (failures chosen per recipient) and `GET /messages/v4/list` with delivery reports,
//! and can be told to fail (5xx, slow, `InvalidAPIKey`).
mod api;

use std::collections::{HashMap, HashSet, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use crate::{WaitTimeout, wait_until};

/// A fault to answer a request with, instead of doing what it asks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum SolapiFault {
    /// HTTP 503 with an error body.
    ServerError,
    /// Wait this long, then answer normally (a client timeout shorter than it gives up).
    Slow(Duration),
    /// 403 `InvalidAPIKey`, as for a revoked key.
    InvalidApiKey,
    /// 402 `NotEnoughBalance`.
    NotEnoughBalance,
}

/// One HTTP request, whatever the answer.
#[derive(Debug, Clone)]
pub struct SolapiRequest {
    pub at: Instant,
    pub method: String,
    pub path: String,
    /// `Ok` when the signature checked out, else Solapi's error code.
    pub auth: Result<(), String>,
    /// Messages in a send request.
    pub messages: usize,
    pub answered: u16,
}

/// A message the stand-in accepted (status 2000 at intake).
#[derive(Debug, Clone)]
pub struct SolapiMessage {
    pub message_id: String,
    pub group_id: String,
    pub to: String,
    pub from: String,
    pub text: String,
    /// `SMS` or `LMS`.
    pub kind: String,
    pub subject: Option<String>,
    /// EUC-KR bytes of `text`.
    pub bytes: usize,
    pub custom_fields: HashMap<String, String>,
    pub at: Instant,
}

pub(crate) struct Shared {
    api_key: String,
    api_secret: String,
    inner: Mutex<Inner>,
}

struct Inner {
    senders: HashSet<String>,
    fault: Option<SolapiFault>,
    once: VecDeque<SolapiFault>,
    /// Intake status code per recipient (national number), e.g. `1060` blocked.
    refuse: HashMap<String, String>,
    /// Final report code per recipient; default `4000`.
    reports: HashMap<String, String>,
    signatures: HashSet<String>,
    requests: Vec<SolapiRequest>,
    messages: Vec<SolapiMessage>,
    /// Index into `messages` by message id (list requests name ids; a national fan-out
    /// holds a million messages).
    by_id: HashMap<String, usize>,
    refused: Vec<(String, String)>,
}

impl Shared {
    fn lock(&self) -> MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn fault(&self) -> Option<SolapiFault> {
        let mut inner = self.lock();
        inner.once.pop_front().or_else(|| inner.fault.clone())
    }
}

/// The running stand-in. Dropping it stops the server.
pub struct SolapiStandIn {
    addr: SocketAddr,
    shared: Arc<Shared>,
    server: tokio::task::JoinHandle<()>,
}

impl SolapiStandIn {
    /// The sender number registered by default.
    pub const SENDER: &'static str = "0212345678";

    /// Starts on 127.0.0.1 with an OS-chosen port, accepting `api_key` signed with
    /// `api_secret`; [`Self::SENDER`] is the one registered sender number.
    pub async fn start(api_key: &str, api_secret: &str) -> SolapiStandIn {
        let shared = Arc::new(Shared {
            api_key: api_key.to_string(),
            api_secret: api_secret.to_string(),
            inner: Mutex::new(Inner {
                senders: HashSet::from([Self::SENDER.to_string()]),
                fault: None,
                once: VecDeque::new(),
                refuse: HashMap::new(),
                reports: HashMap::new(),
                signatures: HashSet::new(),
                requests: Vec::new(),
                messages: Vec::new(),
                by_id: HashMap::new(),
                refused: Vec::new(),
            }),
        });
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("solapi stand-in: cannot bind 127.0.0.1:0: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => panic!("solapi stand-in: no local address: {e}"),
        };
        let app = api::router(shared.clone());
        let server = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::error!(error = %e, "solapi stand-in stopped");
            }
        });
        SolapiStandIn {
            addr,
            shared,
            server,
        }
    }

    /// `http://127.0.0.1:PORT`: what goes into `[[sms]] base_url`.
    pub fn base_url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Replaces the registered sender numbers (digits only).
    pub fn set_registered_senders(&self, senders: &[&str]) {
        self.shared.lock().senders = senders.iter().map(|s| s.to_string()).collect();
    }

    /// Answers every later request with this fault (`None`: normally again).
    pub fn set_fault(&self, fault: Option<SolapiFault>) {
        self.shared.lock().fault = fault;
    }

    /// Answers the next request with this fault; queued ones apply in order.
    pub fn push_fault_once(&self, fault: SolapiFault) {
        self.shared.lock().once.push_back(fault);
    }

    /// Refuses messages to `to` (national, `01012345678`) at intake with `code` (`1060`…).
    pub fn refuse_recipient(&self, to: &str, code: &str) {
        self.shared
            .lock()
            .refuse
            .insert(to.to_string(), code.to_string());
    }

    /// The final report of messages to `to`: `4000` delivered (the default), `3043` handset
    /// off, `3000` still at the carrier.
    pub fn set_report(&self, to: &str, code: &str) {
        self.shared
            .lock()
            .reports
            .insert(to.to_string(), code.to_string());
    }

    pub fn requests(&self) -> Vec<SolapiRequest> {
        self.shared.lock().requests.clone()
    }

    /// Send requests only (not list requests).
    pub fn send_requests(&self) -> Vec<SolapiRequest> {
        self.requests()
            .into_iter()
            .filter(|r| r.method == "POST")
            .collect()
    }

    /// The accepted messages, in order.
    pub fn messages(&self) -> Vec<SolapiMessage> {
        self.shared.lock().messages.clone()
    }

    /// How many messages were accepted so far.
    pub fn message_count(&self) -> usize {
        self.shared.lock().messages.len()
    }

    /// `(to, accepted at)` of the messages accepted from position `from` on (a cheap way to
    /// follow a large fan-out without copying every text).
    pub fn accepted_since(&self, from: usize) -> Vec<(String, Instant)> {
        let inner = self.shared.lock();
        inner
            .messages
            .get(from..)
            .unwrap_or_default()
            .iter()
            .map(|m| (m.to.clone(), m.at))
            .collect()
    }

    /// Messages refused at intake: `(to, status code)`.
    pub fn refused(&self) -> Vec<(String, String)> {
        self.shared.lock().refused.clone()
    }

    /// Waits until at least `n` messages were accepted.
    pub async fn wait_for_messages(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<SolapiMessage>, WaitTimeout> {
        wait_until("accepted Solapi messages", n, timeout, || self.messages()).await
    }
}

impl Drop for SolapiStandIn {
    fn drop(&mut self) {
        self.server.abort();
    }
}

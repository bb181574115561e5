//! A minimal but real SMTP server (RFC 5321 subset) that keeps what it receives.
//!
//! Real enough that lettre talks to it exactly as to a relay: EHLO/HELO, MAIL, RCPT, DATA with
//! dot-unstuffing, RSET, NOOP, QUIT, and AUTH PLAIN/LOGIN (any credentials are accepted and
//! recorded). No TLS. The received mail is parsed with mail-parser, so tests read the decoded
//! subject and text whatever transfer encoding (quoted-printable, base64) or RFC 2047 header
//! encoding the client chose for Korean text.
mod session;

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, SystemTime};

use mail_parser::{MessageParser, PartType};

use crate::{WaitTimeout, wait_until};

/// One message as received in DATA.
#[derive(Debug, Clone)]
pub struct ReceivedMail {
    /// The MAIL FROM address (without `<>`).
    pub from: String,
    /// Every accepted RCPT TO address.
    pub to: Vec<String>,
    /// The message as sent, dot-unstuffed, lines ending in CRLF.
    pub data: Vec<u8>,
    /// User and password from AUTH, if the client authenticated.
    pub auth: Option<(String, String)>,
    pub at: SystemTime,
}

impl ReceivedMail {
    fn parsed(&self) -> Option<mail_parser::Message<'_>> {
        MessageParser::default().parse(&self.data)
    }

    /// The decoded `Subject` (RFC 2047 words joined).
    pub fn subject(&self) -> Option<String> {
        self.parsed()?.subject().map(str::to_owned)
    }

    /// The decoded first text/plain part (or the text of the HTML part if there is none).
    pub fn text(&self) -> Option<String> {
        self.parsed()?.body_text(0).map(|t| t.into_owned())
    }

    /// The decoded first text/html part, only if the message really has one.
    pub fn html(&self) -> Option<String> {
        let parsed = self.parsed()?;
        match &parsed.html_part(0)?.body {
            PartType::Html(html) => Some(html.to_string()),
            _ => None,
        }
    }

    /// A header's raw (undecoded) value, e.g. `Content-Type`.
    pub fn raw_header(&self, name: &str) -> Option<String> {
        let parsed = self.parsed()?;
        parsed.header_raw(name).map(|v| v.trim().to_owned())
    }

    /// The raw message as text (lossy), for assertions on encodings.
    pub fn raw(&self) -> String {
        String::from_utf8_lossy(&self.data).into_owned()
    }
}

pub(crate) struct SmtpState {
    refusing: AtomicBool,
    rejecting_recipients: AtomicBool,
    connections: AtomicUsize,
    received: Mutex<Vec<ReceivedMail>>,
}

impl SmtpState {
    fn received(&self) -> MutexGuard<'_, Vec<ReceivedMail>> {
        self.received
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

/// The running server. Dropping it stops accepting connections.
pub struct SmtpServer {
    addr: SocketAddr,
    state: Arc<SmtpState>,
    task: tokio::task::JoinHandle<()>,
}

impl SmtpServer {
    /// Starts on 127.0.0.1 with an OS-chosen port. Panics if no loopback port can be bound.
    pub async fn start() -> SmtpServer {
        let listener = match tokio::net::TcpListener::bind("127.0.0.1:0").await {
            Ok(l) => l,
            Err(e) => panic!("smtp stand-in: cannot bind 127.0.0.1:0: {e}"),
        };
        let addr = match listener.local_addr() {
            Ok(a) => a,
            Err(e) => panic!("smtp stand-in: no local address: {e}"),
        };
        let state = Arc::new(SmtpState {
            refusing: AtomicBool::new(false),
            rejecting_recipients: AtomicBool::new(false),
            connections: AtomicUsize::new(0),
            received: Mutex::new(Vec::new()),
        });
        let accept_state = state.clone();
        let task = tokio::spawn(async move {
            loop {
                match listener.accept().await {
                    Ok((stream, _)) => {
                        accept_state.connections.fetch_add(1, Ordering::SeqCst);
                        tokio::spawn(session::run(stream, accept_state.clone()));
                    }
                    Err(e) => tracing::warn!(error = %e, "smtp stand-in: accept failed"),
                }
            }
        });
        SmtpServer { addr, state, task }
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `smtp://127.0.0.1:PORT`: what goes into `[email] smtp_url`.
    pub fn url(&self) -> String {
        format!("smtp://{}", self.addr)
    }

    /// While true, new connections get `421` at once and `MAIL` on an open (pooled)
    /// connection gets `451`: the client sees a transient failure either way.
    pub fn set_refusing(&self, refusing: bool) {
        self.state.refusing.store(refusing, Ordering::SeqCst);
    }

    /// While true, every `RCPT TO` gets `550 5.1.1` (mailbox unavailable): a permanent failure.
    pub fn set_rejecting_recipients(&self, rejecting: bool) {
        self.state
            .rejecting_recipients
            .store(rejecting, Ordering::SeqCst);
    }

    /// Connections accepted so far (refused ones included).
    pub fn connection_count(&self) -> usize {
        self.state.connections.load(Ordering::SeqCst)
    }

    /// Every message received so far, in order.
    pub fn received(&self) -> Vec<ReceivedMail> {
        self.state.received().clone()
    }

    /// Waits until at least `n` messages were received.
    pub async fn wait_for(
        &self,
        n: usize,
        timeout: Duration,
    ) -> Result<Vec<ReceivedMail>, WaitTimeout> {
        wait_until("emails", n, timeout, || self.received()).await
    }
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

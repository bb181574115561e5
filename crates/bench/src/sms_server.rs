//! An unlimited local SMS provider: a tiny axum server speaking the one call of Twilio's
//! Messages API the dispatcher makes, answering `201 Created` with a message sid at once.
//! It notes when the first and the latest requests arrived.
use crate::reach::Reach;
use axum::Router;
use axum::extract::State;
use axum::http::StatusCode;
use axum::routing::post;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio_util::sync::CancellationToken;

pub struct Seen {
    base: Instant,
    /// When set, each request's `To` is noted as reached by SMS.
    reach: Option<Arc<Reach>>,
    pub count: AtomicU64,
    /// Nanoseconds after `base` of the first request (0: none yet).
    first_ns: AtomicU64,
    /// Nanoseconds after `base` of the latest request.
    last_ns: AtomicU64,
}

impl Seen {
    pub fn first(&self) -> Option<Instant> {
        let ns = self.first_ns.load(Ordering::Relaxed);
        (ns > 0).then(|| self.base + Duration::from_nanos(ns))
    }

    /// A fresh tally (between phases of one run).
    pub fn reset(&self) {
        self.count.store(0, Ordering::Relaxed);
        self.first_ns.store(0, Ordering::Relaxed);
        self.last_ns.store(0, Ordering::Relaxed);
    }

    pub fn last(&self) -> Option<Instant> {
        let ns = self.last_ns.load(Ordering::Relaxed);
        (ns > 0).then(|| self.base + Duration::from_nanos(ns))
    }

    pub fn requests(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

pub struct SmsServer {
    pub base_url: String,
    pub seen: Arc<Seen>,
    stop: CancellationToken,
}

async fn create_message(
    State(seen): State<Arc<Seen>>,
    body: axum::body::Bytes,
) -> (StatusCode, [(&'static str, &'static str); 1], String) {
    if let Some(reach) = &seen.reach
        && let Some((_, to)) = url::form_urlencoded::parse(&body).find(|(k, _)| k == "To")
    {
        reach.mark(&to, true, Instant::now());
    }
    let ns = (seen.base.elapsed().as_nanos() as u64).max(1);
    let _ = seen
        .first_ns
        .compare_exchange(0, ns, Ordering::Relaxed, Ordering::Relaxed);
    seen.last_ns.fetch_max(ns, Ordering::Relaxed);
    let n = seen.count.fetch_add(1, Ordering::Relaxed) + 1;
    let body = format!("{{\"sid\":\"SM{n:032x}\",\"status\":\"queued\"}}");
    (
        StatusCode::CREATED,
        [("content-type", "application/json")],
        body,
    )
}

impl SmsServer {
    pub async fn start() -> anyhow::Result<SmsServer> {
        Self::start_with(None).await
    }

    /// Like [`SmsServer::start`], noting each recipient in `reach`.
    pub async fn start_with(reach: Option<Arc<Reach>>) -> anyhow::Result<SmsServer> {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
        let port = listener.local_addr()?.port();
        let seen = Arc::new(Seen {
            base: Instant::now(),
            reach,
            count: AtomicU64::new(0),
            first_ns: AtomicU64::new(0),
            last_ns: AtomicU64::new(0),
        });
        let app = Router::new()
            .route(
                "/2010-04-01/Accounts/{sid}/Messages.json",
                post(create_message),
            )
            .with_state(seen.clone());
        let stop = CancellationToken::new();
        let s = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, app)
                .with_graceful_shutdown(async move { s.cancelled().await })
                .await;
        });
        Ok(SmsServer {
            base_url: format!("http://127.0.0.1:{port}"),
            seen,
            stop,
        })
    }
}

impl Drop for SmsServer {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

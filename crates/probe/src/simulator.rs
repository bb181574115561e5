//! A loopback HTTP server that plays every preset's provider (same paths as the real ones), with
//! a switchable [`Mode`] per [`Service`] — for tests, the demo's "1015 fire", and humans:
//! `GET /__sim` lists the modes, `POST /__sim/{service}/{mode}[?ms=N]` flips one
//! (`service` is a preset slug; `mode` is `up`, `down`, `slow`, `provider_error`, `bad_key`, `hang`).
//! Each service counts the requests that reached it ([`SimulatorHandle::requests`]; also in
//! `GET /__sim` as `requests`).
use axum::Router;
use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::Response;
use axum::routing::{get, post};
use serde::Deserialize;
use serde_json::{Value, json};
use std::collections::BTreeMap;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;
use tokio::sync::watch;

/// A simulated provider; `slug()` is the preset it stands behind.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Service {
    KakaoLogin,
    KakaoMap,
    KakaoPay,
    KakaoTalkChannel,
    NaverLogin,
    Toss,
    TwilioStatus,
}

impl Service {
    pub const ALL: [Service; 7] = [
        Service::KakaoLogin,
        Service::KakaoMap,
        Service::KakaoPay,
        Service::KakaoTalkChannel,
        Service::NaverLogin,
        Service::Toss,
        Service::TwilioStatus,
    ];

    pub fn slug(self) -> &'static str {
        match self {
            Service::KakaoLogin => "kakao-login",
            Service::KakaoMap => "kakao-map",
            Service::KakaoPay => "kakaopay",
            Service::KakaoTalkChannel => "kakaotalk-channel",
            Service::NaverLogin => "naver-login",
            Service::Toss => "toss-payments",
            Service::TwilioStatus => "twilio",
        }
    }

    pub fn parse(s: &str) -> Option<Service> {
        Service::ALL.into_iter().find(|svc| svc.slug() == s)
    }

    fn index(self) -> usize {
        self as usize
    }
}

/// How a simulated provider behaves.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Mode {
    #[default]
    Up,
    /// 503 with the provider's error body.
    Down,
    /// Answers normally after this delay.
    Slow(Duration),
    /// Kakao: 200 with code -9798 (maintenance); Toss: 500 `PROVIDER_ERROR`; others 500.
    ProviderError,
    /// 401 (Kakao -401, Toss `UNAUTHORIZED_KEY`).
    BadKey,
    /// Never answers (until the mode changes).
    Hang,
}

impl Mode {
    pub fn name(self) -> &'static str {
        match self {
            Mode::Up => "up",
            Mode::Down => "down",
            Mode::Slow(_) => "slow",
            Mode::ProviderError => "provider_error",
            Mode::BadKey => "bad_key",
            Mode::Hang => "hang",
        }
    }

    /// `slow` takes `ms` (default 2000).
    pub fn parse(name: &str, ms: Option<u64>) -> Option<Mode> {
        Some(match name {
            "up" => Mode::Up,
            "down" => Mode::Down,
            "slow" => Mode::Slow(Duration::from_millis(ms.unwrap_or(2000))),
            "provider_error" | "provider-error" => Mode::ProviderError,
            "bad_key" | "bad-key" => Mode::BadKey,
            "hang" => Mode::Hang,
            _ => return None,
        })
    }

    fn to_json(self) -> Value {
        match self {
            Mode::Slow(d) => json!({"mode": self.name(), "delay_ms": d.as_millis() as u64}),
            _ => json!({"mode": self.name()}),
        }
    }
}

/// Longest a `hang` holds a request if the mode never changes.
const HANG_MAX: Duration = Duration::from_secs(600);

struct SimState {
    base_url: String,
    modes: watch::Sender<[Mode; 7]>,
    /// Requests that reached each service's endpoints (whatever the mode).
    requests: [AtomicU64; 7],
}

/// Starts simulators.
pub struct Simulator;

/// A running simulator. Clones share it; it runs until [`SimulatorHandle::stop`] or the runtime ends.
#[derive(Clone)]
pub struct SimulatorHandle {
    state: Arc<SimState>,
    addr: SocketAddr,
    task: tokio::task::AbortHandle,
}

impl std::fmt::Debug for SimulatorHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SimulatorHandle")
            .field("base_url", &self.state.base_url)
            .finish()
    }
}

impl Simulator {
    /// Binds `addr` (port 0 for any) and serves in a background task.
    pub async fn start(addr: SocketAddr) -> std::io::Result<SimulatorHandle> {
        let listener = tokio::net::TcpListener::bind(addr).await?;
        let mut local = listener.local_addr()?;
        if local.ip().is_unspecified() {
            let loopback = match local.ip() {
                IpAddr::V4(_) => IpAddr::V4(Ipv4Addr::LOCALHOST),
                IpAddr::V6(_) => IpAddr::V6(Ipv6Addr::LOCALHOST),
            };
            local.set_ip(loopback);
        }
        let (modes, _) = watch::channel([Mode::Up; 7]);
        let state = Arc::new(SimState {
            base_url: format!("http://{local}"),
            modes,
            requests: Default::default(),
        });
        let app = router(Arc::clone(&state));
        let task = tokio::spawn(async move {
            if let Err(e) = axum::serve(listener, app).await {
                tracing::warn!(error = %e, "simulator stopped");
            }
        });
        Ok(SimulatorHandle {
            state,
            addr: local,
            task: task.abort_handle(),
        })
    }
}

impl SimulatorHandle {
    /// `http://127.0.0.1:PORT`, for [`crate::presets::PresetBases::all`].
    pub fn base_url(&self) -> String {
        self.state.base_url.clone()
    }

    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    pub fn set_mode(&self, service: Service, mode: Mode) {
        self.state.modes.send_modify(|m| m[service.index()] = mode);
        tracing::info!(
            sim.service = service.slug(),
            sim.mode = mode.name(),
            "simulator mode changed"
        );
    }

    pub fn mode(&self, service: Service) -> Mode {
        self.state.modes.borrow()[service.index()]
    }

    /// Every service's mode, keyed by slug.
    pub fn modes(&self) -> BTreeMap<&'static str, Mode> {
        let modes = *self.state.modes.borrow();
        Service::ALL
            .into_iter()
            .map(|s| (s.slug(), modes[s.index()]))
            .collect()
    }

    /// How many requests reached `service`'s endpoints since start, in any mode: what probing
    /// costs the provider (replicas sharing a location should cost one request per slot).
    pub fn requests(&self, service: Service) -> u64 {
        self.state.requests[service.index()].load(Ordering::SeqCst)
    }

    /// Stops serving (requests in flight are dropped).
    pub fn stop(&self) {
        self.task.abort();
    }
}

type Shared = State<Arc<SimState>>;

mod providers;

use providers::{
    json_response, kakao_discovery, kakao_jwks, kakao_map, kakaopay_ready, naver_authorize,
    talk_channel, toss_order, twilio_summary,
};

fn router(state: Arc<SimState>) -> Router {
    Router::new()
        .route("/.well-known/openid-configuration", get(kakao_discovery))
        .route("/.well-known/jwks.json", get(kakao_jwks))
        .route("/v2/local/search/address.json", get(kakao_map))
        .route("/online/v1/payment/ready", post(kakaopay_ready))
        .route("/oauth2.0/authorize", get(naver_authorize))
        .route("/v1/payments/orders/{order_id}", get(toss_order))
        .route("/api/v2/summary.json", get(twilio_summary))
        .route("/__sim", get(admin_list))
        .route("/__sim/{service}/{mode}", post(admin_set))
        .route("/{channel}", get(talk_channel))
        .with_state(state)
}

fn modes_json(state: &SimState) -> Value {
    let modes = *state.modes.borrow();
    let map: serde_json::Map<String, Value> = Service::ALL
        .into_iter()
        .map(|s| {
            let mut v = modes[s.index()].to_json();
            v["requests"] = json!(state.requests[s.index()].load(Ordering::SeqCst));
            (s.slug().to_string(), v)
        })
        .collect();
    Value::Object(map)
}

async fn admin_list(State(s): Shared) -> Response {
    json_response(StatusCode::OK, modes_json(&s))
}

#[derive(Deserialize)]
struct ModeQuery {
    ms: Option<u64>,
}

async fn admin_set(
    State(s): Shared,
    Path((service, mode)): Path<(String, String)>,
    Query(q): Query<ModeQuery>,
) -> Response {
    let Some(svc) = Service::parse(&service) else {
        let known: Vec<&str> = Service::ALL.iter().map(|s| s.slug()).collect();
        return json_response(
            StatusCode::NOT_FOUND,
            json!({"error": format!("unknown service `{service}`"), "known": known}),
        );
    };
    let Some(mode) = Mode::parse(&mode, q.ms) else {
        return json_response(
            StatusCode::BAD_REQUEST,
            json!({"error": format!("unknown mode `{mode}`"), "known": ["up", "down", "slow", "provider_error", "bad_key", "hang"]}),
        );
    };
    s.modes.send_modify(|m| m[svc.index()] = mode);
    tracing::info!(
        sim.service = svc.slug(),
        sim.mode = mode.name(),
        "simulator mode changed"
    );
    json_response(StatusCode::OK, modes_json(&s))
}

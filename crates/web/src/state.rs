//! What every handler can reach.
use meoktong_config::Settings;
use meoktong_metrics::Metrics;
use meoktong_storage::{Crypto, Db};
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub db: Db,
    pub crypto: Arc<Crypto>,
    pub settings: Arc<Settings>,
    pub metrics: Metrics,
    /// `/dev/outbox` is served only by `meoktong demo` (and tests), never by `serve`.
    pub dev_mode: bool,
    /// Auth tokens of the configured Twilio accounts: callbacks must be signed by one of them.
    pub twilio_auth_tokens: Vec<meoktong_config::Secret>,
    /// Wakes the dispatcher when a web action queued messages (test alerts, acknowledgements).
    pub outbox_changed: std::sync::Arc<tokio::sync::Notify>,
    /// Shared renderings and read models (status pages, latency series).
    pub caches: crate::cache::Caches,
    /// What the catalog says beyond names and checks: English lines, technical detail and the
    /// customer centres playbooks tell merchants to call (`meoktong_probe::presets::extras`).
    pub catalog_extras: Arc<meoktong_domain::helpline::CatalogExtras>,
}

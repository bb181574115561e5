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
}

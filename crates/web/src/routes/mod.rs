//! The route table.
use crate::AppState;
use axum::Router;
use axum::routing::get;
use axum::routing::post;

pub mod alert;
pub mod dev;
pub mod health;
pub mod hooks;
pub mod status;

pub fn router(state: AppState) -> Router {
    Router::new()
        .route("/", get(status::home))
        .route("/healthz", get(health::healthz))
        .route("/readyz", get(health::readyz))
        .route("/metrics", get(health::metrics))
        .route("/status", get(status::page))
        .route("/status.json", get(status::json))
        .route("/dev/outbox", get(dev::outbox))
        .route("/hooks/twilio/status", post(hooks::status))
        .route("/hooks/twilio/inbound", post(hooks::inbound))
        .route("/a/{token}", get(alert::page))
        .route("/a/{token}/ack", post(alert::ack))
        .route("/static/app.css", get(status::stylesheet))
        .with_state(state)
}

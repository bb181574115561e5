//! The route table.
use crate::AppState;
use axum::Router;
use axum::routing::get;
use axum::routing::post;

pub mod account;
pub mod agent;
pub mod alert;
pub mod alert_words;
pub mod api;
pub mod association;
pub mod dashboard;
pub mod dev;
pub mod feed;
pub mod health;
pub mod heartbeat;
pub mod hooks;
pub mod operator;
pub mod operator_status;
pub mod order_sheet;
pub mod reports;
pub mod status;
pub mod status_incident;
pub mod status_page;
pub mod subscribe;
pub mod voice_hooks;

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
        .route(
            meoktong_notify::compose::VOICE_STATUS_PATH,
            post(voice_hooks::status),
        )
        .route(
            meoktong_notify::compose::VOICE_GATHER_PATH,
            post(voice_hooks::gather),
        )
        .route("/a/{token}", get(alert::page))
        .route("/a/{token}/ack", post(alert::ack))
        .route("/a/{token}/order-sheet", get(order_sheet::for_alert))
        .route("/dashboard/order-sheet", get(order_sheet::for_merchant))
        .route("/hb/{token}", get(heartbeat::ping).post(heartbeat::ping))
        .route("/static/app.css", get(status::stylesheet))
        .merge(account::routes())
        .merge(dashboard::routes())
        .merge(api::routes())
        .merge(operator::routes())
        .merge(operator_status::routes())
        .merge(subscribe::routes())
        .route("/status/feed.atom", get(feed::atom))
        .route("/status/{slug}", get(status::dependency_page))
        .route(
            "/status/incidents/{id}",
            get(status_incident::incident_page),
        )
        .route("/status/{slug}/badge.svg", get(status_incident::badge))
        .merge(reports::router())
        .merge(association::routes())
        .with_state(state)
}

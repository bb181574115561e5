//! The web edge: status pages, JSON API, provider hooks, health and metrics.
//!
//! Handlers are thin: extract, call one use case, render. Routes live in modules named after
//! the resource (`routes::health`, `routes::status`, `routes::dev`).
#![forbid(unsafe_code)]

pub mod auth;
pub mod cache;
pub mod csv_out;
pub mod error;
pub mod i18n;
pub mod layers;
pub mod routes;
pub mod state;

pub use state::AppState;

use axum::Router;

/// The whole HTTP surface of one process.
pub fn router(state: AppState) -> Router {
    layers::around(routes::router(state))
}

//! The web edge: status pages, JSON API, provider hooks, health and metrics.
//!
//! Where things live:
//! - `routes`: the handlers, by audience and resource — public pages (`status`, `status_page`,
//!   `feed`, `alert`, `heartbeat`, `health`, `dev`), accounts (`account`), the merchant's
//!   dashboard (`dashboard`), damage reports (`reports`), operators (`operator`), the JSON API
//!   (`api`), provider callbacks (`hooks`) and remote agents (`agent`). Handlers are thin:
//!   extract, call one use case, render; a route module never reaches into a sibling's
//!   internals.
//! - `services`: use cases several handlers share (a merchant's contacts, playbooks and test
//!   alerts; the webhook; the limits on messages a user can make us send).
//! - `views`: what every rendered page shares (language, time zone, times, form fields) and
//!   read models such as the uptime bars.
//! - `extract`: request extractors shared across audiences (the client's address).
//! - `auth`, `layers`, `error`, `cache`, `csv_out`: sessions and passwords, the security layer
//!   around every route, the one error type, shared caches, the guarded CSV writer.
//! - `import`: the merchant CSV importer (`meoktong merchant import` and an association's
//!   members upload share it).
#![forbid(unsafe_code)]

pub mod auth;
pub mod cache;
pub mod csv_out;
pub mod error;
pub mod extract;
pub mod i18n;
pub mod import;
pub mod layers;
pub mod routes;
pub mod services;
pub mod state;
pub mod views;

pub use state::AppState;

use axum::Router;

/// The whole HTTP surface of one process.
pub fn router(state: AppState) -> Router {
    layers::around(routes::router(state))
}

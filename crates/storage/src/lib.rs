//! Storage on sea-orm, the same code for SQLite (embedded) and PostgreSQL (production).
//!
//! - [`db`]: connecting, applying migrations, readiness.
//! - [`crypto`]: personal data encrypted at rest (AES-256-GCM) and keyed hashes for look-ups.
//! - [`entity`]: one module per table.
//! - the remaining modules are the queries each use case needs, grouped by resource.
#![forbid(unsafe_code)]

pub mod accounts;
pub mod audit;
pub mod broadcasts;
pub mod catalog;
pub mod contact_book;
pub mod contacts;
pub mod crypto;
pub mod dashboard;
pub mod db;
pub mod dev_outbox;
pub mod entity;
pub mod error;
pub mod heartbeats;
pub mod incidents;
pub mod member_reach;
pub mod members;
pub mod merchants;
pub mod operator;
pub mod outbox;
pub mod probes;
pub mod provider_states;
pub mod rekey;
pub mod reports;
pub mod sessions;
pub mod sms_reports;
pub mod sql;
pub mod status;
pub mod users;
pub mod webhooks;

pub use crypto::{Crypto, DataKeyError};
pub use db::{Backend, Db};
pub use error::StorageError;
pub use sea_orm;

/// Milliseconds since the Unix epoch, the unit of every stored time.
pub fn now_ms() -> i64 {
    chrono::Utc::now().timestamp_millis()
}

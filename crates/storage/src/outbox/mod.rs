//! Notices and the durable outbox: planning writes here, dispatchers claim from here.
//!
//! States of an outbox row: `waiting` (a fallback not yet due), `pending` (due at
//! `next_attempt_at`), `sending` (claimed; the claim expires so a crashed process's work is
//! taken over), `accepted` (the provider took it), `delivered`, `failed`, `expired`,
//! `cancelled` (acknowledged, or a fallback no longer needed).
//!
//! The parts, by concern:
//! - [`states`]: the column values of channels, message states and notice statuses as types;
//! - `write`: notices, their keys and first messages written (planner, heartbeat sweeper,
//!   test alerts), and messages added on escalation;
//! - `read`: notices and messages read back, and who was told what;
//! - `claim`: dispatchers claim due messages under a lease;
//! - `delivery`: accepted, retried, given up, delivered; attempts; early callbacks;
//! - `fallback`: waiting email fallbacks made due or cancelled; the queue's depth;
//! - `open_notices`: acknowledgement, escalation to the next contact, closing;
//! - `voice`: alert calls due before the next contact, and their final status;
//! - `link`: alert-link tokens.
mod claim;
mod delivery;
mod fallback;
mod link;
mod open_notices;
mod read;
pub mod states;
mod voice;
mod write;

pub use claim::*;
pub use delivery::*;
pub use fallback::*;
pub use link::*;
pub use open_notices::*;
pub use read::*;
pub use states::{Channel, MessageState, NoticeStatus};
pub use voice::*;
pub use write::*;

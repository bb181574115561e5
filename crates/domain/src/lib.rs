//! Meoktong's pure core: every decision the service makes, as functions of their inputs.
//!
//! No I/O lives here: time comes in as an argument, results go out as values.
#![forbid(unsafe_code)]

pub mod category;
pub mod claims;
pub mod contact;
pub mod detector;
pub mod duration_text;
pub mod euc_kr;
pub mod grouping;
pub mod helpline;
pub mod incident;
pub mod listening;
pub mod mask;
pub mod message;
pub mod outage_event;
pub mod outcome;
pub mod phone;
pub mod quorum;
pub mod segments;
pub mod state;
pub mod text;

pub use category::Category;
pub use outcome::{FailureClass, Outcome};
pub use state::DepState;

/// Milliseconds since the Unix epoch, UTC. Every stored time uses this unit.
pub type Millis = i64;

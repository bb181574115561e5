//! The probing pipeline of one process.
//!
//! - [`clock`]: time as an input.
//! - [`schedule`]: when each check runs (pure).
//! - [`detect`]: probe report → stored result → detector → dependency state → incidents.
//! - [`runner`]: the loop that ties them together with real probes.
#![forbid(unsafe_code)]

pub mod clock;
pub mod detect;
pub mod runner;
pub mod schedule;

//! The probing pipeline of one process.
//!
//! - [`clock`]: time as an input.
//! - [`canary`]: the own-network guard (is this location's network working?).
//! - [`schedule`]: when each check runs (pure).
//! - [`detect`]: probe report → stored result → detector → dependency state → incidents.
//! - [`runner`]: the loop that ties them together with real probes.
//! - [`agent`]: remote probe agents' wire format and the server's side of it.
#![forbid(unsafe_code)]

pub mod agent;
pub mod canary;
pub mod clock;
pub mod detect;
pub mod runner;
pub mod schedule;

//! The `meoktong` program: wiring the stages together.
//!
//! - [`cli`]: the command line (clap).
//! - [`app`]: `Application::build(settings)`, used by `main` and by the tests.
//! - [`telemetry`]: tracing set-up; phone numbers and emails masked in every log line.
//! - [`import`]: CSV import of merchants (validation first, then all or nothing).
//! - [`commands`]: one module per subcommand.
//! - [`agent`]: the remote probe agent (`meoktong agent`).
#![forbid(unsafe_code)]

pub mod agent;
pub mod app;
pub mod cli;
pub mod commands;
/// The importer lives in the web crate (the association's browser upload uses it too).
pub use meoktong_web::import;
pub mod telemetry;
pub mod workers;

pub use app::{Application, BuildOptions};

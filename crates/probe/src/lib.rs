//! Synthetic probes: run one check, judge the answer, say whose fault a failure is.
//!
//! - [`runner`]: [`Runner::run`] probes one [`meoktong_config::CheckSettings`] within its
//!   `timeout` and returns a [`ProbeReport`]. Check types: `http` ([`http`], hyper 1 on a fresh
//!   connection to an SSRF-vetted address, rustls), `tcp` and `tls` ([`checks`]), `dns`
//!   ([`dns`], hickory), `steps` ([`steps`], captures between HTTP requests).
//! - [`report`]: [`ProbeReport`] and [`Timings`] (JSON in milliseconds).
//! - [`classify`]: pure verdicts from status, Kakao/Toss error codes and body expectations;
//!   [`expect`]: JSON paths (RFC 9535, bare names mean `$.name`).
//! - [`ssrf`]: [`SsrfPolicy`], which resolved addresses a probe may reach.
//! - [`presets`]: the built-in catalog (Kakao Login, Kakao Map, KakaoPay, KakaoTalk channel,
//!   Naver Login, Toss Payments, Twilio status).
//! - [`simulator`]: a loopback server playing every preset's provider, with switchable modes.
//! - [`report_text`]: the text of `meoktong check URL`.
//!
//! Scheduling, confirmation and storage of results live in the engine, not here.
#![forbid(unsafe_code)]

pub mod checks;
pub mod classify;
pub mod dns;
pub mod expect;
pub mod http;
mod net;
pub mod presets;
pub mod report;
pub mod report_text;
pub mod runner;
pub mod simulator;
pub mod ssrf;
pub mod steps;

pub use classify::Verdict;
pub use report::{ProbeReport, Timings};
pub use runner::{DEFAULT_USER_AGENT, Runner, RunnerOptions};
pub use ssrf::SsrfPolicy;

//! The verdict of one probe, and why it failed.
use serde::{Deserialize, Serialize};

/// Outcome label of `meoktong_probe_results_total`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    Ok,
    Degraded,
    Fail,
    ConfigError,
}

impl Outcome {
    pub fn as_str(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::Degraded => "degraded",
            Outcome::Fail => "fail",
            Outcome::ConfigError => "config_error",
        }
    }

    pub fn parse(s: &str) -> Option<Self> {
        Some(match s {
            "ok" => Outcome::Ok,
            "degraded" => Outcome::Degraded,
            "fail" => Outcome::Fail,
            "config_error" => Outcome::ConfigError,
            _ => return None,
        })
    }
}

/// Who is to blame for a failed probe. Only `Provider` pages merchants.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FailureClass {
    /// The dependency itself is failing (5xx, timeout, Kakao -1/-7/-9798, Toss PROVIDER_ERROR).
    Provider,
    /// Our own configuration is wrong (401/403, Kakao -10/-401): tell the operator.
    Config,
    /// This probe location's own network is failing: tell the operator, not merchants.
    LocalNetwork,
}

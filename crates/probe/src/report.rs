//! The result of one probe, as stored, printed and sent by remote agents.
use meoktong_domain::{FailureClass, Millis, Outcome};
use serde::{Deserialize, Serialize};
use std::time::Duration;

/// What one probe found. JSON durations are milliseconds (`*_ms`, fractional).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProbeReport {
    /// When the probe started (Unix milliseconds, as given to [`crate::Runner::run`]).
    pub started_at: Millis,
    pub outcome: Outcome,
    /// Who is to blame when `outcome` is `fail` or `config_error`; `None` otherwise.
    pub class: Option<FailureClass>,
    /// HTTP status of the (last) response, if one arrived.
    pub status: Option<u16>,
    /// The provider's own error code read through the check's dialect (`-401`, `PROVIDER_ERROR`).
    pub provider_code: Option<String>,
    /// Why the probe is not `ok`, in one line.
    pub error: Option<String>,
    pub timings: Timings,
    /// Extra facts, e.g. certificate days left or DNS answers.
    pub detail: Option<String>,
    /// The probe failed while resolving a host name. One such failure is the provider's (class
    /// `provider`); the engine, seeing name resolution fail for every dependency at one location,
    /// calls [`ProbeReport::blame_local_network`].
    #[serde(default)]
    pub resolver_failure: bool,
}

/// Phase marks like `curl -w`: each is the time from the start of the request to the end of
/// that phase (`None` when the phase did not happen, e.g. no DNS for an IP literal, no TLS for
/// `http://`). For a `steps` check they describe the last step run; `total` covers the whole check.
#[derive(Debug, Clone, Copy, Default, PartialEq, Serialize, Deserialize)]
pub struct Timings {
    #[serde(rename = "dns_ms", default, with = "opt_ms")]
    pub dns: Option<Duration>,
    #[serde(rename = "connect_ms", default, with = "opt_ms")]
    pub connect: Option<Duration>,
    #[serde(rename = "tls_ms", default, with = "opt_ms")]
    pub tls: Option<Duration>,
    #[serde(rename = "first_byte_ms", default, with = "opt_ms")]
    pub first_byte: Option<Duration>,
    #[serde(rename = "total_ms", with = "ms")]
    pub total: Duration,
}

impl ProbeReport {
    /// `ok` (not degraded, not failing).
    pub fn is_ok(&self) -> bool {
        self.outcome == Outcome::Ok
    }

    /// Whether merchants may hear about this failure (the provider's fault).
    pub fn is_provider_failure(&self) -> bool {
        self.outcome == Outcome::Fail && self.class == Some(FailureClass::Provider)
    }

    /// The engine's verdict that this location's own resolver is broken: a failure at name
    /// resolution becomes `local_network` (told to operators, not merchants).
    pub fn blame_local_network(&mut self) {
        if self.resolver_failure && self.outcome == Outcome::Fail {
            self.class = Some(FailureClass::LocalNetwork);
        }
    }
}

fn to_ms(d: Duration) -> f64 {
    d.as_secs_f64() * 1000.0
}

fn from_ms<E: serde::de::Error>(v: f64) -> Result<Duration, E> {
    Duration::try_from_secs_f64(v / 1000.0).map_err(E::custom)
}

mod ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Duration, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_f64(super::to_ms(*d))
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Duration, D::Error> {
        super::from_ms(f64::deserialize(d)?)
    }
}

mod opt_ms {
    use serde::{Deserialize, Deserializer, Serializer};
    use std::time::Duration;

    pub fn serialize<S: Serializer>(d: &Option<Duration>, s: S) -> Result<S::Ok, S::Error> {
        match d {
            Some(d) => s.serialize_some(&super::to_ms(*d)),
            None => s.serialize_none(),
        }
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Option<Duration>, D::Error> {
        Option::<f64>::deserialize(d)?
            .map(super::from_ms)
            .transpose()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample() -> ProbeReport {
        ProbeReport {
            started_at: 1_700_000_000_000,
            outcome: Outcome::Fail,
            class: Some(FailureClass::Provider),
            status: None,
            provider_code: None,
            error: Some("DNS: no such host".into()),
            timings: Timings {
                dns: Some(Duration::from_micros(1500)),
                total: Duration::from_millis(2),
                ..Timings::default()
            },
            detail: None,
            resolver_failure: true,
        }
    }

    #[test]
    fn json_round_trip_uses_milliseconds() -> Result<(), serde_json::Error> {
        let r = sample();
        let json = serde_json::to_value(&r)?;
        assert_eq!(json["timings"]["dns_ms"], serde_json::json!(1.5));
        assert_eq!(json["timings"]["tls_ms"], serde_json::Value::Null);
        assert_eq!(json["outcome"], "fail");
        let back: ProbeReport = serde_json::from_value(json)?;
        assert_eq!(back, r);
        Ok(())
    }

    #[test]
    fn local_network_only_for_resolver_failures() {
        let mut r = sample();
        r.blame_local_network();
        assert_eq!(r.class, Some(FailureClass::LocalNetwork));
        let mut other = sample();
        other.resolver_failure = false;
        other.blame_local_network();
        assert_eq!(other.class, Some(FailureClass::Provider));
    }
}

//! Classification (pure): what an HTTP answer means — healthy, the provider failing, or our own
//! configuration being wrong.
//!
//! Order: the dialect's error code in a JSON body wins (Kakao -1/-7/-9798, Toss
//! `PROVIDER_ERROR` and a Statuspage indicator `major`/`critical` fail the provider, indicator
//! `minor` is degraded; Kakao -10/-401 and Toss `UNAUTHORIZED_KEY` are configuration errors); then the status (401/403 → config error, 5xx or any status not expected
//! → provider failure; a status listed in `expect_status` is always expected); then body and JSON
//! expectations. Connection errors and timeouts are provider failures (see [`crate::runner`]).
use crate::expect;
use meoktong_config::{CheckSettings, Dialect, StepSettings};
use meoktong_domain::{FailureClass, Outcome};
use serde_json::Value;
use std::collections::BTreeMap;

/// Outcome, blame and the one-line reason of a probe.
#[derive(Debug, Clone, PartialEq)]
pub struct Verdict {
    pub outcome: Outcome,
    pub class: Option<FailureClass>,
    pub provider_code: Option<String>,
    pub error: Option<String>,
}

impl Verdict {
    pub fn ok() -> Verdict {
        Verdict {
            outcome: Outcome::Ok,
            class: None,
            provider_code: None,
            error: None,
        }
    }

    /// The provider is failing.
    pub fn fail(error: impl Into<String>) -> Verdict {
        Verdict {
            outcome: Outcome::Fail,
            class: Some(FailureClass::Provider),
            provider_code: None,
            error: Some(error.into()),
        }
    }

    /// Our own configuration is wrong.
    pub fn config(error: impl Into<String>) -> Verdict {
        Verdict {
            outcome: Outcome::ConfigError,
            class: Some(FailureClass::Config),
            provider_code: None,
            error: Some(error.into()),
        }
    }

    pub fn degraded(error: impl Into<String>) -> Verdict {
        Verdict {
            outcome: Outcome::Degraded,
            class: None,
            provider_code: None,
            error: Some(error.into()),
        }
    }

    fn with_code(mut self, code: Option<String>) -> Verdict {
        self.provider_code = code;
        self
    }
}

/// What an HTTP answer is checked against: a check's or a step's keys.
#[derive(Debug, Clone, Copy)]
pub struct HttpExpectations<'a> {
    pub expect_status: &'a [u16],
    pub body_contains: Option<&'a str>,
    pub json: &'a BTreeMap<String, Value>,
    pub json_exists: &'a [String],
    pub dialect: Option<Dialect>,
    /// The JSON body is wanted afterwards (step captures).
    pub keep_json: bool,
}

impl<'a> HttpExpectations<'a> {
    pub fn from_check(c: &'a CheckSettings) -> Self {
        HttpExpectations {
            expect_status: &c.expect_status,
            body_contains: c.expect_body_contains.as_deref(),
            json: &c.expect_json,
            json_exists: &c.expect_json_exists,
            dialect: c.dialect,
            keep_json: false,
        }
    }

    pub fn from_step(s: &'a StepSettings, dialect: Option<Dialect>) -> Self {
        HttpExpectations {
            expect_status: &s.expect_status,
            body_contains: s.expect_body_contains.as_deref(),
            json: &s.expect_json,
            json_exists: &s.expect_json_exists,
            dialect,
            keep_json: !s.capture.is_empty(),
        }
    }

    /// Whether the body must be parsed as JSON.
    pub fn needs_json(&self) -> bool {
        self.dialect.is_some()
            || self.keep_json
            || !self.json.is_empty()
            || !self.json_exists.is_empty()
    }

    /// Whether the body must be kept at all (otherwise it is only drained).
    pub fn needs_body(&self) -> bool {
        self.needs_json() || self.body_contains.is_some()
    }
}

/// A verdict, and the parsed JSON body when it was parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct HttpJudgement {
    pub verdict: Verdict,
    pub json: Option<Value>,
}

/// Default when `expect_status` is empty: 200..=399.
pub fn status_expected(expect: &[u16], status: u16) -> bool {
    if expect.is_empty() {
        (200..=399).contains(&status)
    } else {
        expect.contains(&status)
    }
}

/// A provider error code read from a JSON body.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct DialectReading {
    pub code: Option<String>,
    pub message: Option<String>,
    /// Set when the code alone decides the verdict.
    pub blame: Option<(Outcome, FailureClass)>,
}

fn text_of<'a>(json: &'a Value, keys: &[&str]) -> Option<&'a Value> {
    keys.iter()
        .find_map(|k| json.get(*k).filter(|v| !v.is_null()))
}

/// Reads `code` (Kakao: also `error_code`) and the message of a provider's JSON error body.
pub fn read_dialect(dialect: Dialect, json: &Value) -> DialectReading {
    let message = text_of(
        json,
        &["msg", "message", "error_message", "error_description"],
    )
    .map(|v| {
        v.as_str()
            .map(str::to_string)
            .unwrap_or_else(|| v.to_string())
    });
    match dialect {
        Dialect::Kakao => {
            let raw = text_of(json, &["code", "error_code"]);
            let number = raw.and_then(|v| {
                v.as_i64()
                    .or_else(|| v.as_str().and_then(|s| s.trim().parse().ok()))
            });
            let blame = match number {
                Some(-1 | -7 | -9798) => Some((Outcome::Fail, FailureClass::Provider)),
                Some(-10 | -401) => Some((Outcome::ConfigError, FailureClass::Config)),
                _ => None,
            };
            let code = number
                .map(|n| n.to_string())
                .or_else(|| raw.and_then(Value::as_str).map(str::to_string));
            DialectReading {
                code,
                message,
                blame,
            }
        }
        Dialect::Toss => {
            let code = json.get("code").and_then(Value::as_str).map(str::to_string);
            let blame = match code.as_deref() {
                Some(
                    "PROVIDER_ERROR"
                    | "FAILED_INTERNAL_SYSTEM_PROCESSING"
                    | "FAILED_PAYMENT_INTERNAL_SYSTEM_PROCESSING",
                ) => Some((Outcome::Fail, FailureClass::Provider)),
                Some("UNAUTHORIZED_KEY" | "INVALID_API_KEY") => {
                    Some((Outcome::ConfigError, FailureClass::Config))
                }
                _ => None,
            };
            DialectReading {
                code,
                message,
                blame,
            }
        }
        Dialect::Statuspage => {
            let status = json.get("status");
            let code = status
                .and_then(|s| s.get("indicator"))
                .and_then(Value::as_str)
                .map(str::to_string);
            let blame = match code.as_deref() {
                Some("major" | "critical") => Some((Outcome::Fail, FailureClass::Provider)),
                Some("minor") => Some((Outcome::Degraded, FailureClass::Provider)),
                _ => None,
            };
            DialectReading {
                code,
                message: status
                    .and_then(|s| s.get("description"))
                    .and_then(Value::as_str)
                    .map(str::to_string),
                blame,
            }
        }
    }
}

fn dialect_name(d: Dialect) -> &'static str {
    match d {
        Dialect::Kakao => "kakao",
        Dialect::Toss => "toss",
        Dialect::Statuspage => "statuspage",
    }
}

/// `kakao -401: invalid app key`, or empty without a code.
fn code_text(dialect: Option<Dialect>, r: &DialectReading) -> String {
    match (dialect, &r.code) {
        (Some(d), Some(code)) => {
            let mut s = format!("{} {code}", dialect_name(d));
            if let Some(m) = &r.message {
                s.push_str(": ");
                s.push_str(&m.chars().take(120).collect::<String>());
            }
            s
        }
        _ => String::new(),
    }
}

fn expected_text(expect: &[u16]) -> String {
    if expect.is_empty() {
        "200-399".to_string()
    } else {
        expect
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    needle.is_empty() || haystack.windows(needle.len()).any(|w| w == needle)
}

/// Judges one HTTP answer against `exp` (latency is judged by the runner).
pub fn classify_http(exp: &HttpExpectations<'_>, status: u16, body: &[u8]) -> HttpJudgement {
    let json = if exp.needs_json() {
        serde_json::from_slice::<Value>(body).ok()
    } else {
        None
    };
    let reading = match (exp.dialect, &json) {
        (Some(d), Some(j)) => read_dialect(d, j),
        _ => DialectReading::default(),
    };
    let verdict = judge(exp, status, body, json.as_ref(), &reading).with_code(reading.code);
    HttpJudgement { verdict, json }
}

fn judge(
    exp: &HttpExpectations<'_>,
    status: u16,
    body: &[u8],
    json: Option<&Value>,
    r: &DialectReading,
) -> Verdict {
    let code = code_text(exp.dialect, r);
    let suffix = if code.is_empty() {
        String::new()
    } else {
        format!(" ({code})")
    };
    if let Some((outcome, _)) = r.blame {
        return match outcome {
            Outcome::ConfigError => Verdict::config(code),
            Outcome::Degraded => Verdict::degraded(code),
            _ => Verdict::fail(code),
        };
    }
    if !status_expected(exp.expect_status, status) {
        return match status {
            401 | 403 => Verdict::config(format!("credentials refused{suffix}")),
            500..=599 => Verdict::fail(format!("server error{suffix}")),
            _ => Verdict::fail(format!(
                "unexpected status, expected {}{suffix}",
                expected_text(exp.expect_status)
            )),
        };
    }
    if let Some(needle) = exp.body_contains
        && !contains(body, needle.as_bytes())
    {
        return Verdict::fail(format!("body does not contain `{needle}`"));
    }
    if !exp.json.is_empty() || !exp.json_exists.is_empty() {
        let Some(json) = json else {
            return Verdict::fail("body is not JSON");
        };
        if let Err((message, is_config)) = expect::check_json(json, exp.json, exp.json_exists) {
            return if is_config {
                Verdict::config(message)
            } else {
                Verdict::fail(format!("{message}{suffix}"))
            };
        }
    }
    Verdict::ok()
}

#[cfg(test)]
#[path = "classify_tests.rs"]
mod tests;

//! The one error every provider returns.
//!
//! The dispatcher needs a single decision from a failed send: fall back now, or retry later.
//! So each provider classifies its own failures into [`ProviderError::Permanent`] (this
//! message will never go through this provider: send the email / next contact at once) and
//! [`ProviderError::Transient`] (retry with backoff while the message is still worth sending).
use std::time::Duration;

/// A failed provider call, already classified.
///
/// `code` is the provider's own error code as text (Twilio `21211`, SMTP `550`), kept so the
/// outbox can store it and operators can look it up. `message` is safe to log: providers mask
/// phone numbers and never put secrets into it.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ProviderError {
    /// Retrying will not help: fall back now.
    #[error("permanent provider error{}: {message}", code_suffix(.code))]
    Permanent {
        code: Option<String>,
        message: String,
    },
    /// Worth retrying with backoff; `retry_after` is the provider's own hint, if it gave one.
    #[error("transient provider error{}: {message}", code_suffix(.code))]
    Transient {
        code: Option<String>,
        message: String,
        retry_after: Option<Duration>,
    },
}

fn code_suffix(code: &Option<String>) -> String {
    code.as_deref().map(|c| format!(" {c}")).unwrap_or_default()
}

/// Provider codes that mean *our* account or configuration is wrong, not the recipient.
///
/// Twilio 20003 (authentication), 20404 (wrong account in the URL), 21606 and 21212 (the
/// `From` number cannot send), 21659 (From not a Twilio number); SMTP 530/534/535
/// (authentication required/failed); Solapi `InvalidAPIKey`, `SignatureDoesNotMatch`,
/// `Forbidden` (the key lacks the permission), `NotEnoughBalance` and the per-message
/// 1062/2062 (sender number not registered) and 1030/2230 (no balance). They are classified permanent (the merchant must not
/// wait on a provider that cannot send anything: the email goes out at once), and
/// [`ProviderError::is_config_error`] lets the dispatcher also log them at error level and
/// fail over to the next `[[sms]]` provider.
const CONFIG_ERROR_CODES: &[&str] = &[
    "20003",
    "20404",
    "21212",
    "21606",
    "21659",
    "530",
    "534",
    "535",
    "InvalidAPIKey",
    "SignatureDoesNotMatch",
    "Forbidden",
    "NotEnoughBalance",
    "1062",
    "2062",
    "1030",
    "2230",
];

impl ProviderError {
    pub fn permanent(code: Option<String>, message: impl Into<String>) -> Self {
        ProviderError::Permanent {
            code,
            message: message.into(),
        }
    }

    pub fn transient(
        code: Option<String>,
        message: impl Into<String>,
        retry_after: Option<Duration>,
    ) -> Self {
        ProviderError::Transient {
            code,
            message: message.into(),
            retry_after,
        }
    }

    /// True when the dispatcher should fall back at once instead of retrying.
    pub fn is_permanent(&self) -> bool {
        matches!(self, ProviderError::Permanent { .. })
    }

    /// True when the failure is our own account or configuration (see [`CONFIG_ERROR_CODES`]):
    /// an operator problem, not a merchant's.
    pub fn is_config_error(&self) -> bool {
        self.code().is_some_and(|c| CONFIG_ERROR_CODES.contains(&c))
    }

    pub fn code(&self) -> Option<&str> {
        match self {
            ProviderError::Permanent { code, .. } | ProviderError::Transient { code, .. } => {
                code.as_deref()
            }
        }
    }

    pub fn message(&self) -> &str {
        match self {
            ProviderError::Permanent { message, .. } | ProviderError::Transient { message, .. } => {
                message
            }
        }
    }

    /// The provider's hint for when to try again (`Retry-After`), transient errors only.
    pub fn retry_after(&self) -> Option<Duration> {
        match self {
            ProviderError::Transient { retry_after, .. } => *retry_after,
            ProviderError::Permanent { .. } => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_names_the_class_and_the_code() {
        let e = ProviderError::permanent(Some("21211".into()), "invalid To");
        assert_eq!(e.to_string(), "permanent provider error 21211: invalid To");
        let e = ProviderError::transient(None, "timed out", None);
        assert_eq!(e.to_string(), "transient provider error: timed out");
    }

    #[test]
    fn config_errors_are_recognised_by_code() {
        assert!(ProviderError::permanent(Some("20003".into()), "auth").is_config_error());
        assert!(ProviderError::permanent(Some("535".into()), "auth").is_config_error());
        assert!(!ProviderError::permanent(Some("21211".into()), "bad To").is_config_error());
        assert!(!ProviderError::transient(None, "x", None).is_config_error());
    }

    #[test]
    fn retry_after_only_on_transient() {
        let d = Some(Duration::from_secs(3));
        assert_eq!(ProviderError::transient(None, "x", d).retry_after(), d);
        assert_eq!(ProviderError::permanent(None, "x").retry_after(), None);
    }
}

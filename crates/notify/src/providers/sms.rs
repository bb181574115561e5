//! The SMS provider interface: one request in, the provider's message id out.
use async_trait::async_trait;

use super::ProviderError;

/// One SMS to send.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsRequest {
    /// Recipient in E.164 (`+821012345678`).
    pub to: String,
    pub body: String,
    /// Where the provider posts delivery status (`{public_url}/hooks/twilio/status`).
    pub status_callback: Option<String>,
    /// What is left of the message's validity; a provider that supports it (Twilio's
    /// `ValidityPeriod`) stops trying after the shorter of this and its configured validity.
    pub validity: Option<std::time::Duration>,
}

/// The provider took the message; delivery is reported later through the status callback.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SmsAccepted {
    /// Twilio's `SM…` sid, or `LOG…` for the dev outbox; matches later callbacks.
    pub provider_message_id: String,
    /// The provider's status at acceptance (`queued`, `accepted`; `delivered` for the log
    /// provider, which never sends a callback).
    pub status: String,
}

/// A way to send SMS. Implementations classify every failure (see [`ProviderError`]).
#[async_trait]
pub trait SmsProvider: Send + Sync {
    /// Short name for logs and metrics (`twilio`, `log`).
    fn name(&self) -> &str;
    async fn send(&self, req: &SmsRequest) -> Result<SmsAccepted, ProviderError>;
}

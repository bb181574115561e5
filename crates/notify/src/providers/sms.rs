//! The SMS provider interface: one request in, the provider's message id out; optionally many
//! requests in one call, and delivery reports fetched by polling.
use async_trait::async_trait;
use meoktong_domain::message::SmsLimit;

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

/// One message of a batch: the caller's reference (the outbox row id, which a provider that
/// keeps custom fields sends along to match its answer) and the request.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BatchItem {
    pub reference: i64,
    pub req: SmsRequest,
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

/// What a provider's report says about one accepted message, in the words of Twilio's status
/// callbacks so the same handling applies (`delivery_status`).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryReport {
    pub provider_message_id: String,
    /// `delivered`, `failed`, or anything else for "not final yet" (recorded only).
    pub status: String,
    /// The provider's own code (Solapi `3043`), for the history.
    pub error_code: Option<String>,
}

/// A way to send SMS. Implementations classify every failure (see [`ProviderError`]).
#[async_trait]
pub trait SmsProvider: Send + Sync {
    /// Short name for logs and metrics (`twilio`, `solapi`, `log`).
    fn name(&self) -> &str;

    async fn send(&self, req: &SmsRequest) -> Result<SmsAccepted, ProviderError>;

    /// How long a notice may be for this provider: Twilio's two segments by default.
    fn text_limit(&self) -> SmsLimit {
        SmsLimit::TWO_SEGMENTS
    }

    /// Most messages one [`SmsProvider::send_batch`] call takes; 1 means no batching, and the
    /// dispatcher then sends each message on its own.
    fn batch_size(&self) -> usize {
        1
    }

    /// Sends many messages; one outcome per item, in the items' order. A failure of the whole
    /// request (authentication, 5xx) is that error for every item. By default one `send` each.
    async fn send_batch(&self, items: &[BatchItem]) -> Vec<Result<SmsAccepted, ProviderError>> {
        let mut out = Vec::with_capacity(items.len());
        for item in items {
            out.push(self.send(&item.req).await);
        }
        out
    }

    /// True when delivery is reported by [`SmsProvider::poll_reports`] instead of callbacks.
    fn polls_reports(&self) -> bool {
        false
    }

    /// The reports the provider has for these accepted messages (any it does not know, or
    /// has nothing final for, may be left out).
    async fn poll_reports(&self, _ids: &[String]) -> Result<Vec<DeliveryReport>, ProviderError> {
        Ok(Vec::new())
    }
}

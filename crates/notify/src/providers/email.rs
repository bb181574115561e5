//! The email provider interface.
use async_trait::async_trait;

use super::ProviderError;

/// One email to send. `text` is always sent; `html`, when given, is the alternative part
/// that mail clients prefer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EmailMessage {
    /// One recipient address (`kim@example.com` or `김사장 <kim@example.com>`).
    pub to: String,
    pub subject: String,
    pub text: String,
    pub html: Option<String>,
}

/// A way to send email. Implementations classify every failure (see [`ProviderError`]).
#[async_trait]
pub trait EmailProvider: Send + Sync {
    async fn send(&self, msg: &EmailMessage) -> Result<(), ProviderError>;
}

//! Providers: the edges where a notification leaves the process.
//!
//! Every provider answers with [`ProviderError`], already classified as permanent (fall back
//! now) or transient (retry with backoff), so the dispatcher never reads provider details.
//!
//! - SMS: [`TwilioSms`] (Twilio's Messages API on reqwest), [`SolapiSms`] (Solapi's Messages
//!   API v4: domestic Korean SMS/LMS, batched, reports by polling), [`LogSms`] (dev outbox).
//! - Voice: [`TwilioVoice`] (Twilio's Calls API with inline TwiML; `[voice]`).
//! - Email: [`SmtpEmail`] (lettre), [`LogEmail`] (dev outbox).
//! - Webhooks: [`WebhookSender`], signed with HMAC-SHA256, behind the SSRF guard
//!   ([`check_webhook_url`]).
//! - Callbacks: [`verify_twilio_signature`] for `X-Twilio-Signature`.
mod dev;
mod email;
mod error;
mod sms;
mod smtp;
mod solapi;
mod solapi_classify;
mod solapi_signature;
mod twilio;
mod twilio_classify;
mod twilio_signature;
mod twilio_voice;
mod webhook;
mod webhook_guard;

pub use dev::{DevOutbox, LogEmail, LogSms};
pub use email::{EmailMessage, EmailProvider};
pub use error::ProviderError;
pub use sms::{BatchItem, DeliveryReport, SmsAccepted, SmsProvider, SmsRequest};
pub use smtp::SmtpEmail;
pub use solapi::SolapiSms;
pub use solapi_signature::solapi_authorization;
pub use twilio::TwilioSms;
pub use twilio_signature::{twilio_signature, verify_twilio_signature};
pub use twilio_voice::{CallRequest, TwilioVoice};
pub use webhook::{
    SIGNATURE_HEADER, TIMESTAMP_HEADER, WebhookSender, verify_webhook_signature, webhook_signature,
    webhook_timestamp_is_fresh,
};
pub use webhook_guard::{
    MAX_WEBHOOK_URL_LEN, SsrfPolicy, WebhookUrlError, check_webhook_url, guarded_client,
    parse_webhook_url,
};

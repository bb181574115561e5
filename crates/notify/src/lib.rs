//! Notification hub: planner, durable outbox, dispatchers and the providers they call.
#![forbid(unsafe_code)]

pub mod compose;
pub mod delivery_poll;
pub mod delivery_status;
pub mod dispatcher;
pub mod heartbeat;
pub mod planner;
pub mod provider_budget;
pub mod providers;
pub mod status_subscribers;
pub mod timers;

pub use providers::{
    DevOutbox, EmailMessage, EmailProvider, LogEmail, LogSms, ProviderError, SmsAccepted,
    SmsProvider, SmsRequest, SmtpEmail, SolapiSms, SsrfPolicy, TwilioSms, TwilioVoice,
    WebhookSender, WebhookUrlError, check_webhook_url, twilio_signature, verify_twilio_signature,
    verify_webhook_signature, webhook_signature,
};

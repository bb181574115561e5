//! The settings a notice is composed with.
use meoktong_domain::message::SmsLimit;
use std::time::Duration;

/// How notices are rendered and addressed: what the planner, the heartbeat sweeper, the
/// timers, the dispatcher and the web share.
#[derive(Debug, Clone)]
pub struct ComposeConfig {
    /// Base of the alert links (`{public_url}/a/{token}`).
    pub public_url: String,
    pub default_locale: String,
    pub time_zone: chrono_tz::Tz,
    pub alert_link_ttl: Duration,
    /// An outage alert not acknowledged by then goes to the next contact.
    pub ack_timeout: Duration,
    /// An SMS that would leave later than this (its place in the queue over the rate) gets
    /// its email at once too.
    pub sms_queue_budget: Duration,
    /// Messages a second of the first SMS provider (0 = unlimited).
    pub sms_rate_per_second: u32,
    pub sms_validity: Duration,
    /// Whether an email channel exists.
    pub email_enabled: bool,
    /// Whether any SMS provider exists; without one a contact's email is due at once
    /// (an SMS row would never be sent, and its email would wait for the queue budget).
    pub sms_enabled: bool,
    /// The platform SMS runs on (`twilio`), so a Twilio outage is not told by SMS.
    pub sms_platform: Option<String>,
    /// How long an SMS may be, as the first `[[sms]]` provider counts it: two UCS-2 segments
    /// for Twilio, an LMS of 2,000 EUC-KR bytes for Solapi (the playbook line in full).
    pub sms_limit: SmsLimit,
}

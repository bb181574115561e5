//! Whom a notice reaches: the first contact, from a position on, with a channel that does not
//! run on a failed platform, and the messages for that contact.
use super::{ComposeConfig, Rendered, Skip, ms};
use meoktong_storage::Crypto;
use meoktong_storage::contacts::Contact;
use meoktong_storage::outbox::{Channel, MessageState, NewMessage};

/// How long an email is kept trying once written (the dispatcher's retry window is its own).
const EMAIL_VALIDITY_MS: i64 = 3600 * 1000;

/// The contact a notice reaches and its messages, and the contacts skipped on the way.
#[derive(Debug, Default)]
pub struct Reach {
    /// `None`: no contact from the start position has a usable channel.
    pub position: Option<i32>,
    pub messages: Vec<NewMessage>,
    pub skipped: Vec<Skip>,
}

/// The messages for the first contact (from `start`) that has a channel independent of the
/// failed platforms. `queued_sms` is the SMS queue's length before this message (it grows by
/// one); an SMS whose place in the queue is past the queue budget gets its email at once too.
#[allow(clippy::too_many_arguments)]
pub(super) fn first_usable(
    cfg: &ComposeConfig,
    crypto: &Crypto,
    merchant_id: i64,
    contacts: &[Contact],
    failed_platforms: &[String],
    rendered: &Rendered,
    dedupe: &str,
    start: i32,
    queued_sms: &mut i64,
    now: i64,
) -> Reach {
    let mut skipped = Vec::new();
    for c in contacts.iter().filter(|c| c.position >= start) {
        let sms_ok = cfg.sms_enabled
            && c.phone.is_some()
            && !c.sms_opted_out
            && !cfg
                .sms_platform
                .as_ref()
                .is_some_and(|p| failed_platforms.contains(p));
        let email_ok = cfg.email_enabled
            && c.email.is_some()
            && !c
                .email_platform
                .as_ref()
                .is_some_and(|p| failed_platforms.contains(p));
        if !sms_ok && !email_ok {
            skipped.push(Skip {
                merchant_id,
                position: c.position,
                reason: skip_reason(c, failed_platforms),
            });
            continue;
        }
        let mut out = Vec::new();
        let mut email_now = !sms_ok;
        if let (true, Some(phone)) = (sms_ok, &c.phone) {
            // Its place in the provider's queue, divided by the rate: too late → email too.
            *queued_sms += 1;
            if cfg.sms_rate_per_second > 0 {
                let wait_ms = *queued_sms * 1000 / i64::from(cfg.sms_rate_per_second);
                email_now = wait_ms > ms(cfg.sms_queue_budget);
            }
            out.push(NewMessage {
                channel: Channel::Sms,
                contact_id: Some(c.id),
                contact_position: c.position,
                recipient_enc: crypto.encrypt(phone),
                subject: None,
                body: rendered.sms.clone(),
                html: None,
                priority: rendered.priority,
                state: MessageState::Pending,
                next_attempt_at: now,
                expires_at: now + ms(cfg.sms_validity),
                dedupe_key: format!("{dedupe}:{}:sms", c.position),
            });
        }
        if let (true, Some(email)) = (email_ok, &c.email) {
            // A waiting fallback is written unrendered (no subject): most are never sent,
            // and their text and HTML were most of a fan-out's bytes. The dispatcher has it
            // rendered when it becomes due (`Composer::render_email`).
            let (subject, body, html) = if email_now {
                let e = rendered.email();
                (Some(e.subject), e.text, Some(e.html))
            } else {
                (None, String::new(), None)
            };
            out.push(NewMessage {
                channel: Channel::Email,
                contact_id: Some(c.id),
                contact_position: c.position,
                recipient_enc: crypto.encrypt(email),
                subject,
                body,
                html,
                priority: rendered.priority,
                state: if email_now {
                    MessageState::Pending
                } else {
                    MessageState::Waiting
                },
                next_attempt_at: now,
                expires_at: now + EMAIL_VALIDITY_MS,
                dedupe_key: format!("{dedupe}:{}:email", c.position),
            });
        }
        return Reach {
            position: Some(c.position),
            messages: out,
            skipped,
        };
    }
    Reach {
        position: None,
        messages: Vec::new(),
        skipped,
    }
}

fn skip_reason(c: &Contact, failed: &[String]) -> String {
    if c.phone.is_none() && c.email.is_none() {
        return "no mobile number and no email".into();
    }
    if c.email_platform
        .as_ref()
        .is_some_and(|p| failed.contains(p))
    {
        return format!(
            "email runs on the failed platform ({})",
            c.email_platform.clone().unwrap_or_default()
        );
    }
    if c.sms_opted_out {
        return "SMS opted out (STOP) and no independent email".into();
    }
    "no deliverable channel".into()
}

//! The `[테스트]` notice a merchant asks for to see a channel work: every channel of one
//! contact at once (not the SMS → email chain), or the merchant's webhook.
use super::{Composed, WebhookNotice};
use meoktong_domain::message::{self, NoticeInput, NoticeKind};
use meoktong_storage::Crypto;
use meoktong_storage::outbox::{
    Channel, LinkKey, MessageState, NewMessage, NewNotice, NoticeStatus,
};
use std::collections::HashMap;

/// A test alert's link lives a day.
const TEST_LINK_TTL_MS: i64 = 24 * 3600 * 1000;
/// A test message is tried for an hour.
const TEST_VALIDITY_MS: i64 = 3600 * 1000;

/// The contact a test alert goes to.
pub struct TestContact<'a> {
    pub id: i64,
    pub position: i32,
    pub phone: Option<&'a str>,
    pub email: Option<&'a str>,
    pub sms_opted_out: bool,
}

/// Where a test alert goes.
pub enum TestTarget<'a> {
    /// Every channel of this contact: SMS (unless opted out) and email.
    Contact(TestContact<'a>),
    /// The merchant's webhook (encrypted URL), with this text.
    Webhook { url_enc: &'a str, text: &'a str },
}

/// A closed notice of kind `test` (never escalated, never acknowledged), its messages due
/// now, with the texts of `input` and the alert link of `token`.
pub fn test_notice(
    crypto: &Crypto,
    merchant_id: i64,
    target: TestTarget<'_>,
    input: &NoticeInput,
    dedupe: &str,
    token: &str,
    now: i64,
) -> Composed {
    let messages = match target {
        TestTarget::Contact(c) => {
            let message =
                |channel: Channel, to: &str, subject: Option<String>, body: String| NewMessage {
                    channel,
                    contact_id: Some(c.id),
                    contact_position: c.position,
                    recipient_enc: crypto.encrypt(to),
                    subject,
                    body,
                    html: None,
                    priority: 1,
                    state: MessageState::Pending,
                    next_attempt_at: now,
                    expires_at: now + TEST_VALIDITY_MS,
                    dedupe_key: format!("{dedupe}:{channel}"),
                };
            let mut out = Vec::new();
            if let Some(p) = c.phone.filter(|_| !c.sms_opted_out) {
                out.push(message(Channel::Sms, p, None, message::sms_text(input)));
            }
            if let Some(e) = c.email {
                out.push(message(
                    Channel::Email,
                    e,
                    Some(message::email_subject(input)),
                    message::email_text(input, ""),
                ));
            }
            out
        }
        TestTarget::Webhook { url_enc, text } => {
            let deps = HashMap::new();
            let hook = WebhookNotice {
                kind: NoticeKind::Test,
                merchant_id,
                incidents: &[],
                deps: &deps,
                link: &input.link,
                text,
                tz: input.tz,
                dedupe,
            };
            vec![hook.message(url_enc, 0, 1, now)]
        }
    };
    let notice = NewNotice {
        merchant_id,
        kind: NoticeKind::Test,
        dedupe_key: dedupe.to_string(),
        dependency_ids: Vec::new(),
        incident_ids: Vec::new(),
        incident_keys: Vec::new(),
        since: now,
        link: LinkKey::of(crypto, token),
        token_expires_at: now + TEST_LINK_TTL_MS,
        escalate_at: None,
        status: NoticeStatus::Closed,
        now,
    };
    Composed {
        notice,
        messages,
        skipped: Vec::new(),
    }
}

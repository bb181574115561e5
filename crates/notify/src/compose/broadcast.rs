//! A broadcast from an association to one member: a closed notice of kind `broadcast` (never
//! escalated, never acknowledged) with one message on the channel staff chose, to the first
//! contact that has it. SMS goes by the usual providers (Solapi makes it an LMS when it does
//! not fit an SMS); the dispatchers' `rate_per_second` paces it like any other message, after
//! every alert (priority 2).
use meoktong_domain::duration_text::Locale;
use meoktong_domain::message::{self, NoticeKind};
use meoktong_storage::Crypto;
use meoktong_storage::contacts::Contact;
use meoktong_storage::outbox::{
    Channel, LinkKey, MessageState, NewMessage, NewNotice, NoticeStatus, new_link_token,
};

/// A broadcast is tried for a day.
const BROADCAST_VALIDITY_MS: i64 = 24 * 3600 * 1000;
/// After every alert in the queue.
const BROADCAST_PRIORITY: i32 = 2;

/// What staff send.
pub struct BroadcastDraft<'a> {
    pub broadcast_id: i64,
    pub association: &'a str,
    /// `Sms` or `Email`.
    pub channel: Channel,
    pub text: &'a str,
    pub now: i64,
}

/// The member's notice and its one message, or `None` when no contact has the channel (an
/// SMS needs a number that has not opted out).
pub fn broadcast_notice(
    crypto: &Crypto,
    draft: &BroadcastDraft<'_>,
    merchant_id: i64,
    locale: Locale,
    contacts: &[Contact],
) -> Option<(NewNotice, Vec<NewMessage>)> {
    let (contact, to) = contacts.iter().find_map(|c| match draft.channel {
        Channel::Sms => c
            .phone
            .as_deref()
            .filter(|_| !c.sms_opted_out)
            .map(|p| (c, p)),
        Channel::Email => c.email.as_deref().map(|e| (c, e)),
        Channel::Webhook | Channel::Voice => None,
    })?;
    let dedupe = format!("broadcast:{}:{merchant_id}", draft.broadcast_id);
    let body = message::broadcast_text(locale, draft.association, draft.text);
    let subject = (draft.channel == Channel::Email).then(|| {
        format!(
            "{} {}",
            NoticeKind::Broadcast.tag(locale),
            draft.association
        )
    });
    let m = NewMessage {
        channel: draft.channel,
        contact_id: Some(contact.id),
        contact_position: contact.position,
        recipient_enc: crypto.encrypt(to),
        subject,
        body,
        html: None,
        priority: BROADCAST_PRIORITY,
        state: MessageState::Pending,
        next_attempt_at: draft.now,
        expires_at: draft.now + BROADCAST_VALIDITY_MS,
        dedupe_key: format!("{dedupe}:{}", draft.channel),
    };
    // The notice needs a link token; nobody is sent this one.
    let token = new_link_token(draft.now);
    let notice = NewNotice {
        merchant_id,
        kind: NoticeKind::Broadcast,
        dedupe_key: dedupe,
        dependency_ids: Vec::new(),
        incident_ids: Vec::new(),
        incident_keys: Vec::new(),
        since: draft.now,
        link: LinkKey::of(crypto, &token),
        token_expires_at: draft.now,
        escalate_at: None,
        status: NoticeStatus::Closed,
        now: draft.now,
    };
    Some((notice, vec![m]))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn contact(id: i64, phone: Option<&str>, email: Option<&str>, opted_out: bool) -> Contact {
        Contact {
            id,
            merchant_id: 7,
            position: (id - 1) as i32,
            phone: phone.map(str::to_string),
            email: email.map(str::to_string),
            email_platform: None,
            sms_opted_out: opted_out,
            voice_enabled: true,
        }
    }

    #[test]
    fn one_message_to_the_first_contact_with_the_channel() {
        let crypto = Crypto::from_key(&[1u8; 32]);
        let draft = BroadcastDraft {
            broadcast_id: 3,
            association: "마포상인회",
            channel: Channel::Sms,
            text: "피해 신고는\n11월 6일까지입니다.",
            now: 1_000,
        };
        let contacts = [
            contact(1, Some("+821011112222"), None, true),
            contact(2, Some("+821033334444"), Some("a@example.com"), false),
        ];
        let (n, m) = broadcast_notice(&crypto, &draft, 7, Locale::Ko, &contacts).expect("sent");
        assert_eq!(n.dedupe_key, "broadcast:3:7");
        assert_eq!(n.kind, NoticeKind::Broadcast);
        assert_eq!(m.len(), 1);
        assert_eq!(m[0].contact_id, Some(2), "the opted-out number is skipped");
        assert_eq!(
            crypto.decrypt(&m[0].recipient_enc).ok().as_deref(),
            Some("+821033334444")
        );
        assert_eq!(
            m[0].body,
            "[공지] 마포상인회: 피해 신고는 11월 6일까지입니다."
        );
        let email = BroadcastDraft {
            channel: Channel::Email,
            ..draft
        };
        let (_, m) = broadcast_notice(&crypto, &email, 7, Locale::En, &contacts).expect("sent");
        assert_eq!(m[0].subject.as_deref(), Some("[NOTICE] 마포상인회"));
        assert!(broadcast_notice(&crypto, &email, 7, Locale::Ko, &contacts[..1]).is_none());
    }
}

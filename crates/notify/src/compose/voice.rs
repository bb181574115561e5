//! The alert call (`[voice]`): the notice spoken, in TwiML that asks for 1 to acknowledge,
//! for the notice's current contact.
use super::{Composer, ms};
use meoktong_domain::duration_text::Locale;
use meoktong_domain::message::{NoticeInput, NoticeKind};
use meoktong_storage::entity::notices;
use meoktong_storage::outbox::{self, Channel, MessageState, NewMessage};
use meoktong_storage::{StorageError, contacts};

/// Where Twilio posts the key pressed (signed; `notice`, `lang` in the query).
pub const VOICE_GATHER_PATH: &str = "/hooks/twilio/voice/gather";
/// Where Twilio posts the call's progress (signed).
pub const VOICE_STATUS_PATH: &str = "/hooks/twilio/voice/status";
/// Twilio takes at most 4,000 characters of inline TwiML.
const MAX_TWIML: usize = 4000;

/// What is down and what to do, to be heard: names spelled out, no link, no list numbers.
pub(super) fn spoken(input: &NoticeInput, full_playbook: &str) -> String {
    let ko = input.locale == Locale::Ko;
    let names: Vec<String> = input
        .deps
        .iter()
        .map(|d| match (ko, &d.name_en) {
            (false, Some(en)) => en.clone(),
            _ => d.name.clone(),
        })
        .collect();
    let names = names.join(", ");
    let todo = input
        .playbook_line
        .clone()
        .or_else(|| {
            full_playbook
                .lines()
                .map(str::trim)
                .find(|l| !l.is_empty())
                .map(str::to_string)
        })
        .map(|l| speakable(&l))
        .unwrap_or_default();
    let what = match (input.kind, ko) {
        (NoticeKind::Relapse, true) => format!("{names} 장애가 다시 발생했습니다."),
        (NoticeKind::FollowUp, true) => format!("{names}도 응답하지 않습니다."),
        (_, true) => format!("{names}이 응답하지 않습니다."),
        (NoticeKind::Relapse, false) => format!("{names} is down again."),
        (NoticeKind::FollowUp, false) => format!("{names} is also down."),
        (_, false) => format!("{names} is down."),
    };
    if ko {
        format!("먹통 장애 알림입니다. {what} {todo} 확인하셨으면 1번을 누르세요.")
    } else {
        format!("This is a Meoktong outage alert. {what} {todo} Press 1 to acknowledge.")
    }
}

/// A playbook line as it can be heard: list numbering and links left out.
fn speakable(line: &str) -> String {
    let line = line.trim_start_matches(|c: char| c.is_ascii_digit() || c == '.' || c == ' ');
    line.split_whitespace()
        .filter(|w| !w.starts_with("http://") && !w.starts_with("https://"))
        .collect::<Vec<_>>()
        .join(" ")
}

fn escape_xml(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

/// `<Say>` in the locale's language with a voice that speaks it (Korean needs a Korean voice).
pub fn twiml_say(locale: Locale, text: &str) -> String {
    let attrs = match locale {
        Locale::Ko => "language=\"ko-KR\" voice=\"Polly.Seoyeon\"",
        Locale::En => "language=\"en-US\"",
    };
    format!("<Say {attrs}>{}</Say>", escape_xml(text))
}

/// The whole call: the notice spoken inside a one-digit `<Gather>` posting to `action`,
/// then a goodbye when nothing was pressed.
pub(super) fn call_twiml(locale: Locale, spoken: &str, action: &str) -> String {
    let bye = match locale {
        Locale::Ko => "입력이 없어 통화를 종료합니다.",
        Locale::En => "No key was pressed. Goodbye.",
    };
    let build = |text: &str| {
        format!(
            "<?xml version=\"1.0\" encoding=\"UTF-8\"?><Response><Gather input=\"dtmf\" numDigits=\"1\" timeout=\"8\" method=\"POST\" action=\"{}\">{}</Gather>{}<Hangup/></Response>",
            escape_xml(action),
            twiml_say(locale, text),
            twiml_say(locale, bye),
        )
    };
    let mut text = spoken.to_string();
    let mut twiml = build(&text);
    while twiml.chars().count() > MAX_TWIML && !text.is_empty() {
        let keep = text.chars().count() * 3 / 4;
        text = text.chars().take(keep).collect();
        twiml = build(&text);
    }
    twiml
}

impl Composer {
    /// The call to the notice's current contact: `None` when the notice cannot be rendered
    /// again, or that contact has no phone or turned calls off. Due at once; it expires when
    /// the next contact is tried (a call after that is no use).
    pub async fn voice_call(
        &self,
        notice: &notices::Model,
        now: i64,
    ) -> Result<Option<NewMessage>, StorageError> {
        let people = contacts::of_merchant(self.db(), self.crypto(), notice.merchant_id).await?;
        let Some(contact) = people
            .iter()
            .find(|c| c.position == notice.contact_position)
        else {
            return Ok(None);
        };
        let Some(phone) = contact.phone.as_deref().filter(|_| contact.voice_enabled) else {
            return Ok(None);
        };
        let sent = outbox::messages_of_notice(self.db(), notice.id).await?;
        let Some(rendered) = self.render_again(notice, &sent).await? else {
            return Ok(None);
        };
        let locale = rendered.locale();
        let action = format!(
            "{}{VOICE_GATHER_PATH}?notice={}&lang={}",
            self.config().public_url.trim_end_matches('/'),
            notice.id,
            locale.as_str()
        );
        let twiml = call_twiml(locale, &rendered.spoken(), &action);
        Ok(Some(NewMessage {
            channel: Channel::Voice,
            contact_id: Some(contact.id),
            contact_position: contact.position,
            recipient_enc: self.crypto().encrypt(phone),
            subject: None,
            body: twiml,
            html: None,
            priority: 0,
            state: MessageState::Pending,
            next_attempt_at: now,
            expires_at: notice
                .escalate_at
                .unwrap_or(now + ms(self.config().ack_timeout)),
            dedupe_key: outbox::voice_dedupe_key(notice, contact.position),
        }))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_call_asks_for_one_key_and_escapes_the_action() {
        let t = call_twiml(
            Locale::Ko,
            "먹통 장애 알림입니다. 카카오 로그인이 응답하지 않습니다.",
            "https://h.example/hooks/twilio/voice/gather?notice=7&lang=ko",
        );
        assert!(t.contains("numDigits=\"1\""), "{t}");
        assert!(t.contains("notice=7&amp;lang=ko"), "{t}");
        assert!(
            t.contains("language=\"ko-KR\" voice=\"Polly.Seoyeon\""),
            "{t}"
        );
        let long = "가".repeat(5000);
        assert!(call_twiml(Locale::Ko, &long, "https://h/x").chars().count() <= MAX_TWIML);
    }

    #[test]
    fn playbook_lines_are_spoken_without_numbers_or_links() {
        assert_eq!(
            speakable("1. 매장 전화로 주문을 받으세요 https://x.example/a"),
            "매장 전화로 주문을 받으세요"
        );
    }
}

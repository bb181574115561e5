//! Composing a notice for a merchant: everything between "this merchant must hear about these
//! incidents" and the rows the dispatchers send.
//!
//! The planner, the heartbeat sweeper, the timers (escalation), the dispatcher (email
//! fallbacks rendered when due) and the web's test alerts all come here; none of them renders
//! a text, picks a contact or builds an outbox row itself. The parts:
//! - [`ComposeConfig`]: the rendering and addressing settings;
//! - `text`: the texts of a notice (SMS, email subject, text and HTML) with its alert link;
//! - `reach`: the first contact with a channel independent of the failed platforms, and the
//!   messages for it (SMS first, email as its fallback, or at once past the queue budget);
//! - `webhook`: the webhook body beside them;
//! - `notice`: [`Composer::compose`] (a [`NoticeDraft`] and its [`Audience`] → the notice row,
//!   its messages and the contacts skipped), writing one, and the audit of skipped contacts;
//! - `again`: re-rendering a written notice (email fallbacks, the next contact) with the
//!   same alert link;
//! - `voice`: the alert call: the notice spoken (`Rendered::spoken`) in TwiML that asks for
//!   1 to acknowledge, for the notice's current contact (`Composer::voice_call`);
//! - `test_alert`: the `[테스트]` notice a merchant asks for;
//! - `broadcast`: an association's `[공지]` to one member.
mod again;
mod broadcast;
mod config;
mod notice;
mod reach;
mod test_alert;
mod text;
mod voice;
mod webhook;

pub use broadcast::{BroadcastDraft, broadcast_notice};
pub use config::ComposeConfig;
pub use notice::{Audience, Composed, Composer, NoticeDraft, Skip};
pub use reach::Reach;
pub use test_alert::{TestContact, TestTarget, test_notice};
pub use text::{EmailTexts, NoticeContext, Rendered, locale_of, zone_of};
pub use voice::{VOICE_GATHER_PATH, VOICE_STATUS_PATH, twiml_say};
pub use webhook::{WEBHOOK_VALIDITY_MS, WebhookNotice};

fn ms(d: std::time::Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

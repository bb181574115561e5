//! The texts of a notice: SMS (two segments at most), email subject, text and HTML, the link.
//! The email is rendered only when it is sent (`Rendered::email`).
use super::{ComposeConfig, NoticeDraft};
use meoktong_domain::Category;
use meoktong_domain::duration_text::Locale;
use meoktong_domain::message::{self, NoticeDep, NoticeInput, NoticeKind, SmsLimit};
use meoktong_storage::entity::{dependencies, incidents, merchants, playbooks};
use std::collections::HashMap;
use std::str::FromStr;
use std::time::Duration;

/// A notice's texts: the SMS at once; the email (subject, text, HTML) only when asked for,
/// since most email fallbacks are never sent.
pub struct Rendered {
    pub sms: String,
    pub priority: i32,
    input: NoticeInput,
    full_playbook: String,
}

/// An email's subject, plain text and HTML.
pub struct EmailTexts {
    pub subject: String,
    pub text: String,
    pub html: String,
}

impl Rendered {
    /// The notice spoken on an alert call: what is down and what to do, in the merchant's
    /// language, with the names spelled out and no link (a link cannot be heard).
    pub fn spoken(&self) -> String {
        super::voice::spoken(&self.input, &self.full_playbook)
    }

    /// The language the notice was rendered in.
    pub fn locale(&self) -> Locale {
        self.input.locale
    }

    pub fn email(&self) -> EmailTexts {
        let subject = message::email_subject(&self.input);
        let text = message::email_text(&self.input, &self.full_playbook);
        let html = format!(
            "<!doctype html><html lang=\"{}\"><body style=\"font-family:sans-serif\"><h1 style=\"font-size:1.2em\">{}</h1><pre style=\"white-space:pre-wrap;font:inherit\">{}</pre><p><a href=\"{}\">{}</a></p></body></html>",
            self.input.locale.as_str(),
            escape_html(&subject),
            escape_html(&text),
            escape_html(&self.input.link),
            escape_html(&self.input.link),
        );
        EmailTexts {
            subject,
            text,
            html,
        }
    }
}

/// The merchant's language, else the service's default, else Korean.
pub fn locale_of(merchant: &merchants::Model, default_locale: &str) -> Locale {
    merchant
        .locale
        .as_deref()
        .and_then(Locale::parse)
        .or_else(|| Locale::parse(default_locale))
        .unwrap_or(Locale::Ko)
}

/// The merchant's time zone, else the service's: every time a merchant reads is in it.
pub fn zone_of(merchant: &merchants::Model, service: chrono_tz::Tz) -> chrono_tz::Tz {
    merchant
        .time_zone
        .as_deref()
        .and_then(|t| chrono_tz::Tz::from_str(t).ok())
        .unwrap_or(service)
}

pub struct NoticeContext {
    pub input: NoticeInput,
    pub since: i64,
    categories: Vec<Category>,
}

fn escape_html(s: &str) -> String {
    s.replace('&', "&amp;")
        .replace('<', "&lt;")
        .replace('>', "&gt;")
        .replace('"', "&quot;")
}

impl NoticeContext {
    pub fn new(
        cfg: &ComposeConfig,
        merchant: &merchants::Model,
        draft: &NoticeDraft,
        deps: &HashMap<i64, dependencies::Model>,
        token: &str,
        now: i64,
    ) -> NoticeContext {
        let (incs, kind) = (&draft.incidents, draft.kind);
        let locale = locale_of(merchant, &cfg.default_locale);
        let tz = zone_of(merchant, cfg.time_zone);
        let mut sorted: Vec<&incidents::Model> = incs.iter().collect();
        sorted.sort_by_key(|i| (i.confirmed_at, i.id));
        let mut categories = Vec::new();
        let dep_list: Vec<NoticeDep> = sorted
            .iter()
            .filter_map(|i| deps.get(&i.dependency_id))
            .map(|d| {
                let category = Category::parse(&d.category).unwrap_or(Category::Other);
                categories.push(category);
                NoticeDep {
                    name: d.name.clone(),
                    name_en: d.name_en.clone(),
                    category,
                }
            })
            .collect();
        let since = match kind {
            NoticeKind::Relapse => sorted
                .iter()
                .filter_map(|i| i.last_relapse_at)
                .max()
                .unwrap_or(now),
            _ => sorted.iter().map(|i| i.started_at).min().unwrap_or(now),
        };
        let outage = kind.is_back().then(|| {
            let end = sorted
                .iter()
                .filter_map(|i| i.resolved_at)
                .max()
                .unwrap_or(now);
            Duration::from_millis(u64::try_from(end - since).unwrap_or(0))
        });
        let link = format!("{}/a/{}", cfg.public_url.trim_end_matches('/'), token);
        // A slowdown only when nothing it tells (or names as still down) is an outage.
        let slow = !incs.is_empty()
            && incs
                .iter()
                .chain(&draft.still_down)
                .all(|i| i.severity == "degraded");
        // Maintenance when everything it tells is (a window here, or Kakao's -9798).
        let maintenance = !incs.is_empty()
            && incs
                .iter()
                .all(|i| meoktong_storage::status_comms::is_maintenance_evidence(&i.evidence));
        NoticeContext {
            input: NoticeInput {
                kind,
                locale,
                deps: dep_list,
                since,
                now,
                tz,
                outage,
                playbook_line: None,
                link,
                still_down: draft
                    .still_down
                    .iter()
                    .filter_map(|i| deps.get(&i.dependency_id))
                    .map(|d| NoticeDep {
                        name: d.name.clone(),
                        name_en: d.name_en.clone(),
                        category: Category::parse(&d.category).unwrap_or(Category::Other),
                    })
                    .collect(),
                slow,
                maintenance,
            },
            since,
            categories,
        }
    }

    /// Texts for every channel, with the merchant's own playbook where they wrote one; the
    /// SMS within Twilio's two segments.
    pub fn render(self, own: &[playbooks::Model]) -> Rendered {
        self.render_within(own, SmsLimit::TWO_SEGMENTS)
    }

    /// Like [`NoticeContext::render`], with the SMS within `sms_limit`, the first SMS
    /// provider's own limit ([`crate::SmsProvider::text_limit`]: an LMS for Solapi).
    pub fn render_within(mut self, own: &[playbooks::Model], sms_limit: SmsLimit) -> Rendered {
        let locale = self.input.locale;
        let first = self.categories.first().copied().unwrap_or(Category::Other);
        let own_text = own
            .iter()
            .find(|p| p.category == first.as_str())
            .map(|p| p.text.clone());
        // What to do now is about what is down: a recovery has none, a partial recovery takes
        // the default line of what is still down.
        if !self.input.kind.is_back() {
            self.input.playbook_line = own_text
                .as_deref()
                .and_then(|t| t.lines().find(|l| !l.trim().is_empty()))
                .map(|l| l.trim().to_string());
        }
        let full_playbook = match &own_text {
            Some(t) => t.clone(),
            None => {
                let mut seen = Vec::new();
                let mut parts = Vec::new();
                for c in &self.categories {
                    if !seen.contains(c) {
                        seen.push(*c);
                        parts.push(message::default_playbook_text(*c, locale).to_string());
                    }
                }
                parts.join("\n\n")
            }
        };
        let sms = message::sms_text_within(&self.input, sms_limit);
        let urgent = self.categories.iter().any(|c| {
            matches!(
                c,
                Category::Messenger | Category::Payment | Category::Network
            )
        });
        Rendered {
            sms,
            priority: if urgent { 0 } else { 1 },
            input: self.input,
            full_playbook,
        }
    }
}

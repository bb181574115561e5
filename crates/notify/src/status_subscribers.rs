//! Telling status-page subscribers (issue 20): a loop around [`StatusNotifier::notify_once`].
//!
//! Each pass records the automatic updates (an incident opened or resolved, a maintenance
//! window started), then, for every confirmed subscriber, takes the updates about the
//! dependencies they follow that they have not been told. Updates are grouped like merchant
//! alerts: nothing goes out until the oldest untold update is `group_window` old, and then
//! one message per dependency says everything since (the newest status first). A false-alarm
//! correction reaches only subscribers who were told something about that incident.
//! Messages go through the outbox (closed notices of kind `status`), each with its
//! one-click unsubscribe link.
use meoktong_domain::duration_text::Locale;
use meoktong_storage::entity::{dependencies, incident_updates, status_subscribers};
use meoktong_storage::status_comms::updates::UpdateStatus;
use meoktong_storage::status_comms::{StatusMessage, maintenance, queue, subscribers, updates};
use meoktong_storage::{Crypto, Db, StorageError, catalog};
use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

/// Updates read per pass.
const PAGE: u64 = 2_000;
/// How far back incidents get their automatic "opened"/"resolved" updates.
const LOOKBACK_MS: i64 = 7 * 24 * 3600 * 1000;
/// A subscriber message is worth sending for a day.
const VALIDITY_MS: i64 = 24 * 3600 * 1000;

#[derive(Clone)]
pub struct StatusNotifier {
    db: Db,
    crypto: Arc<Crypto>,
    public_url: String,
    tz: chrono_tz::Tz,
    group_window: Duration,
}

#[derive(Debug, Default, PartialEq, Eq)]
pub struct NotifyStats {
    pub messages: usize,
}

impl StatusNotifier {
    pub fn new(
        db: Db,
        crypto: Arc<Crypto>,
        public_url: &str,
        tz: chrono_tz::Tz,
        group_window: Duration,
    ) -> StatusNotifier {
        StatusNotifier {
            db,
            crypto,
            public_url: public_url.trim_end_matches('/').to_string(),
            tz,
            group_window,
        }
    }

    pub async fn notify_once(&self, now: i64) -> Result<NotifyStats, StorageError> {
        updates::sync_automatic(&self.db, now - LOOKBACK_MS, now).await?;
        maintenance::announce_started(&self.db, now).await?;
        let subs = subscribers::active(&self.db).await?;
        let Some(from) = subs.iter().map(|s| s.told_through).min() else {
            return Ok(NotifyStats::default());
        };
        let pending = updates::after(&self.db, from, PAGE).await?;
        if pending.is_empty() {
            return Ok(NotifyStats::default());
        }
        let deps: HashMap<i64, dependencies::Model> = catalog::list_dependencies(&self.db)
            .await?
            .into_iter()
            .map(|d| (d.id, d))
            .collect();
        // For corrections: every update of the incidents a false alarm is about.
        let corrected: Vec<i64> = pending
            .iter()
            .filter(|u| u.status == UpdateStatus::FalseAlarm.as_str())
            .filter_map(|u| u.incident_id)
            .collect();
        let history = updates::of_incidents(&self.db, &corrected).await?;
        let window = i64::try_from(self.group_window.as_millis()).unwrap_or(i64::MAX);
        let newest = pending.last().map_or(from, |u| u.id);
        let mut stats = NotifyStats::default();
        for s in &subs {
            let follows = subscribers::dependencies_of(s);
            let mine: Vec<&incident_updates::Model> = pending
                .iter()
                .filter(|u| u.id > s.told_through && follows.contains(&u.dependency_id))
                .collect();
            let Some(oldest) = mine.first() else {
                subscribers::set_told_through(&self.db, s.id, newest).await?;
                continue;
            };
            if now - oldest.created_at < window {
                continue; // more may come within the group window
            }
            let through = mine.last().map_or(newest, |u| u.id);
            let told = mine.into_iter().filter(|u| {
                u.status != UpdateStatus::FalseAlarm.as_str()
                    || history.iter().any(|h| {
                        h.incident_id == u.incident_id
                            && h.id <= s.told_through
                            && h.status != UpdateStatus::FalseAlarm.as_str()
                    })
            });
            let mut by_dep: BTreeMap<i64, Vec<&incident_updates::Model>> = BTreeMap::new();
            for u in told {
                by_dep.entry(u.dependency_id).or_default().push(u);
            }
            for (dep, list) in by_dep {
                let Some(d) = deps.get(&dep) else { continue };
                stats.messages += usize::from(self.send(s, d, &list, through, now).await?);
            }
            subscribers::set_told_through(&self.db, s.id, through).await?;
        }
        Ok(stats)
    }

    async fn send(
        &self,
        s: &status_subscribers::Model,
        dep: &dependencies::Model,
        list: &[&incident_updates::Model],
        through: i64,
        now: i64,
    ) -> Result<bool, StorageError> {
        let locale = Locale::parse(&s.locale).unwrap_or(Locale::Ko);
        let token = subscribers::link_token(&self.crypto, s.id);
        let text = SubscriberText {
            locale,
            tz: self.tz,
            dependency: match locale {
                Locale::En => dep.name_en.clone().unwrap_or_else(|| dep.name.clone()),
                Locale::Ko => dep.name.clone(),
            },
            updates: list
                .iter()
                .map(|u| {
                    (
                        UpdateStatus::parse(&u.status).unwrap_or(UpdateStatus::Investigating),
                        u.body.clone(),
                        u.created_at,
                    )
                })
                .collect(),
            page: format!(
                "{}/status/{}",
                self.public_url,
                list.last()
                    .and_then(|u| u.incident_id)
                    .map_or(dep.slug.clone(), |i| format!("incidents/{i}"))
            ),
            unsubscribe: format!("{}/u/{token}", self.public_url),
        };
        let (subject, body) = if s.channel == "sms" {
            (None, text.sms())
        } else {
            (Some(text.subject()), text.email())
        };
        queue(
            &self.db,
            StatusMessage {
                merchant_id: 0,
                kind: "status",
                channel: &s.channel,
                recipient_enc: &s.recipient_enc,
                contact_id: None,
                subject,
                body,
                dedupe_key: format!("status:{}:{}:{through}", s.id, dep.id),
                validity_ms: VALIDITY_MS,
            },
            now,
        )
        .await
    }
}

/// What one subscriber message says: a dependency's untold updates, oldest first.
pub struct SubscriberText {
    pub locale: Locale,
    pub tz: chrono_tz::Tz,
    pub dependency: String,
    pub updates: Vec<(UpdateStatus, String, i64)>,
    pub page: String,
    pub unsubscribe: String,
}

impl SubscriberText {
    fn pick(&self, ko: &'static str, en: &'static str) -> &'static str {
        match self.locale {
            Locale::Ko => ko,
            Locale::En => en,
        }
    }

    fn status_words(&self, u: UpdateStatus) -> &'static str {
        let (ko, en) = u.words();
        self.pick(ko, en)
    }

    fn hhmm(&self, at: i64) -> String {
        use chrono::TimeZone;
        self.tz
            .timestamp_millis_opt(at)
            .single()
            .map(|t| t.format("%H:%M").to_string())
            .unwrap_or_default()
    }

    /// `[먹통] 카카오톡: 원인 확인 (15:32)`.
    pub fn subject(&self) -> String {
        let last = self.updates.last();
        format!(
            "{} {}: {}{}",
            self.pick("[먹통]", "[Meoktong]"),
            self.dependency,
            last.map_or("", |u| self.status_words(u.0)),
            last.map_or(String::new(), |u| format!(" ({})", self.hhmm(u.2)))
        )
    }

    /// Short: the newest status and its text (cut to 40 characters), then the unsubscribe
    /// link.
    pub fn sms(&self) -> String {
        let last = self.updates.last();
        let body: String = last
            .map(|u| u.1.trim().chars().take(40).collect())
            .unwrap_or_default();
        let sep = if body.is_empty() { "" } else { " " };
        format!(
            "{} {}{sep}{body} {} {}",
            self.subject(),
            match last.map(|u| u.0) {
                Some(UpdateStatus::FalseAlarm) => self.pick(
                    "앞선 장애 안내는 오경보였습니다. 혼란을 드려 죄송합니다.",
                    "The earlier outage notice was a false alarm. Sorry.",
                ),
                _ => "",
            },
            self.pick("수신거부", "Stop"),
            self.unsubscribe
        )
        .replace("  ", " ")
    }

    /// Every untold update with its time, the page and the unsubscribe link.
    pub fn email(&self) -> String {
        let mut out = String::new();
        for (status, body, at) in &self.updates {
            out.push_str(&format!(
                "{} {}",
                self.hhmm(*at),
                self.status_words(*status)
            ));
            if *status == UpdateStatus::FalseAlarm {
                out.push_str(self.pick(
                    ": 앞선 장애 안내는 오경보였습니다. 실제 장애는 없었습니다. 혼란을 드려 죄송합니다.",
                    ": the earlier outage notice was a false alarm; nothing was down. Sorry for the confusion.",
                ));
            }
            if !body.trim().is_empty() {
                out.push_str(&format!(" — {}", body.trim()));
            }
            out.push('\n');
        }
        out.push_str(&format!(
            "\n{} {}\n\n{} {}\n",
            self.pick("자세히 보기:", "Details:"),
            self.page,
            self.pick(
                "이 알림을 그만 받으려면 (한 번 누르면 해지):",
                "To stop these messages (one click):"
            ),
            self.unsubscribe
        ));
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn text(locale: Locale) -> SubscriberText {
        SubscriberText {
            locale,
            tz: chrono_tz::Asia::Seoul,
            dependency: "카카오톡".into(),
            updates: vec![
                (UpdateStatus::Investigating, "".into(), 1_796_000_000_000),
                (
                    UpdateStatus::Identified,
                    "데이터센터 화재".into(),
                    1_796_000_060_000,
                ),
            ],
            page: "http://x/status/incidents/1".into(),
            unsubscribe: "http://x/u/1.abc".into(),
        }
    }

    #[test]
    fn every_message_says_the_newest_status_and_how_to_stop() {
        let t = text(Locale::Ko);
        let sms = t.sms();
        assert!(sms.starts_with("[먹통] 카카오톡: 원인 확인"), "{sms}");
        assert!(sms.contains("데이터센터 화재"));
        assert!(sms.ends_with("수신거부 http://x/u/1.abc"), "{sms}");
        let email = t.email();
        assert!(email.contains("조사 중") && email.contains("원인 확인 — 데이터센터 화재"));
        assert!(email.contains("http://x/u/1.abc"));
    }
}

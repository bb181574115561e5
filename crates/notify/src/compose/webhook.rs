//! The webhook message of a notice: one signed JSON POST to the merchant's own system beside
//! the SMS and email, for every alert notice (down, follow-up, relapse, recovery, store
//! offline/back).
//!
//! It is machine-to-machine, so it is due at once and is not part of the person-to-person
//! chain (SMS → email → next contact): it never waits, never falls back, never escalates and
//! is never an acknowledgement. Its body is fixed when the notice is planned; the signature is
//! made when it is sent, with the merchant's secret at that moment.
use meoktong_domain::message::NoticeKind;
use meoktong_storage::entity::{dependencies, incidents};
use meoktong_storage::outbox::{Channel, MessageState, NewMessage};
use std::collections::HashMap;

/// How long a webhook is retried (with backoff) before it is given up.
pub const WEBHOOK_VALIDITY_MS: i64 = 3600 * 1000;

/// What the webhook of one notice says.
pub struct WebhookNotice<'a> {
    pub kind: NoticeKind,
    pub merchant_id: i64,
    pub incidents: &'a [incidents::Model],
    pub deps: &'a HashMap<i64, dependencies::Model>,
    /// `{public_url}/a/{token}`: the same alert page the SMS links to.
    pub link: &'a str,
    /// The SMS text, for receivers that just want to show something.
    pub text: &'a str,
    pub tz: chrono_tz::Tz,
    /// The notice's dedupe key: stable across retries, so receivers can deduplicate.
    pub dedupe: &'a str,
}

fn rfc3339(tz: chrono_tz::Tz, ms: i64) -> Option<String> {
    use chrono::TimeZone;
    tz.timestamp_millis_opt(ms)
        .single()
        .map(|t| t.to_rfc3339_opts(chrono::SecondsFormat::Secs, false))
}

impl WebhookNotice<'_> {
    /// The JSON body (documented in the README, "Webhooks").
    pub fn payload(&self) -> serde_json::Value {
        let mut sorted: Vec<&incidents::Model> = self.incidents.iter().collect();
        sorted.sort_by_key(|i| (i.confirmed_at, i.id));
        let dependencies: Vec<serde_json::Value> = sorted
            .iter()
            .map(|i| {
                let d = self.deps.get(&i.dependency_id);
                serde_json::json!({
                    "slug": d.map(|d| d.slug.clone()),
                    "name": d.map(|d| d.name.clone()),
                    "name_en": d.and_then(|d| d.name_en.clone()),
                    "incident_id": i.id,
                    "severity": i.severity,
                    "started_at": rfc3339(self.tz, i.started_at),
                    "resolved_at": i.resolved_at.and_then(|r| rfc3339(self.tz, r)),
                })
            })
            .collect();
        let started = sorted.iter().map(|i| i.started_at).min();
        // Resolved only when every incident of the notice is.
        let resolved = if sorted.iter().all(|i| i.resolved_at.is_some()) {
            sorted.iter().filter_map(|i| i.resolved_at).max()
        } else {
            None
        };
        serde_json::json!({
            "id": self.dedupe,
            "event": self.kind.as_str(),
            "merchant_id": self.merchant_id,
            "incident_id": sorted.first().map(|i| i.id),
            "incident_ids": sorted.iter().map(|i| i.id).collect::<Vec<_>>(),
            "dependencies": dependencies,
            "started_at": started.and_then(|s| rfc3339(self.tz, s)),
            "resolved_at": resolved.and_then(|r| rfc3339(self.tz, r)),
            "link": self.link,
            "text": self.text,
        })
    }

    /// The outbox row: due now, its own dedupe key (`{notice}:webhook`), and the contact
    /// position of the notice's first contact so it never changes where escalation stands.
    pub fn message(
        &self,
        url_enc: &str,
        contact_position: i32,
        priority: i32,
        now: i64,
    ) -> NewMessage {
        NewMessage {
            channel: Channel::Webhook,
            contact_id: None,
            contact_position,
            recipient_enc: url_enc.to_string(),
            subject: None,
            body: self.payload().to_string(),
            html: None,
            priority,
            state: MessageState::Pending,
            next_attempt_at: now,
            expires_at: now + WEBHOOK_VALIDITY_MS,
            dedupe_key: format!("{}:webhook", self.dedupe),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn incident(id: i64, dep: i64, started: i64, resolved: Option<i64>) -> incidents::Model {
        incidents::Model {
            id,
            dependency_id: dep,
            severity: "down".into(),
            started_at: started,
            confirmed_at: started + 6_000,
            resolved_at: resolved,
            relapse_count: 0,
            last_relapse_at: None,
            evidence: "{}".into(),
            created_at: started,
            updated_at: started,
        }
    }

    fn dep(id: i64, slug: &str, name: &str, name_en: &str) -> dependencies::Model {
        dependencies::Model {
            id,
            slug: slug.into(),
            name: name.into(),
            name_en: Some(name_en.into()),
            category: "messenger".into(),
            platform: Some("kakao".into()),
            description: None,
            source: "config".into(),
            owner_merchant_id: None,
            enabled: true,
            created_at: 0,
            updated_at: 0,
        }
    }

    #[test]
    fn payload_names_dependencies_and_times_with_offset() {
        let deps = HashMap::from([
            (1, dep(1, "kakaotalk", "카카오톡", "KakaoTalk")),
            (2, dep(2, "kakaopay", "카카오페이", "KakaoPay")),
        ]);
        // 2022-10-15 15:30:00 +09:00
        let t = 1_665_815_400_000;
        let incs = [incident(8, 2, t + 1000, None), incident(7, 1, t, None)];
        let n = WebhookNotice {
            kind: NoticeKind::Down,
            merchant_id: 42,
            incidents: &incs,
            deps: &deps,
            link: "https://m.example/a/tok",
            text: "[장애] 카카오톡",
            tz: chrono_tz::Asia::Seoul,
            dedupe: "down:42:7-8:down",
        };
        let p = n.payload();
        assert_eq!(p["event"], "down");
        assert_eq!(p["merchant_id"], 42);
        assert_eq!(p["incident_id"], 7);
        assert_eq!(p["incident_ids"], serde_json::json!([7, 8]));
        assert_eq!(p["started_at"], "2022-10-15T15:30:00+09:00");
        assert!(p["resolved_at"].is_null());
        assert_eq!(p["dependencies"][0]["slug"], "kakaotalk");
        assert_eq!(p["dependencies"][0]["name"], "카카오톡");
        assert_eq!(p["dependencies"][1]["name_en"], "KakaoPay");
        assert_eq!(p["dependencies"][1]["severity"], "down");
        assert_eq!(p["link"], "https://m.example/a/tok");
        let m = n.message("enc", 0, 1, 5);
        assert_eq!(
            (m.channel.as_str(), m.state.as_str(), m.next_attempt_at),
            ("webhook", "pending", 5)
        );
        assert_eq!(m.dedupe_key, "down:42:7-8:down:webhook");
    }

    #[test]
    fn recovery_carries_resolved_at() {
        let deps = HashMap::from([(1, dep(1, "kakaotalk", "카카오톡", "KakaoTalk"))]);
        let t = 1_665_815_400_000;
        let incs = [incident(7, 1, t, Some(t + 3_600_000))];
        let n = WebhookNotice {
            kind: NoticeKind::Recovery,
            merchant_id: 1,
            incidents: &incs,
            deps: &deps,
            link: "l",
            text: "",
            tz: chrono_tz::UTC,
            dedupe: "d",
        };
        let p = n.payload();
        assert_eq!(p["event"], "recovery");
        assert_eq!(p["resolved_at"], "2022-10-15T07:30:00+00:00");
        assert_eq!(
            p["dependencies"][0]["resolved_at"],
            "2022-10-15T07:30:00+00:00"
        );
    }
}

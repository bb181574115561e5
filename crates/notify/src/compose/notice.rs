//! One notice composed: its texts, its link, its first contact's messages, its webhook and
//! the row that records it; written with the audit of the contacts skipped.
use super::reach::{self, Reach};
use super::{ComposeConfig, NoticeContext, WebhookNotice, ms};
use meoktong_domain::message::NoticeKind;
use meoktong_storage::contacts::{self, Contact};
use meoktong_storage::entity::{dependencies, incidents, merchants, playbooks};
use meoktong_storage::outbox::{self, NewMessage, NewNotice, NoticeStatus};
use meoktong_storage::{Crypto, Db, StorageError, audit, webhooks};
use std::collections::HashMap;
use std::sync::Arc;

/// What one notice is about: the merchant, its kind, and the incidents it tells with the key
/// each records (`down`, `relapse:N`, `recovery:N`; one per incident, in the same order).
#[derive(Debug, Clone)]
pub struct NoticeDraft {
    pub merchant_id: i64,
    pub kind: NoticeKind,
    pub incidents: Vec<incidents::Model>,
    pub keys: Vec<String>,
    /// Incidents of the same outage still down, named by a partial recovery ("… still
    /// down"); told before, so they record no key here.
    pub still_down: Vec<incidents::Model>,
}

impl NoticeDraft {
    /// A draft whose incidents all record the same key.
    pub fn new(
        merchant_id: i64,
        kind: NoticeKind,
        incidents: Vec<incidents::Model>,
        key: &str,
    ) -> NoticeDraft {
        let keys = vec![key.to_string(); incidents.len()];
        NoticeDraft {
            merchant_id,
            kind,
            incidents,
            keys,
            still_down: Vec::new(),
        }
    }

    /// `{keys}:{merchant}:{incident ids}:{kind}`: the same notice always gets the same key,
    /// so a second planner's (or a restarted one's) copy is refused by the database.
    pub fn dedupe_key(&self) -> String {
        let mut pairs: Vec<(i64, &str)> = self
            .incidents
            .iter()
            .map(|i| i.id)
            .zip(self.keys.iter().map(String::as_str))
            .collect();
        pairs.sort_unstable();
        let mut keys: Vec<&str> = pairs.iter().map(|(_, k)| *k).collect();
        keys.sort_unstable();
        keys.dedup();
        format!(
            "{}:{}:{}:{}",
            keys.join("+"),
            self.merchant_id,
            pairs
                .iter()
                .map(|(id, _)| id.to_string())
                .collect::<Vec<_>>()
                .join("-"),
            self.kind.as_str()
        )
    }
}

/// The merchant a notice is for and how to reach them.
#[derive(Clone, Copy)]
pub struct Audience<'a> {
    pub merchant: &'a merchants::Model,
    pub contacts: &'a [Contact],
    pub playbooks: &'a [playbooks::Model],
    /// The merchant's webhook URL (encrypted), when they have one.
    pub webhook_url_enc: Option<&'a str>,
}

/// An [`Audience`] read from the database for one merchant.
pub struct AudienceData {
    merchant: merchants::Model,
    contacts: Vec<Contact>,
    playbooks: Vec<playbooks::Model>,
    webhook_url_enc: Option<String>,
}

impl AudienceData {
    pub fn audience(&self) -> Audience<'_> {
        Audience {
            merchant: &self.merchant,
            contacts: &self.contacts,
            playbooks: &self.playbooks,
            webhook_url_enc: self.webhook_url_enc.as_deref(),
        }
    }
}

/// A contact passed over: no channel of theirs was usable for this notice.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Skip {
    pub merchant_id: i64,
    pub position: i32,
    pub reason: String,
}

/// A notice ready to be written.
pub struct Composed {
    pub notice: NewNotice,
    pub messages: Vec<NewMessage>,
    pub skipped: Vec<Skip>,
}

/// Composes notices (see the module's documentation).
pub struct Composer {
    db: Db,
    crypto: Arc<Crypto>,
    cfg: ComposeConfig,
}

impl Composer {
    pub fn new(db: Db, crypto: Arc<Crypto>, cfg: ComposeConfig) -> Composer {
        Composer { db, crypto, cfg }
    }

    pub fn config(&self) -> &ComposeConfig {
        &self.cfg
    }

    pub(super) fn db(&self) -> &Db {
        &self.db
    }

    pub fn crypto(&self) -> &Crypto {
        &self.crypto
    }

    /// The notice of `draft` for `to`: a new alert link, the texts, the first usable
    /// contact's messages (and the webhook's), and the row recording it. No I/O.
    /// `queued_sms` is the SMS queue's length so far (see [`Reach`]).
    pub fn compose(
        &self,
        draft: &NoticeDraft,
        to: Audience<'_>,
        deps: &HashMap<i64, dependencies::Model>,
        queued_sms: &mut i64,
        now: i64,
    ) -> Composed {
        let failed_platforms = failed_platforms(&draft.incidents, deps);
        let token = outbox::new_link_token(now);
        let ctx = NoticeContext::new(&self.cfg, to.merchant, draft, deps, &token, now);
        let since = ctx.since;
        let (link, tz) = (ctx.input.link.clone(), ctx.input.tz);
        let rendered = ctx.render_within(to.playbooks, self.cfg.sms_limit);
        let dedupe = draft.dedupe_key();
        let Reach {
            position,
            mut messages,
            skipped,
        } = self.first_usable(
            draft.merchant_id,
            to.contacts,
            &failed_platforms,
            &rendered,
            &dedupe,
            0,
            queued_sms,
            now,
        );
        if let Some(url_enc) = to.webhook_url_enc {
            let hook = WebhookNotice {
                kind: draft.kind,
                merchant_id: draft.merchant_id,
                incidents: &draft.incidents,
                deps,
                link: &link,
                text: &rendered.sms,
                tz,
                dedupe: &dedupe,
            };
            messages.push(hook.message(url_enc, position.unwrap_or(0), rendered.priority, now));
        }
        let wants_ack = draft.kind.wants_ack();
        let mut keyed: Vec<(i64, String)> = draft
            .incidents
            .iter()
            .map(|i| i.id)
            .zip(draft.keys.iter().cloned())
            .collect();
        keyed.sort_unstable();
        let notice = NewNotice {
            merchant_id: draft.merchant_id,
            kind: draft.kind,
            dedupe_key: dedupe,
            dependency_ids: draft.incidents.iter().map(|i| i.dependency_id).collect(),
            incident_ids: keyed.iter().map(|(id, _)| *id).collect(),
            incident_keys: keyed.into_iter().map(|(_, k)| k).collect(),
            since,
            link: outbox::LinkKey::of(&self.crypto, &token),
            token_expires_at: now + ms(self.cfg.alert_link_ttl),
            escalate_at: (wants_ack && position.is_some())
                .then_some(now + ms(self.cfg.ack_timeout)),
            status: if wants_ack {
                NoticeStatus::Open
            } else {
                NoticeStatus::Closed
            },
            now,
        };
        Composed {
            notice,
            messages,
            skipped,
        }
    }

    /// The first contact from `start` with a usable channel, and its messages.
    #[allow(clippy::too_many_arguments)]
    pub fn first_usable(
        &self,
        merchant_id: i64,
        contacts: &[Contact],
        failed_platforms: &[String],
        rendered: &super::Rendered,
        dedupe: &str,
        start: i32,
        queued_sms: &mut i64,
        now: i64,
    ) -> Reach {
        reach::first_usable(
            &self.cfg,
            &self.crypto,
            merchant_id,
            contacts,
            failed_platforms,
            rendered,
            dedupe,
            start,
            queued_sms,
            now,
        )
    }

    /// One merchant's audience read from the database; `None` when the merchant is gone.
    pub async fn audience_of(
        &self,
        merchant_id: i64,
    ) -> Result<Option<AudienceData>, StorageError> {
        let Some(merchant) = contacts::merchant(&self.db, merchant_id).await? else {
            return Ok(None);
        };
        Ok(Some(AudienceData {
            contacts: contacts::of_merchant(&self.db, &self.crypto, merchant_id).await?,
            playbooks: contacts::playbooks(&self.db, merchant_id).await?,
            webhook_url_enc: webhooks::url_enc_of(&self.db, &[merchant_id])
                .await?
                .remove(&merchant_id),
            merchant,
        }))
    }

    /// Writes one composed notice (and the audit of the contacts it skipped). `None` when the
    /// notice was written before (by another replica or an earlier pass).
    pub async fn write(
        &self,
        composed: Composed,
        actor: &str,
        now: i64,
    ) -> Result<Option<i64>, StorageError> {
        self.record_skips(actor, None, &composed.skipped, now)
            .await?;
        outbox::create_notice(&self.db, composed.notice, &composed.messages).await
    }

    /// Logs and audits contacts passed over (`notice.contact_skipped`), by `actor`.
    pub async fn record_skips(
        &self,
        actor: &str,
        notice_id: Option<i64>,
        skipped: &[Skip],
        now: i64,
    ) -> Result<(), StorageError> {
        for s in skipped {
            tracing::warn!(
                merchant.id = s.merchant_id,
                notice.id = notice_id,
                contact.position = s.position,
                reason = %s.reason,
                actor,
                "contact skipped"
            );
            let mut detail = serde_json::json!({"position": s.position, "reason": s.reason});
            if let Some(id) = notice_id {
                detail["notice_id"] = id.into();
            }
            audit::record(
                &self.db.conn,
                now,
                audit::AuditEntry {
                    actor_user_id: None,
                    actor,
                    action: "notice.contact_skipped",
                    target_type: "merchant",
                    target_id: Some(s.merchant_id),
                    detail,
                },
            )
            .await?;
        }
        Ok(())
    }
}

/// The platforms the incidents' dependencies run on: a channel on one of them is no fallback.
pub(super) fn failed_platforms(
    incidents: &[incidents::Model],
    deps: &HashMap<i64, dependencies::Model>,
) -> Vec<String> {
    incidents
        .iter()
        .filter_map(|i| deps.get(&i.dependency_id).and_then(|d| d.platform.clone()))
        .collect()
}

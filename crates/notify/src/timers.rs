//! The timers of the hub, as one sweep: SMS not delivered in time → email; SMS still queued
//! past the queue budget → email too; no acknowledgement in time → the next contact.
use crate::planner::Planner;
use crate::text::{NoticeContext, Rendered};
use meoktong_domain::message::NoticeKind;
use meoktong_storage::entity::{dependencies, incidents, notices, outbox as outbox_entity};
use meoktong_storage::sea_orm::{ColumnTrait, EntityTrait, QueryFilter};
use meoktong_storage::{Crypto, Db, StorageError, audit, contacts, outbox};
use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

pub struct Timers {
    db: Db,
    crypto: Arc<Crypto>,
    planner: Arc<Planner>,
    pub sms_delivery_timeout: Duration,
    pub sms_queue_budget: Duration,
    pub ack_timeout: Duration,
}

/// How long a status callback for a message not recorded yet is kept.
const EARLY_CALLBACK_KEPT_MS: i64 = 24 * 3600 * 1000;

fn ms(d: Duration) -> i64 {
    i64::try_from(d.as_millis()).unwrap_or(i64::MAX)
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct SweepStats {
    pub fallbacks: u64,
    pub escalations: u64,
}

impl Timers {
    pub fn new(
        db: Db,
        crypto: Arc<Crypto>,
        planner: Arc<Planner>,
        sms_delivery_timeout: Duration,
        sms_queue_budget: Duration,
        ack_timeout: Duration,
    ) -> Timers {
        Timers {
            db,
            crypto,
            planner,
            sms_delivery_timeout,
            sms_queue_budget,
            ack_timeout,
        }
    }

    pub async fn sweep_once(&self, now: i64) -> Result<SweepStats, StorageError> {
        let mut stats = SweepStats::default();
        for row in outbox::undelivered_sms(&self.db, now - ms(self.sms_delivery_timeout)).await? {
            stats.fallbacks +=
                outbox::activate_fallback(&self.db, row.notice_id, row.contact_position, now)
                    .await?;
            outbox::mark_fallback_done(&self.db, row.id, now).await?;
            tracing::info!(
                outbox.id = row.id,
                "SMS not delivered in time; email fallback is due"
            );
        }
        for row in outbox::stale_unsent_sms(&self.db, now - ms(self.sms_queue_budget)).await? {
            stats.fallbacks +=
                outbox::activate_fallback(&self.db, row.notice_id, row.contact_position, now)
                    .await?;
            outbox::mark_fallback_done(&self.db, row.id, now).await?;
            tracing::info!(
                outbox.id = row.id,
                "SMS still queued past the queue budget; email goes out too"
            );
        }
        for notice in outbox::due_escalations(&self.db, now).await? {
            stats.escalations += u64::from(self.escalate(&notice, now).await?);
        }
        outbox::purge_early_callbacks(&self.db, now - EARLY_CALLBACK_KEPT_MS).await?;
        Ok(stats)
    }

    /// Sends the notice to the next contact with a usable channel, with the texts the planner
    /// rendered for it (SMS, email subject, text and HTML; the same alert link).
    async fn escalate(&self, notice: &notices::Model, now: i64) -> Result<bool, StorageError> {
        let sent = outbox::messages_of_notice(&self.db, notice.id).await?;
        let Some(rendered) = self.render_again(notice, &sent).await? else {
            outbox::escalate(&self.db, notice.id, None, None).await?;
            tracing::error!(
                notice.id = notice.id,
                "cannot render the notice again (its merchant or incidents are gone); not escalated"
            );
            return Ok(false);
        };
        let contacts = contacts::of_merchant(&self.db, &self.crypto, notice.merchant_id).await?;
        let dep_ids: Vec<i64> = serde_json::from_str(&notice.dependency_ids).unwrap_or_default();
        let failed: Vec<String> = dependencies_by_ids(&self.db, &dep_ids)
            .await?
            .values()
            .filter_map(|d| d.platform.clone())
            .collect();
        let mut queued = 0;
        let (position, messages, skipped) = self.planner.messages_for_first_usable(
            &contacts,
            &failed,
            &rendered,
            &notice.dedupe_key,
            notice.contact_position + 1,
            &mut queued,
            now,
        );
        for (pos, why) in skipped {
            tracing::warn!(notice.id = notice.id, contact.position = pos, reason = %why, "contact skipped during escalation");
            let detail =
                serde_json::json!({"notice_id": notice.id, "position": pos, "reason": why});
            self.record(notice, "notice.contact_skipped", detail, now)
                .await?;
        }
        match position {
            Some(p) => {
                outbox::add_messages(&self.db, notice, &messages, now).await?;
                outbox::escalate(
                    &self.db,
                    notice.id,
                    Some(p),
                    Some(now + ms(self.ack_timeout)),
                )
                .await?;
                tracing::info!(
                    notice.id = notice.id,
                    contact.position = p,
                    "not acknowledged in time; trying the next contact"
                );
                Ok(true)
            }
            None => {
                outbox::escalate(&self.db, notice.id, None, None).await?;
                tracing::warn!(
                    notice.id = notice.id,
                    "not acknowledged and no further contact"
                );
                let detail = serde_json::json!({"notice_id": notice.id, "last_position": notice.contact_position});
                self.record(notice, "notice.exhausted", detail, now).await?;
                Ok(false)
            }
        }
    }

    /// An audit entry about the notice's merchant, by the timers.
    async fn record(
        &self,
        notice: &notices::Model,
        action: &str,
        detail: serde_json::Value,
        now: i64,
    ) -> Result<(), StorageError> {
        let entry = audit::AuditEntry {
            actor_user_id: None,
            actor: "timers",
            action,
            target_type: "merchant",
            target_id: Some(notice.merchant_id),
            detail,
        };
        audit::record(&self.db.conn, now, entry).await
    }

    /// The notice's texts as the planner rendered them when it was written (same kind,
    /// incidents, playbook and time), with the alert link the first contact got. `None` when
    /// the merchant or the incidents no longer exist.
    async fn render_again(
        &self,
        notice: &notices::Model,
        sent: &[outbox_entity::Model],
    ) -> Result<Option<Rendered>, StorageError> {
        let Some(kind) = notice_kind(&notice.kind) else {
            return Ok(None);
        };
        let Some(merchant) = contacts::merchant(&self.db, notice.merchant_id).await? else {
            return Ok(None);
        };
        let incident_ids: Vec<i64> = serde_json::from_str(&notice.incident_ids).unwrap_or_default();
        let incs = incidents::Entity::find()
            .filter(incidents::Column::Id.is_in(incident_ids))
            .all(&self.db.conn)
            .await?;
        if incs.is_empty() {
            return Ok(None);
        }
        let dep_ids: Vec<i64> = incs.iter().map(|i| i.dependency_id).collect();
        let deps = dependencies_by_ids(&self.db, &dep_ids).await?;
        let cfg = self.planner.config();
        let token = match self.link_token(notice, sent) {
            Some(t) => t,
            None => {
                // Never expected (every message carries the link): a fresh link for the
                // next contact is better than a dead one.
                let t = crate::text::new_token();
                outbox::set_token_hash(&self.db, notice.id, &self.crypto.hash(&t)).await?;
                tracing::warn!(
                    notice.id = notice.id,
                    "alert link not found in the sent messages; a new one is made"
                );
                t
            }
        };
        let ctx = NoticeContext::new(
            cfg,
            &merchant,
            &incs,
            &deps,
            kind,
            &token,
            notice.created_at,
        );
        let playbooks = contacts::playbooks(&self.db, merchant.id).await?;
        Ok(Some(ctx.render(&playbooks)))
    }

    /// The alert link's token, read back from a message already rendered for the notice
    /// (only its keyed hash is stored) and checked against that hash.
    fn link_token(&self, notice: &notices::Model, sent: &[outbox_entity::Model]) -> Option<String> {
        let prefix = format!(
            "{}/a/",
            self.planner.config().public_url.trim_end_matches('/')
        );
        sent.iter()
            .flat_map(|m| [Some(&m.body), m.html.as_ref()])
            .flatten()
            .flat_map(|text| {
                text.match_indices(&prefix)
                    .map(|(at, _)| &text[at + prefix.len()..])
            })
            .map(|rest| {
                rest.chars()
                    .take_while(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_'))
                    .collect::<String>()
            })
            .find(|t| !t.is_empty() && self.crypto.lookup_hashes(t).contains(&notice.token_hash))
    }
}

fn notice_kind(kind: &str) -> Option<NoticeKind> {
    Some(match kind {
        "down" => NoticeKind::Down,
        "followup" => NoticeKind::FollowUp,
        "relapse" => NoticeKind::Relapse,
        "recovery" => NoticeKind::Recovery,
        "test" => NoticeKind::Test,
        "store_offline" => NoticeKind::StoreOffline,
        "store_back" => NoticeKind::StoreBack,
        _ => return None,
    })
}

async fn dependencies_by_ids(
    db: &Db,
    ids: &[i64],
) -> Result<HashMap<i64, dependencies::Model>, StorageError> {
    Ok(dependencies::Entity::find()
        .filter(dependencies::Column::Id.is_in(ids.to_vec()))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|d| (d.id, d))
        .collect())
}

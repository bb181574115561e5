//! The timers of the hub, as one sweep: SMS not delivered in time → email; SMS still queued
//! past the queue budget → email too; no acknowledgement in time → the next contact.
use crate::compose::Composer;
use meoktong_storage::entity::notices;
use meoktong_storage::{Db, StorageError, audit, outbox};
use std::sync::Arc;
use std::time::Duration;

pub struct Timers {
    db: Db,
    composer: Arc<Composer>,
    pub sms_delivery_timeout: Duration,
    pub sms_queue_budget: Duration,
    pub ack_timeout: Duration,
    /// `Some` when `[voice]` is configured: calls before the next contact.
    pub voice_after: Option<Duration>,
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
    /// Alert calls written.
    pub calls: u64,
}

impl Timers {
    pub fn new(
        db: Db,
        composer: Arc<Composer>,
        sms_delivery_timeout: Duration,
        sms_queue_budget: Duration,
        ack_timeout: Duration,
    ) -> Timers {
        Timers {
            db,
            composer,
            sms_delivery_timeout,
            sms_queue_budget,
            ack_timeout,
            voice_after: None,
        }
    }

    /// Calls the current contact of an unacknowledged outage alert after `voice_after`,
    /// before the next contact is tried (`[voice]` configured).
    pub fn with_voice(mut self, voice_after: Duration) -> Timers {
        self.voice_after = Some(voice_after);
        self
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
        // After escalating: a sweep that comes late calls the new contact, not the old one.
        if let Some(voice_after) = self.voice_after {
            stats.calls += self.call(now, voice_after).await?;
        }
        outbox::purge_early_callbacks(&self.db, now - EARLY_CALLBACK_KEPT_MS).await?;
        Ok(stats)
    }

    /// Writes the call to the current contact of every open outage alert due one; a contact
    /// without a phone or with calls turned off gets none. Exactly once per contact and
    /// notice: the call's dedupe key is `{notice dedupe}:{position}:voice`.
    async fn call(&self, now: i64, voice_after: Duration) -> Result<u64, StorageError> {
        let mut calls = 0;
        let due =
            outbox::due_voice_calls(&self.db, now, ms(self.ack_timeout), ms(voice_after)).await?;
        for notice in due {
            let Some(call) = self.composer.voice_call(&notice, now).await? else {
                continue;
            };
            outbox::add_messages(&self.db, &notice, std::slice::from_ref(&call), now).await?;
            tracing::info!(
                notice.id = notice.id,
                contact.position = call.contact_position,
                "not acknowledged yet; calling the contact"
            );
            calls += 1;
        }
        Ok(calls)
    }

    /// Sends the notice to the next contact with a usable channel, with the texts it was
    /// composed with (SMS, email subject, text and HTML; the same alert link).
    async fn escalate(&self, notice: &notices::Model, now: i64) -> Result<bool, StorageError> {
        let Some(reach) = self.composer.next_contact(notice, now).await? else {
            outbox::escalate(&self.db, notice.id, None, None).await?;
            tracing::error!(
                notice.id = notice.id,
                "cannot render the notice again (its merchant or incidents are gone); not escalated"
            );
            return Ok(false);
        };
        self.composer
            .record_skips("timers", Some(notice.id), &reach.skipped, now)
            .await?;
        let (position, messages) = (reach.position, reach.messages);
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
}

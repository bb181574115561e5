//! Delivery status reported by the SMS provider (Twilio's status callbacks), applied to the
//! outbox: `delivered` cancels the contact's waiting email, `failed`/`undelivered` makes it
//! due at once. Used by the callback route and by the dispatcher's recorder.
//!
//! Callbacks arrive late, twice or out of order, so each one only moves an outbox row
//! forward: `delivered` is final (a late `sent` or `failed` changes nothing), and the email
//! fallback of a failed SMS is activated at most once (only `waiting` rows become due).
//!
//! They can also arrive early: Twilio may call back before the dispatcher has committed the
//! message's acceptance (acceptances are group-committed). Such a callback is kept
//! ([`outbox::keep_early_callback`]) and applied when the acceptance is recorded
//! ([`apply_early_callbacks`]); whoever commits second sees the other's write, so none is
//! lost, and applying one twice changes nothing.
use meoktong_metrics::Metrics;
use meoktong_storage::outbox::MessageState;
use meoktong_storage::{Db, StorageError, outbox};

/// What a status callback did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    /// No message with this id (yet): the callback was kept for when it is recorded.
    Kept,
    /// Applied; `fallbacks` emails became due.
    Applied { fallbacks: u64 },
}

/// Applies a delivery report of a provider that is polled (Solapi), already in Twilio's words
/// (`delivered`, `failed`, anything else recorded only); `None` when no message has this id.
pub async fn apply_polled_status(
    db: &Db,
    metrics: &Metrics,
    provider: &str,
    sid: &str,
    status: &str,
    error_code: Option<&str>,
    now: i64,
) -> Result<Option<u64>, StorageError> {
    apply_known_from(db, metrics, provider, sid, status, error_code, now).await
}

/// Applies one status callback of the SMS `sid`; unknown sids are kept for later.
pub async fn apply_sms_status(
    db: &Db,
    metrics: &Metrics,
    sid: &str,
    status: &str,
    error_code: Option<&str>,
    now: i64,
) -> Result<Applied, StorageError> {
    if let Some(fallbacks) = apply_known(db, metrics, sid, status, error_code, now).await? {
        return Ok(Applied::Applied { fallbacks });
    }
    outbox::keep_early_callback(db, sid, status, error_code, now).await?;
    // The acceptance may have been committed after the look-up above and before the recorder
    // could see the kept callback: look again.
    if outbox::by_provider_message_id(db, sid).await?.is_some() {
        let fallbacks = apply_early_callbacks(db, metrics, &[sid.to_string()], now).await?;
        return Ok(Applied::Applied { fallbacks });
    }
    tracing::info!(
        twilio.sid = sid,
        twilio.status = status,
        "status callback for a MessageSid not recorded (yet); kept for when it is"
    );
    Ok(Applied::Kept)
}

/// Applies the kept callbacks of messages whose acceptance was just recorded. Returns how
/// many emails became due.
pub async fn apply_early_callbacks(
    db: &Db,
    metrics: &Metrics,
    sids: &[String],
    now: i64,
) -> Result<u64, StorageError> {
    let mut fallbacks = 0;
    for cb in outbox::take_early_callbacks(db, sids).await? {
        tracing::info!(
            twilio.sid = %cb.provider_message_id,
            twilio.status = %cb.status,
            "applying a status callback that arrived before the acceptance was recorded"
        );
        fallbacks += apply_known(
            db,
            metrics,
            &cb.provider_message_id,
            &cb.status,
            cb.error_code.as_deref(),
            now,
        )
        .await?
        .unwrap_or(0);
    }
    Ok(fallbacks)
}

/// Applies a callback to its outbox row; `None` if no row has this sid.
async fn apply_known(
    db: &Db,
    metrics: &Metrics,
    sid: &str,
    status: &str,
    error_code: Option<&str>,
    now: i64,
) -> Result<Option<u64>, StorageError> {
    apply_known_from(db, metrics, "twilio", sid, status, error_code, now).await
}

/// Applies a report of `provider` to its outbox row; `None` if no row has this sid.
async fn apply_known_from(
    db: &Db,
    metrics: &Metrics,
    provider: &str,
    sid: &str,
    status: &str,
    error_code: Option<&str>,
    now: i64,
) -> Result<Option<u64>, StorageError> {
    let Some(row) = outbox::by_provider_message_id(db, sid).await? else {
        return Ok(None);
    };
    outbox::record_attempt(
        db,
        row.id,
        provider,
        status,
        error_code,
        Some(if provider == "twilio" {
            "status callback"
        } else {
            "delivery report"
        }),
        now,
    )
    .await?;
    let count = |outcome: &str| {
        metrics
            .notifications
            .with_label_values(&["sms", outcome])
            .inc()
    };
    match status {
        "delivered" => {
            let changed = outbox::mark_delivered(db, row.id, now).await?;
            if changed || row.state == "delivered" {
                // The contact's email fallback is no longer needed.
                outbox::cancel_waiting(db, row.notice_id, row.contact_position).await?;
            }
            if changed {
                count("delivered");
            }
            tracing::info!(
                outbox.id = row.id,
                twilio.sid = sid,
                changed,
                "SMS delivered"
            );
            Ok(Some(0))
        }
        "failed" | "undelivered" => {
            if row.state == "delivered" {
                tracing::info!(
                    outbox.id = row.id,
                    twilio.sid = sid,
                    twilio.status = status,
                    "late failure after delivery; ignored"
                );
                return Ok(Some(0));
            }
            let reason = format!(
                "{provider} {status}{}",
                error_code.map(|c| format!(" {c}")).unwrap_or_default()
            );
            let changed = outbox::mark_given_up(db, row.id, MessageState::Failed, &reason).await?;
            let mut activated = 0;
            if changed || row.state == "failed" {
                activated =
                    outbox::activate_fallback(db, row.notice_id, row.contact_position, now).await?;
                outbox::mark_fallback_done(db, row.id, now).await?;
                tracing::info!(
                    outbox.id = row.id,
                    twilio.sid = sid,
                    twilio.status = status,
                    twilio.error_code = error_code.unwrap_or(""),
                    fallbacks = activated,
                    "SMS failed; email fallback is due"
                );
            }
            if changed {
                count("failed");
            }
            Ok(Some(activated))
        }
        // queued, sending, sent, accepted, scheduled, read, canceled, …: recorded only.
        _ => {
            tracing::debug!(
                outbox.id = row.id,
                twilio.sid = sid,
                twilio.status = status,
                "SMS status recorded"
            );
            Ok(Some(0))
        }
    }
}

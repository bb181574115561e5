//! Alert calls (`[voice]`): which open outage alerts are due a call to their current contact,
//! whether the call was already written, and a call's final status.
use super::{Channel, MessageState, NoticeStatus, outage_alert_kinds};
use crate::Db;
use crate::entity::{incidents, notices, outbox};
use crate::error::StorageError;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, Set};

/// The dedupe key of the call to a notice's contact: one call per contact per notice.
pub fn voice_dedupe_key(notice: &notices::Model, position: i32) -> String {
    format!("{}:{position}:voice", notice.dedupe_key)
}

/// Open outage alerts (down, follow-up, relapse) whose current contact has waited at least
/// `voice_after` without acknowledging and whose escalation to the next contact is still
/// ahead (`now < escalate_at ≤ now + ack_timeout − voice_after`), without a call to that
/// contact yet, and about at least one `down` incident (never a degraded-only notice).
pub async fn due_voice_calls(
    db: &Db,
    now: i64,
    ack_timeout_ms: i64,
    voice_after_ms: i64,
) -> Result<Vec<notices::Model>, StorageError> {
    if voice_after_ms >= ack_timeout_ms {
        return Ok(Vec::new());
    }
    let candidates = notices::Entity::find()
        .filter(notices::Column::Status.eq(NoticeStatus::Open))
        .filter(notices::Column::Kind.is_in(outage_alert_kinds()))
        .filter(notices::Column::EscalateAt.gt(now))
        .filter(notices::Column::EscalateAt.lte(now + ack_timeout_ms - voice_after_ms))
        .all(&db.conn)
        .await?;
    if candidates.is_empty() {
        return Ok(candidates);
    }
    let keys: Vec<String> = candidates
        .iter()
        .map(|n| voice_dedupe_key(n, n.contact_position))
        .collect();
    let called: std::collections::HashSet<String> = outbox::Entity::find()
        .filter(outbox::Column::DedupeKey.is_in(keys))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|r| r.dedupe_key)
        .collect();
    let mut due = Vec::new();
    for n in candidates {
        if called.contains(&voice_dedupe_key(&n, n.contact_position)) {
            continue;
        }
        let ids: Vec<i64> = serde_json::from_str(&n.incident_ids).unwrap_or_default();
        let any_down = incidents::Entity::find()
            .filter(incidents::Column::Id.is_in(ids))
            .filter(incidents::Column::Severity.eq("down"))
            .one(&db.conn)
            .await?
            .is_some();
        if any_down {
            due.push(n);
        }
    }
    Ok(due)
}

/// A call's final status from its status callback: `completed` (answered; an acknowledgement
/// comes only through the key press) is `delivered`, `busy`, `no-answer`, `failed` and
/// `canceled` are `failed` with the status as the error. Returns the row, `None` when no
/// voice row has this call sid. Never acknowledges anything.
pub async fn record_call_status(
    db: &Db,
    call_sid: &str,
    status: &str,
    now: i64,
) -> Result<Option<outbox::Model>, StorageError> {
    let Some(row) = outbox::Entity::find()
        .filter(outbox::Column::ProviderMessageId.eq(call_sid))
        .filter(outbox::Column::Channel.eq(Channel::Voice))
        .one(&db.conn)
        .await?
    else {
        return Ok(None);
    };
    let mut am: outbox::ActiveModel = row.clone().into();
    match status {
        "completed" => {
            am.state = Set(MessageState::Delivered.as_str().into());
            am.delivered_at = Set(Some(now));
        }
        _ => {
            am.state = Set(MessageState::Failed.as_str().into());
            am.last_error = Set(Some(format!("call {status}")));
        }
    }
    outbox::Entity::update(am).exec(&db.conn).await?;
    super::record_attempt(db, row.id, "twilio-voice", status, None, None, now).await?;
    Ok(Some(row))
}

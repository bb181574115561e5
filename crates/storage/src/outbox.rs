//! Notices and the durable outbox: planning writes here, dispatchers claim from here.
//!
//! States of an outbox row: `waiting` (a fallback not yet due), `pending` (due at
//! `next_attempt_at`), `sending` (claimed; the claim expires so a crashed process's work is
//! taken over), `accepted` (the provider took it), `delivered`, `failed`, `expired`,
//! `cancelled` (acknowledged, or a fallback no longer needed).
use crate::entity::{acknowledgements, delivery_attempts, notice_incidents, notices, outbox};
use crate::error::{StorageError, is_unique_violation};
use crate::{Db, sql};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, EntityTrait, FromQueryResult, QueryFilter,
    QueryOrder, QuerySelect, Set,
};

pub struct NewNotice {
    pub merchant_id: i64,
    pub kind: String,
    pub dedupe_key: String,
    pub dependency_ids: Vec<i64>,
    pub incident_ids: Vec<i64>,
    /// The kind recorded per (merchant, incident) — `down`, `relapse:N`, `recovery:N` — whose
    /// unique key makes a second notice for the same thing impossible.
    pub incident_kind: String,
    pub since: i64,
    pub token_hash: String,
    pub token_expires_at: i64,
    pub escalate_at: Option<i64>,
    /// `open` when the notice waits for an acknowledgement, `closed` when it needs none.
    pub status: String,
    pub now: i64,
}

#[derive(Debug, Clone)]
pub struct NewMessage {
    pub channel: String,
    pub contact_id: Option<i64>,
    pub contact_position: i32,
    pub recipient_enc: String,
    pub subject: Option<String>,
    pub body: String,
    pub html: Option<String>,
    pub priority: i32,
    pub state: String,
    pub next_attempt_at: i64,
    pub expires_at: i64,
    /// Unique per message; `{notice dedupe}:{position}:{channel}`.
    pub dedupe_key: String,
}

fn message_model(
    notice_id: i64,
    merchant_id: i64,
    m: &NewMessage,
    now: i64,
) -> outbox::ActiveModel {
    outbox::ActiveModel {
        id: NotSet,
        notice_id: Set(notice_id),
        merchant_id: Set(merchant_id),
        dedupe_key: Set(m.dedupe_key.clone()),
        channel: Set(m.channel.clone()),
        contact_id: Set(m.contact_id),
        contact_position: Set(m.contact_position),
        recipient_enc: Set(m.recipient_enc.clone()),
        subject: Set(m.subject.clone()),
        body: Set(m.body.clone()),
        html: Set(m.html.clone()),
        priority: Set(m.priority),
        state: Set(m.state.clone()),
        attempts: Set(0),
        next_attempt_at: Set(m.next_attempt_at),
        claimed_by: Set(None),
        claim_expires_at: Set(None),
        provider_index: Set(None),
        provider_message_id: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        expires_at: Set(m.expires_at),
        accepted_at: Set(None),
        delivered_at: Set(None),
        fallback_at: Set(None),
    }
}

/// Writes a notice, its (merchant, incident, kind) keys and its first messages in one
/// transaction. `Ok(None)` when the notice already exists (another planner or an earlier run).
pub async fn create_notice(
    db: &Db,
    n: NewNotice,
    messages: &[NewMessage],
) -> Result<Option<i64>, StorageError> {
    let txn = db.begin_write().await?;
    let am = notices::ActiveModel {
        id: NotSet,
        merchant_id: Set(n.merchant_id),
        kind: Set(n.kind.clone()),
        dedupe_key: Set(n.dedupe_key.clone()),
        dependency_ids: Set(serde_json::to_string(&n.dependency_ids).unwrap_or_default()),
        incident_ids: Set(serde_json::to_string(&n.incident_ids).unwrap_or_default()),
        since: Set(n.since),
        token_hash: Set(n.token_hash.clone()),
        token_expires_at: Set(n.token_expires_at),
        status: Set(n.status.clone()),
        contact_position: Set(messages
            .iter()
            .map(|m| m.contact_position)
            .min()
            .unwrap_or(0)),
        escalate_at: Set(n.escalate_at),
        acked_at: Set(None),
        acked_via: Set(None),
        created_at: Set(n.now),
    };
    let notice_id = match notices::Entity::insert(am).exec(&txn).await {
        Ok(r) => r.last_insert_id,
        Err(e) if is_unique_violation(&e) => return Ok(None),
        Err(e) => return Err(e.into()),
    };
    for incident_id in &n.incident_ids {
        let key = notice_incidents::ActiveModel {
            id: NotSet,
            notice_id: Set(notice_id),
            merchant_id: Set(n.merchant_id),
            incident_id: Set(*incident_id),
            kind: Set(n.incident_kind.clone()),
        };
        match notice_incidents::Entity::insert(key).exec(&txn).await {
            Ok(_) => {}
            // Already told about this incident: drop the whole notice.
            Err(e) if is_unique_violation(&e) => return Ok(None),
            Err(e) => return Err(e.into()),
        }
    }
    for m in messages {
        outbox::Entity::insert(message_model(notice_id, n.merchant_id, m, n.now))
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(Some(notice_id))
}

/// Adds messages to an existing notice (escalation to the next contact); duplicates by
/// dedupe key are ignored.
pub async fn add_messages(
    db: &Db,
    notice: &notices::Model,
    messages: &[NewMessage],
    now: i64,
) -> Result<(), StorageError> {
    for m in messages {
        match outbox::Entity::insert(message_model(notice.id, notice.merchant_id, m, now))
            .exec(&db.conn)
            .await
        {
            Ok(_) => {}
            Err(e) if is_unique_violation(&e) => {}
            Err(e) => return Err(e.into()),
        }
    }
    Ok(())
}

/// (incident id, kind) pairs this merchant has already been told about.
pub async fn told(
    db: &Db,
    merchant_ids: &[i64],
    incident_ids: &[i64],
) -> Result<Vec<notice_incidents::Model>, StorageError> {
    if merchant_ids.is_empty() || incident_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(notice_incidents::Entity::find()
        .filter(notice_incidents::Column::IncidentId.is_in(incident_ids.to_vec()))
        .filter(notice_incidents::Column::MerchantId.is_in(merchant_ids.to_vec()))
        .all(&db.conn)
        .await?)
}

/// Every (merchant, incident, kind) already told for these incidents.
pub async fn told_for_incidents(
    db: &Db,
    incident_ids: &[i64],
) -> Result<Vec<notice_incidents::Model>, StorageError> {
    if incident_ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(notice_incidents::Entity::find()
        .filter(notice_incidents::Column::IncidentId.is_in(incident_ids.to_vec()))
        .all(&db.conn)
        .await?)
}

/// Claims up to `limit` due messages for `lease_ms`. Rows whose claim expired (a process
/// died mid-send) are taken over. PostgreSQL skips rows other replicas hold locked.
pub async fn claim_due(
    db: &Db,
    holder: &str,
    now: i64,
    lease_ms: i64,
    limit: u64,
    channels: &[&str],
) -> Result<Vec<outbox::Model>, StorageError> {
    let lock = match db.backend {
        crate::Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        crate::Backend::Sqlite => "",
    };
    let channel_list = channels
        .iter()
        .map(|c| format!("'{}'", c.replace('\'', "")))
        .collect::<Vec<_>>()
        .join(",");
    let q = format!(
        "UPDATE outbox SET state = 'sending', claimed_by = $1, claim_expires_at = $2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM outbox WHERE channel IN ({channel_list}) AND \
           ((state = 'pending' AND next_attempt_at <= $3) OR (state = 'sending' AND claim_expires_at < $3)) \
           ORDER BY priority, next_attempt_at, id LIMIT $4{lock}) \
         RETURNING *"
    );
    let st = sql::stmt(
        db,
        &q,
        vec![
            holder.into(),
            (now + lease_ms).into(),
            now.into(),
            (limit as i64).into(),
        ],
    );
    let rows = outbox::Model::find_by_statement(st).all(&db.conn).await?;
    Ok(rows)
}

async fn set_state<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    from_states: &[&str],
    f: impl FnOnce(&mut outbox::ActiveModel),
) -> Result<bool, StorageError> {
    let mut am = outbox::ActiveModel {
        ..Default::default()
    };
    f(&mut am);
    let mut q = outbox::Entity::update_many()
        .set(am)
        .filter(outbox::Column::Id.eq(id));
    if !from_states.is_empty() {
        q = q.filter(outbox::Column::State.is_in(from_states.iter().map(|s| s.to_string())));
    }
    Ok(q.exec(conn).await?.rows_affected == 1)
}

pub async fn mark_accepted(
    db: &Db,
    id: i64,
    provider_index: i32,
    provider_message_id: &str,
    now: i64,
) -> Result<bool, StorageError> {
    set_state(&db.conn, id, &["sending"], |am| {
        am.state = Set("accepted".into());
        am.provider_index = Set(Some(provider_index));
        am.provider_message_id = Set(Some(provider_message_id.to_string()));
        am.accepted_at = Set(Some(now));
        am.claimed_by = Set(None);
        am.claim_expires_at = Set(None);
    })
    .await
}

pub async fn mark_retry(
    db: &Db,
    id: i64,
    next_attempt_at: i64,
    error: &str,
) -> Result<bool, StorageError> {
    set_state(&db.conn, id, &["sending"], |am| {
        am.state = Set("pending".into());
        am.next_attempt_at = Set(next_attempt_at);
        am.last_error = Set(Some(error.to_string()));
        am.claimed_by = Set(None);
        am.claim_expires_at = Set(None);
    })
    .await
}

/// `failed` or `expired`: the message will not be sent.
pub async fn mark_given_up(
    db: &Db,
    id: i64,
    state: &str,
    error: &str,
) -> Result<bool, StorageError> {
    set_state(&db.conn, id, &["sending", "pending", "accepted"], |am| {
        am.state = Set(state.to_string());
        am.last_error = Set(Some(error.to_string()));
        am.claimed_by = Set(None);
        am.claim_expires_at = Set(None);
    })
    .await
}

pub async fn mark_delivered(db: &Db, id: i64, now: i64) -> Result<bool, StorageError> {
    set_state(&db.conn, id, &["accepted", "sending", "pending"], |am| {
        am.state = Set("delivered".into());
        am.delivered_at = Set(Some(now));
    })
    .await
}

/// Makes the waiting fallbacks (email) of a notice's contact due now. Returns how many.
pub async fn activate_fallback(
    db: &Db,
    notice_id: i64,
    contact_position: i32,
    now: i64,
) -> Result<u64, StorageError> {
    let res = outbox::Entity::update_many()
        .col_expr(outbox::Column::State, "pending".into())
        .col_expr(outbox::Column::NextAttemptAt, now.into())
        .col_expr(outbox::Column::FallbackAt, Some(now).into())
        .filter(outbox::Column::NoticeId.eq(notice_id))
        .filter(outbox::Column::ContactPosition.eq(contact_position))
        .filter(outbox::Column::State.eq("waiting"))
        .exec(&db.conn)
        .await?;
    Ok(res.rows_affected)
}

/// A delivered SMS makes its contact's waiting email unnecessary.
pub async fn cancel_waiting(
    db: &Db,
    notice_id: i64,
    contact_position: i32,
) -> Result<u64, StorageError> {
    let res = outbox::Entity::update_many()
        .col_expr(outbox::Column::State, "cancelled".into())
        .filter(outbox::Column::NoticeId.eq(notice_id))
        .filter(outbox::Column::ContactPosition.eq(contact_position))
        .filter(outbox::Column::State.eq("waiting"))
        .exec(&db.conn)
        .await?;
    Ok(res.rows_affected)
}

pub async fn record_attempt(
    db: &Db,
    outbox_id: i64,
    provider: &str,
    outcome: &str,
    code: Option<&str>,
    detail: Option<&str>,
    now: i64,
) -> Result<(), StorageError> {
    let am = delivery_attempts::ActiveModel {
        id: NotSet,
        outbox_id: Set(outbox_id),
        at: Set(now),
        provider: Set(provider.to_string()),
        outcome: Set(outcome.to_string()),
        error_code: Set(code.map(str::to_string)),
        detail: Set(detail.map(str::to_string)),
    };
    delivery_attempts::Entity::insert(am).exec(&db.conn).await?;
    Ok(())
}

pub async fn by_provider_message_id(
    db: &Db,
    sid: &str,
) -> Result<Option<outbox::Model>, StorageError> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::ProviderMessageId.eq(sid))
        .one(&db.conn)
        .await?)
}

/// SMS accepted before `accepted_before` and still not delivered: their email is due.
pub async fn undelivered_sms(
    db: &Db,
    accepted_before: i64,
) -> Result<Vec<outbox::Model>, StorageError> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::Channel.eq("sms"))
        .filter(outbox::Column::State.eq("accepted"))
        .filter(outbox::Column::AcceptedAt.lte(accepted_before))
        .filter(outbox::Column::FallbackAt.is_null())
        .all(&db.conn)
        .await?)
}

/// Records that the fallback of this SMS was handled, so sweeps do not repeat it.
pub async fn mark_fallback_done(db: &Db, id: i64, now: i64) -> Result<(), StorageError> {
    outbox::Entity::update_many()
        .col_expr(outbox::Column::FallbackAt, Some(now).into())
        .filter(outbox::Column::Id.eq(id))
        .exec(&db.conn)
        .await?;
    Ok(())
}

/// Acknowledges a notice: records it, stops every message not yet sent. False if it was
/// already acknowledged.
pub async fn acknowledge(
    db: &Db,
    notice_id: i64,
    via: &str,
    contact_id: Option<i64>,
    now: i64,
) -> Result<bool, StorageError> {
    let txn = db.begin_write().await?;
    let res = notices::Entity::update_many()
        .col_expr(notices::Column::Status, "acked".into())
        .col_expr(notices::Column::AckedAt, Some(now).into())
        .col_expr(notices::Column::AckedVia, Some(via.to_string()).into())
        .filter(notices::Column::Id.eq(notice_id))
        .filter(notices::Column::Status.ne("acked"))
        .exec(&txn)
        .await?;
    if res.rows_affected == 0 {
        return Ok(false);
    }
    let am = acknowledgements::ActiveModel {
        id: NotSet,
        notice_id: Set(notice_id),
        at: Set(now),
        via: Set(via.to_string()),
        contact_id: Set(contact_id),
    };
    acknowledgements::Entity::insert(am).exec(&txn).await?;
    outbox::Entity::update_many()
        .col_expr(outbox::Column::State, "cancelled".into())
        .filter(outbox::Column::NoticeId.eq(notice_id))
        .filter(outbox::Column::State.is_in(["waiting", "pending"]))
        .exec(&txn)
        .await?;
    txn.commit().await?;
    Ok(true)
}

pub async fn notice_by_token_hash(
    db: &Db,
    hash: &str,
) -> Result<Option<notices::Model>, StorageError> {
    Ok(notices::Entity::find()
        .filter(notices::Column::TokenHash.eq(hash))
        .one(&db.conn)
        .await?)
}

pub async fn notice(db: &Db, id: i64) -> Result<Option<notices::Model>, StorageError> {
    Ok(notices::Entity::find_by_id(id).one(&db.conn).await?)
}

/// The merchant's latest notice still waiting for an acknowledgement.
pub async fn latest_open_notice(
    db: &Db,
    merchant_ids: &[i64],
) -> Result<Option<notices::Model>, StorageError> {
    Ok(notices::Entity::find()
        .filter(notices::Column::MerchantId.is_in(merchant_ids.to_vec()))
        .filter(notices::Column::Status.eq("open"))
        .order_by_desc(notices::Column::CreatedAt)
        .order_by_desc(notices::Column::Id)
        .one(&db.conn)
        .await?)
}

/// Open notices whose acknowledgement deadline passed.
pub async fn due_escalations(db: &Db, now: i64) -> Result<Vec<notices::Model>, StorageError> {
    Ok(notices::Entity::find()
        .filter(notices::Column::Status.eq("open"))
        .filter(notices::Column::EscalateAt.lte(now))
        .all(&db.conn)
        .await?)
}

/// Moves a notice to its next contact (or marks it exhausted when there is none).
pub async fn escalate(
    db: &Db,
    notice_id: i64,
    position: Option<i32>,
    escalate_at: Option<i64>,
) -> Result<(), StorageError> {
    let mut q = notices::Entity::update_many().filter(notices::Column::Id.eq(notice_id));
    match position {
        Some(p) => {
            q = q
                .col_expr(notices::Column::ContactPosition, p.into())
                .col_expr(notices::Column::EscalateAt, escalate_at.into());
        }
        None => {
            q = q
                .col_expr(notices::Column::Status, "exhausted".into())
                .col_expr(notices::Column::EscalateAt, Option::<i64>::None.into());
        }
    }
    q.exec(&db.conn).await?;
    Ok(())
}

pub async fn messages_of_notice(
    db: &Db,
    notice_id: i64,
) -> Result<Vec<outbox::Model>, StorageError> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::NoticeId.eq(notice_id))
        .order_by_asc(outbox::Column::Id)
        .all(&db.conn)
        .await?)
}

pub async fn notices_of_merchant(
    db: &Db,
    merchant_id: i64,
    limit: u64,
) -> Result<Vec<notices::Model>, StorageError> {
    Ok(notices::Entity::find()
        .filter(notices::Column::MerchantId.eq(merchant_id))
        .order_by_desc(notices::Column::CreatedAt)
        .limit(limit)
        .all(&db.conn)
        .await?)
}

/// (messages waiting to be sent, age in ms of the oldest) for the outbox gauges.
pub async fn depth(db: &Db, now: i64) -> Result<(i64, i64), StorageError> {
    #[derive(FromQueryResult)]
    struct Row {
        n: i64,
        oldest: Option<i64>,
    }
    let st = sql::stmt(
        db,
        "SELECT COUNT(*) AS n, MIN(created_at) AS oldest FROM outbox WHERE state IN ('pending', 'sending')",
        vec![],
    );
    let row = Row::find_by_statement(st).one(&db.conn).await?;
    Ok(row
        .map(|r| (r.n, r.oldest.map(|o| (now - o).max(0)).unwrap_or(0)))
        .unwrap_or((0, 0)))
}

/// SMS created before `created_before` and still not accepted (queued or retrying): the
/// queue budget is spent, so their email goes out too.
pub async fn stale_unsent_sms(
    db: &Db,
    created_before: i64,
) -> Result<Vec<outbox::Model>, StorageError> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::Channel.eq("sms"))
        .filter(outbox::Column::State.is_in(["pending", "sending"]))
        .filter(outbox::Column::CreatedAt.lte(created_before))
        .filter(outbox::Column::FallbackAt.is_null())
        .all(&db.conn)
        .await?)
}

/// An outage is over: its earlier notices stop waiting for acknowledgement and escalating.
pub async fn close_notices_for_incidents(
    db: &Db,
    merchant_id: i64,
    incident_ids: &[i64],
) -> Result<u64, StorageError> {
    let notice_ids: Vec<i64> = notice_incidents::Entity::find()
        .filter(notice_incidents::Column::MerchantId.eq(merchant_id))
        .filter(notice_incidents::Column::IncidentId.is_in(incident_ids.to_vec()))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|n| n.notice_id)
        .collect();
    if notice_ids.is_empty() {
        return Ok(0);
    }
    let res = notices::Entity::update_many()
        .col_expr(notices::Column::Status, "closed".into())
        .col_expr(notices::Column::EscalateAt, Option::<i64>::None.into())
        .filter(notices::Column::Id.is_in(notice_ids))
        .filter(notices::Column::Status.eq("open"))
        .exec(&db.conn)
        .await?;
    Ok(res.rows_affected)
}

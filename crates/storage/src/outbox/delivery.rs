//! What happened to a claimed message: accepted, retried, given up, delivered; the attempts
//! recorded; provider status callbacks that arrive before the acceptance is committed.
use crate::entity::{delivery_attempts, early_status_callbacks, outbox};
use crate::error::StorageError;
use crate::{Db, sql};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::MessageState;
use super::write::ROWS_PER_INSERT;

async fn set_state<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    from_states: &[MessageState],
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
        q = q.filter(outbox::Column::State.is_in(from_states.iter().map(|s| s.as_str())));
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
    set_state(&db.conn, id, &[MessageState::Sending], |am| {
        am.state = Set(MessageState::Accepted.as_str().into());
        am.provider_index = Set(Some(provider_index));
        am.provider_message_id = Set(Some(provider_message_id.to_string()));
        am.accepted_at = Set(Some(now));
        am.claimed_by = Set(None);
        am.claim_expires_at = Set(None);
    })
    .await
}

/// A message its provider accepted, as [`record_accepted`] stores it.
#[derive(Debug, Clone)]
pub struct AcceptedMark {
    pub id: i64,
    pub provider_index: i32,
    pub provider: String,
    pub provider_message_id: String,
    /// The provider's status at acceptance, kept as the attempt's detail.
    pub status: Option<String>,
    pub at: i64,
}

/// Messages marked accepted by one statement.
const ACCEPTED_PER_UPDATE: usize = 256;

/// Marks many messages `accepted` and records their attempts in one transaction: what
/// [`mark_accepted`] and [`record_attempt`] do for one, with one commit for all.
pub async fn record_accepted(db: &Db, marks: &[AcceptedMark]) -> Result<(), StorageError> {
    if marks.is_empty() {
        return Ok(());
    }
    let txn = db.begin_write().await?;
    // One statement per chunk (a `CASE id` per column), not one per message.
    for chunk in marks.chunks(ACCEPTED_PER_UPDATE) {
        let mut values: Vec<sea_orm::Value> = Vec::with_capacity(chunk.len() * 4);
        let mut case = |column: &str, value: &dyn Fn(&AcceptedMark) -> sea_orm::Value| {
            let mut sql = format!("{column} = CASE id");
            for m in chunk {
                values.push(m.id.into());
                values.push(value(m));
                let n = values.len();
                sql.push_str(&format!(" WHEN ${} THEN ${}", n - 1, n));
            }
            sql.push_str(" END");
            sql
        };
        let sets = [
            case("provider_index", &|m| m.provider_index.into()),
            case("provider_message_id", &|m| {
                m.provider_message_id.clone().into()
            }),
            case("accepted_at", &|m| m.at.into()),
        ]
        .join(", ");
        let ids: Vec<String> = chunk
            .iter()
            .map(|m| {
                values.push(m.id.into());
                format!("${}", values.len())
            })
            .collect();
        let q = format!(
            "UPDATE outbox SET state = 'accepted', claimed_by = NULL, claim_expires_at = NULL, {sets} \
             WHERE state = 'sending' AND id IN ({})",
            ids.join(",")
        );
        txn.execute_raw(sql::stmt(db, &q, values)).await?;
    }
    let attempts: Vec<delivery_attempts::ActiveModel> = marks
        .iter()
        .map(|m| delivery_attempts::ActiveModel {
            id: NotSet,
            outbox_id: Set(m.id),
            at: Set(m.at),
            provider: Set(m.provider.clone()),
            outcome: Set("accepted".into()),
            error_code: Set(None),
            detail: Set(m.status.clone()),
        })
        .collect();
    for chunk in attempts.chunks(ROWS_PER_INSERT) {
        delivery_attempts::Entity::insert_many(chunk.to_vec())
            .exec_without_returning(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Puts a message that failed transiently back in the queue for `next_attempt_at` — unless
/// its notice was acknowledged while it was being sent: then it is `cancelled`, never re-sent
/// (a webhook excepted: the merchant's own system is told whatever the people did). One
/// statement, so an acknowledgement committed before it is always seen.
pub async fn mark_retry(
    db: &Db,
    id: i64,
    next_attempt_at: i64,
    error: &str,
) -> Result<bool, StorageError> {
    let st = sql::stmt(
        db,
        "UPDATE outbox SET \
           state = CASE WHEN channel <> 'webhook' AND EXISTS \
                     (SELECT 1 FROM notices n WHERE n.id = outbox.notice_id AND n.status = 'acked') \
                   THEN 'cancelled' ELSE 'pending' END, \
           next_attempt_at = $1, last_error = $2, claimed_by = NULL, claim_expires_at = NULL \
         WHERE id = $3 AND state = 'sending'",
        vec![next_attempt_at.into(), error.to_string().into(), id.into()],
    );
    Ok(db.conn.execute_raw(st).await?.rows_affected() == 1)
}

/// `failed` or `expired`: the message will not be sent.
pub async fn mark_given_up(
    db: &Db,
    id: i64,
    state: MessageState,
    error: &str,
) -> Result<bool, StorageError> {
    set_state(
        &db.conn,
        id,
        &[
            MessageState::Sending,
            MessageState::Pending,
            MessageState::Accepted,
        ],
        |am| {
            am.state = Set(state.as_str().into());
            am.last_error = Set(Some(error.to_string()));
            am.claimed_by = Set(None);
            am.claim_expires_at = Set(None);
        },
    )
    .await
}

pub async fn mark_delivered(db: &Db, id: i64, now: i64) -> Result<bool, StorageError> {
    set_state(
        &db.conn,
        id,
        &[
            MessageState::Accepted,
            MessageState::Sending,
            MessageState::Pending,
        ],
        |am| {
            am.state = Set(MessageState::Delivered.as_str().into());
            am.delivered_at = Set(Some(now));
        },
    )
    .await
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

/// Keeps a status callback whose message is not known yet: its acceptance may not be
/// committed yet (see [`take_early_callbacks`]).
pub async fn keep_early_callback(
    db: &Db,
    provider_message_id: &str,
    status: &str,
    error_code: Option<&str>,
    now: i64,
) -> Result<(), StorageError> {
    let am = early_status_callbacks::ActiveModel {
        id: NotSet,
        provider_message_id: Set(provider_message_id.to_string()),
        status: Set(status.to_string()),
        error_code: Set(error_code.map(str::to_string)),
        received_at: Set(now),
    };
    early_status_callbacks::Entity::insert(am)
        .exec(&db.conn)
        .await?;
    Ok(())
}

/// Removes and returns the early callbacks of these messages, in arrival order.
pub async fn take_early_callbacks(
    db: &Db,
    provider_message_ids: &[String],
) -> Result<Vec<early_status_callbacks::Model>, StorageError> {
    let mut out = Vec::new();
    for chunk in provider_message_ids.chunks(ROWS_PER_INSERT) {
        let found = early_status_callbacks::Entity::find()
            .filter(early_status_callbacks::Column::ProviderMessageId.is_in(chunk.to_vec()))
            .order_by_asc(early_status_callbacks::Column::Id)
            .all(&db.conn)
            .await?;
        if found.is_empty() {
            continue;
        }
        early_status_callbacks::Entity::delete_many()
            .filter(early_status_callbacks::Column::Id.is_in(found.iter().map(|c| c.id)))
            .exec(&db.conn)
            .await?;
        out.extend(found);
    }
    Ok(out)
}

/// Forgets early callbacks received before `before` whose message never turned up (a
/// message of another system on the same account, or one never recorded).
pub async fn purge_early_callbacks(db: &Db, before: i64) -> Result<u64, StorageError> {
    Ok(early_status_callbacks::Entity::delete_many()
        .filter(early_status_callbacks::Column::ReceivedAt.lt(before))
        .exec(&db.conn)
        .await?
        .rows_affected)
}

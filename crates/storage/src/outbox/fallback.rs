//! The person-to-person chain's timers as data: waiting fallbacks made due or cancelled, SMS
//! not delivered or not sent in time, and the queue's depth.
use super::{Channel, MessageState};
use crate::entity::outbox;
use crate::error::StorageError;
use crate::{Db, sql};
use sea_orm::{ColumnTrait, EntityTrait, FromQueryResult, QueryFilter};

/// Makes the waiting fallbacks (email) of a notice's contact due now. Returns how many.
pub async fn activate_fallback(
    db: &Db,
    notice_id: i64,
    contact_position: i32,
    now: i64,
) -> Result<u64, StorageError> {
    let res = outbox::Entity::update_many()
        .col_expr(outbox::Column::State, MessageState::Pending.into())
        .col_expr(outbox::Column::NextAttemptAt, now.into())
        .col_expr(outbox::Column::FallbackAt, Some(now).into())
        .filter(outbox::Column::NoticeId.eq(notice_id))
        .filter(outbox::Column::ContactPosition.eq(contact_position))
        .filter(outbox::Column::State.eq(MessageState::Waiting))
        .exec(&db.conn)
        .await?;
    Ok(res.rows_affected)
}

/// Stores the texts of an email rendered only when it became due (see the planner), so
/// retries and the history show what was sent.
pub async fn set_email_texts(
    db: &Db,
    id: i64,
    subject: &str,
    body: &str,
    html: &str,
) -> Result<(), StorageError> {
    outbox::Entity::update_many()
        .col_expr(outbox::Column::Subject, Some(subject.to_string()).into())
        .col_expr(outbox::Column::Body, body.to_string().into())
        .col_expr(outbox::Column::Html, Some(html.to_string()).into())
        .filter(outbox::Column::Id.eq(id))
        .exec(&db.conn)
        .await?;
    Ok(())
}

/// A delivered SMS makes its contact's waiting email unnecessary.
pub async fn cancel_waiting(
    db: &Db,
    notice_id: i64,
    contact_position: i32,
) -> Result<u64, StorageError> {
    let res = outbox::Entity::update_many()
        .col_expr(outbox::Column::State, MessageState::Cancelled.into())
        .filter(outbox::Column::NoticeId.eq(notice_id))
        .filter(outbox::Column::ContactPosition.eq(contact_position))
        .filter(outbox::Column::State.eq(MessageState::Waiting))
        .exec(&db.conn)
        .await?;
    Ok(res.rows_affected)
}

/// SMS accepted before `accepted_before` and still not delivered: their email is due.
pub async fn undelivered_sms(
    db: &Db,
    accepted_before: i64,
) -> Result<Vec<outbox::Model>, StorageError> {
    Ok(outbox::Entity::find()
        .filter(outbox::Column::Channel.eq(Channel::Sms))
        .filter(outbox::Column::State.eq(MessageState::Accepted))
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
        .filter(outbox::Column::Channel.eq(Channel::Sms))
        .filter(outbox::Column::State.is_in([MessageState::Pending, MessageState::Sending]))
        .filter(outbox::Column::CreatedAt.lte(created_before))
        .filter(outbox::Column::FallbackAt.is_null())
        .all(&db.conn)
        .await?)
}

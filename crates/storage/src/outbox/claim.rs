//! Claiming due messages for a dispatcher, with a lease a crashed process's successor takes over.
use crate::entity::outbox;
use crate::error::StorageError;
use crate::{Db, sql};
use sea_orm::FromQueryResult;

use super::Channel;

/// Claims up to `limit` due messages for `lease_ms`. With `expired_too`, rows whose claim
/// expired (a process died mid-send) are taken over first; then due messages in send order
/// (`priority, next_attempt_at, id`, walked through `ix_outbox_claim`, so a claim costs its
/// `LIMIT`, not the size of the queue). PostgreSQL skips rows other replicas hold locked.
/// Looking for expired claims is a write statement of its own, so a dispatcher claiming
/// continuously does it less often than it claims.
pub async fn claim_due(
    db: &Db,
    holder: &str,
    now: i64,
    lease_ms: i64,
    limit: u64,
    channels: &[Channel],
    expired_too: bool,
) -> Result<Vec<outbox::Model>, StorageError> {
    let mut rows = Vec::new();
    if expired_too {
        rows = claim(
            db,
            Claimable::Expired,
            holder,
            now,
            lease_ms,
            limit,
            channels,
        )
        .await?;
    }
    let left = limit.saturating_sub(rows.len() as u64);
    if left > 0 {
        rows.extend(claim(db, Claimable::Due, holder, now, lease_ms, left, channels).await?);
    }
    Ok(rows)
}

#[derive(Clone, Copy, PartialEq, Eq)]
enum Claimable {
    /// `sending` rows whose claim expired.
    Expired,
    /// `pending` rows whose time has come.
    Due,
}

async fn claim(
    db: &Db,
    which: Claimable,
    holder: &str,
    now: i64,
    lease_ms: i64,
    limit: u64,
    channels: &[Channel],
) -> Result<Vec<outbox::Model>, StorageError> {
    let lock = match db.backend {
        crate::Backend::Postgres => " FOR UPDATE SKIP LOCKED",
        crate::Backend::Sqlite => "",
    };
    let channel_list = channels
        .iter()
        .map(|c| format!("'{}'", c.as_str()))
        .collect::<Vec<_>>()
        .join(",");
    // `+next_attempt_at`: not an index range, so SQLite (which has no statistics) walks
    // ix_outbox_claim in ORDER BY order and stops at the LIMIT rather than sorting every due row.
    let condition = match which {
        Claimable::Expired => "state = 'sending' AND claim_expires_at < $3",
        Claimable::Due => "state = 'pending' AND +next_attempt_at <= $3",
    };
    let q = format!(
        "UPDATE outbox SET state = 'sending', claimed_by = $1, claim_expires_at = $2, attempts = attempts + 1 \
         WHERE id IN (SELECT id FROM outbox WHERE {condition} AND channel IN ({channel_list}) \
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
    // In turn with this process's write transactions: a planner writing page after page
    // otherwise kept a dispatcher's claim sleeping in SQLite's busy handler (the first SMS of a
    // fan-out left 100 ms late instead of 10).
    let _turn = db.write_turn().await?;
    Ok(outbox::Model::find_by_statement(st).all(&db.conn).await?)
}

//! Broadcasts from an association to its members: the record of each (who, when, which
//! channel, how many members), written with its notices and outbox messages in one
//! transaction, and audited. The messages are composed by the caller (notify's compose).
use crate::entity::association_broadcasts;
use crate::error::StorageError;
use crate::outbox::{NewMessage, NewNotice};
use crate::{Db, audit};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, EntityTrait, PaginatorTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

pub use association_broadcasts::Model as Broadcast;

/// The broadcasts an association sent at or after `since`.
pub async fn count_since(db: &Db, association_id: i64, since: i64) -> Result<u64, StorageError> {
    Ok(association_broadcasts::Entity::find()
        .filter(association_broadcasts::Column::AssociationId.eq(association_id))
        .filter(association_broadcasts::Column::CreatedAt.gte(since))
        .count(&db.conn)
        .await?)
}

/// The association's latest broadcasts, newest first.
pub async fn recent(
    db: &Db,
    association_id: i64,
    limit: u64,
) -> Result<Vec<Broadcast>, StorageError> {
    Ok(association_broadcasts::Entity::find()
        .filter(association_broadcasts::Column::AssociationId.eq(association_id))
        .order_by_desc(association_broadcasts::Column::CreatedAt)
        .order_by_desc(association_broadcasts::Column::Id)
        .limit(limit)
        .all(&db.conn)
        .await?)
}

/// What staff asked to send.
pub struct NewBroadcast<'a> {
    pub association_id: i64,
    pub user_id: i64,
    /// `sms` or `email`.
    pub channel: &'a str,
    pub body: &'a str,
    pub now: i64,
}

/// Records a broadcast (audited) and returns its id. Its messages are then written by
/// [`queue`], each member's notice keyed `broadcast:{id}:{merchant}`, so nobody gets one
/// broadcast twice.
pub async fn record(db: &Db, b: &NewBroadcast<'_>, recipients: i32) -> Result<i64, StorageError> {
    let txn = db.begin_write().await?;
    let id = association_broadcasts::Entity::insert(association_broadcasts::ActiveModel {
        id: NotSet,
        association_id: Set(b.association_id),
        user_id: Set(b.user_id),
        channel: Set(b.channel.to_string()),
        body: Set(b.body.to_string()),
        recipients: Set(recipients),
        created_at: Set(b.now),
    })
    .exec(&txn)
    .await?
    .last_insert_id;
    audit::record(
        &txn,
        b.now,
        audit::AuditEntry {
            actor_user_id: Some(b.user_id),
            actor: &format!("user:{}", b.user_id),
            action: "association.broadcast",
            target_type: "association",
            target_id: Some(b.association_id),
            detail: serde_json::json!({
                "broadcast_id": id,
                "channel": b.channel,
                "recipients": recipients,
                "chars": b.body.chars().count(),
            }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(id)
}

/// Writes every member's notice and message (one transaction per batch; a notice that
/// already exists is skipped). Returns how many were written.
pub async fn queue(db: &Db, batch: &[(NewNotice, Vec<NewMessage>)]) -> Result<usize, StorageError> {
    let ids = crate::outbox::create_notices(db, batch).await?;
    Ok(ids.into_iter().flatten().count())
}

//! The local outbox of the `log` providers, shown at `/dev/outbox` in the demo.
use crate::entity::dev_outbox;
use crate::error::StorageError;
use crate::{Db, now_ms};
use sea_orm::{ActiveValue::NotSet, EntityTrait, QueryOrder, QuerySelect, Set};

pub async fn record(
    db: &Db,
    channel: &str,
    recipient: &str,
    subject: Option<&str>,
    body: &str,
) -> Result<(), StorageError> {
    let am = dev_outbox::ActiveModel {
        id: NotSet,
        at: Set(now_ms()),
        channel: Set(channel.to_string()),
        recipient: Set(recipient.to_string()),
        subject: Set(subject.map(str::to_string)),
        body: Set(body.to_string()),
    };
    dev_outbox::Entity::insert(am).exec(&db.conn).await?;
    Ok(())
}

/// Newest first.
pub async fn list(db: &Db, limit: u64) -> Result<Vec<dev_outbox::Model>, StorageError> {
    Ok(dev_outbox::Entity::find()
        .order_by_desc(dev_outbox::Column::At)
        .order_by_desc(dev_outbox::Column::Id)
        .limit(limit)
        .all(&db.conn)
        .await?)
}

//! SMS whose delivery report is still to be fetched from a provider that reports by polling
//! (Solapi): accepted, not yet delivered or failed.
use crate::Db;
use crate::entity::outbox;
use crate::error::StorageError;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

/// An accepted SMS waiting for its report.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct AwaitingReport {
    pub id: i64,
    pub provider_message_id: String,
}

/// Up to `limit` SMS sent through route `provider_index`, accepted at or after
/// `accepted_since`, still `accepted`, with ids above `after_id`, in id order (a caller pages
/// through them round after round).
pub async fn awaiting_report(
    db: &Db,
    provider_index: i32,
    accepted_since: i64,
    after_id: i64,
    limit: u64,
) -> Result<Vec<AwaitingReport>, StorageError> {
    let rows: Vec<(i64, Option<String>)> = outbox::Entity::find()
        .select_only()
        .column(outbox::Column::Id)
        .column(outbox::Column::ProviderMessageId)
        .filter(outbox::Column::Channel.eq("sms"))
        .filter(outbox::Column::State.eq("accepted"))
        .filter(outbox::Column::ProviderIndex.eq(provider_index))
        .filter(outbox::Column::AcceptedAt.gte(accepted_since))
        .filter(outbox::Column::Id.gt(after_id))
        .order_by_asc(outbox::Column::Id)
        .limit(limit)
        .into_tuple()
        .all(&db.conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|(id, sid)| {
            sid.map(|provider_message_id| AwaitingReport {
                id,
                provider_message_id,
            })
        })
        .collect())
}

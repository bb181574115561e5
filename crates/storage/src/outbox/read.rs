//! Reading notices and their messages back, and what a merchant has already been told.
use crate::Db;
use crate::entity::{notice_incidents, notices, outbox};
use crate::error::StorageError;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

use super::write::ROWS_PER_INSERT;

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

/// The notices with these ids.
pub async fn notices_by_ids(db: &Db, ids: &[i64]) -> Result<Vec<notices::Model>, StorageError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(ROWS_PER_INSERT * 10) {
        out.extend(
            notices::Entity::find()
                .filter(notices::Column::Id.is_in(chunk.to_vec()))
                .all(&db.conn)
                .await?,
        );
    }
    Ok(out)
}

pub async fn notice(db: &Db, id: i64) -> Result<Option<notices::Model>, StorageError> {
    Ok(notices::Entity::find_by_id(id).one(&db.conn).await?)
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

/// The incidents this merchant was told were down (`down` key) that were still down at `at`:
/// what a partial recovery written at `at` named as still down.
pub async fn told_down_open_at(
    db: &Db,
    merchant_id: i64,
    at: i64,
) -> Result<Vec<crate::entity::incidents::Model>, StorageError> {
    use crate::entity::incidents;
    let ids: Vec<i64> = notice_incidents::Entity::find()
        .filter(notice_incidents::Column::MerchantId.eq(merchant_id))
        .filter(notice_incidents::Column::Kind.eq("down"))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|k| k.incident_id)
        .collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(incidents::Entity::find()
        .filter(incidents::Column::Id.is_in(ids))
        .filter(incidents::Column::ConfirmedAt.lte(at))
        .filter(
            sea_orm::Condition::any()
                .add(incidents::Column::ResolvedAt.is_null())
                .add(incidents::Column::ResolvedAt.gt(at)),
        )
        .all(&db.conn)
        .await?)
}

//! Look-ups the report pages need to name things: incidents and dependencies by id, and the
//! association a merchant belongs to.
use crate::Db;
use crate::entity::{dependencies, incidents, memberships, merchants};
use crate::error::StorageError;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};

/// Incidents by id, in no particular order.
pub async fn incidents_by_ids(db: &Db, ids: &[i64]) -> Result<Vec<incidents::Model>, StorageError> {
    Ok(incidents::Entity::find()
        .filter(incidents::Column::Id.is_in(ids.to_vec()))
        .all(&db.conn)
        .await?)
}

/// Every dependency, disabled ones too: a report may name one that has since been retired.
pub async fn all_dependencies(db: &Db) -> Result<Vec<dependencies::Model>, StorageError> {
    Ok(dependencies::Entity::find().all(&db.conn).await?)
}

/// The association a merchant belongs to: their own, else their first membership.
pub async fn association_of_merchant(
    db: &Db,
    m: &merchants::Model,
) -> Result<Option<i64>, StorageError> {
    if m.association_id.is_some() {
        return Ok(m.association_id);
    }
    let first = memberships::Entity::find()
        .filter(memberships::Column::MerchantId.eq(m.id))
        .order_by_asc(memberships::Column::Id)
        .one(&db.conn)
        .await?;
    Ok(first.map(|f| f.association_id))
}

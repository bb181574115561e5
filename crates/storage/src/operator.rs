//! Read models of the operator pages: checks, configuration problems.
use crate::Db;
use crate::entity::{checks, probe_results};
use crate::error::StorageError;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect};

/// Every check (enabled or not), by dependency then name.
pub async fn checks(db: &Db) -> Result<Vec<checks::Model>, StorageError> {
    Ok(checks::Entity::find()
        .order_by_asc(checks::Column::DependencyId)
        .order_by_asc(checks::Column::Name)
        .all(&db.conn)
        .await?)
}

/// Recent probe results whose outcome was `config_error` (our key or quota, not an outage),
/// newest first.
pub async fn config_problems(
    db: &Db,
    since: i64,
    limit: u64,
) -> Result<Vec<probe_results::Model>, StorageError> {
    Ok(probe_results::Entity::find()
        .filter(probe_results::Column::Outcome.eq("config_error"))
        .filter(probe_results::Column::StartedAt.gte(since))
        .order_by_desc(probe_results::Column::StartedAt)
        .limit(limit)
        .all(&db.conn)
        .await?)
}

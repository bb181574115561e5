//! Read models for the status page and `/status.json`.
use crate::entity::{dependencies, dependency_states, incidents};
use crate::error::StorageError;
use crate::{Db, catalog};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use std::collections::HashMap;

/// A dependency with its current state.
#[derive(Debug, Clone)]
pub struct DependencyStatus {
    pub dependency: dependencies::Model,
    pub state: String,
    pub since: i64,
}

pub async fn overview(db: &Db) -> Result<Vec<DependencyStatus>, StorageError> {
    let deps = catalog::list_dependencies(db).await?;
    let states: HashMap<i64, dependency_states::Model> = dependency_states::Entity::find()
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|s| (s.dependency_id, s))
        .collect();
    Ok(deps
        .into_iter()
        .map(|d| {
            let (state, since) = states
                .get(&d.id)
                .map(|s| (s.state.clone(), s.since))
                .unwrap_or_else(|| ("unknown".to_string(), d.created_at));
            DependencyStatus { dependency: d, state, since }
        })
        .collect())
}

/// Incidents that started at or after `since` or are still open, newest first. A store
/// heartbeat's incidents are that merchant's alone and never listed here.
pub async fn incidents_since(db: &Db, since: i64) -> Result<Vec<incidents::Model>, StorageError> {
    Ok(incidents::Entity::find()
        .filter(crate::heartbeats::public_incidents())
        .filter(
            sea_orm::Condition::any()
                .add(incidents::Column::StartedAt.gte(since))
                .add(incidents::Column::ResolvedAt.is_null()),
        )
        .order_by_desc(incidents::Column::StartedAt)
        .all(&db.conn)
        .await?)
}

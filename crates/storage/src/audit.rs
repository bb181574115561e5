//! The audit log: who changed what.
use crate::entity::audit_log;
use crate::error::StorageError;
use sea_orm::{ActiveValue::NotSet, ConnectionTrait, EntityTrait, Set};

pub struct AuditEntry<'a> {
    pub actor_user_id: Option<i64>,
    /// A readable actor: `cli`, `user:12`, `system`.
    pub actor: &'a str,
    pub action: &'a str,
    pub target_type: &'a str,
    pub target_id: Option<i64>,
    pub detail: serde_json::Value,
}

pub async fn record<C: ConnectionTrait>(
    conn: &C,
    at: i64,
    e: AuditEntry<'_>,
) -> Result<(), StorageError> {
    let am = audit_log::ActiveModel {
        id: NotSet,
        at: Set(at),
        actor_user_id: Set(e.actor_user_id),
        actor: Set(e.actor.to_string()),
        action: Set(e.action.to_string()),
        target_type: Set(e.target_type.to_string()),
        target_id: Set(e.target_id),
        detail: Set(e.detail.to_string()),
    };
    audit_log::Entity::insert(am).exec(conn).await?;
    Ok(())
}

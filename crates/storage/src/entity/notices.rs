//! Entity of the `notices` table (see the migrations for what each column means).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "notices")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub merchant_id: i64,
    pub kind: String,
    pub dedupe_key: String,
    pub dependency_ids: String,
    pub incident_ids: String,
    pub since: i64,
    pub token_hash: String,
    /// The time-ordered start of the alert-link token (see `outbox::link_token_locator`);
    /// `None` for notices made before tokens had one.
    pub token_locator: Option<String>,
    pub token_expires_at: i64,
    pub status: String,
    pub contact_position: i32,
    pub escalate_at: Option<i64>,
    pub acked_at: Option<i64>,
    pub acked_via: Option<String>,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

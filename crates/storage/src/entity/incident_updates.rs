//! Entity of the `incident_updates` table (see the migrations for what each column means).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "incident_updates")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub dependency_id: i64,
    pub incident_id: Option<i64>,
    pub maintenance_id: Option<i64>,
    pub status: String,
    pub body: String,
    pub author_user_id: Option<i64>,
    pub dedupe_key: String,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

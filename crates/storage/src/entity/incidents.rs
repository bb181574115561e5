//! Entity of the `incidents` table (see the migrations for what each column means).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "incidents")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub dependency_id: i64,
    pub severity: String,
    pub started_at: i64,
    pub confirmed_at: i64,
    pub resolved_at: Option<i64>,
    pub relapse_count: i32,
    pub last_relapse_at: Option<i64>,
    pub evidence: String,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

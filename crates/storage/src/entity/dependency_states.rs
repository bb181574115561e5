//! Entity of the `dependency_states` table (see the migrations for what each column means).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "dependency_states")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub dependency_id: i64,
    pub state: String,
    pub since: i64,
    pub tracker: String,
    pub open_incident_id: Option<i64>,
    pub version: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! Entity of the `probe_locations` table (see the migrations for what each column means).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "probe_locations")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub name: String,
    pub kind: String,
    pub token_hash: Option<String>,
    pub last_seen_at: Option<i64>,
    pub network_suspect: bool,
    pub created_at: i64,
    pub canaries_failing_since: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

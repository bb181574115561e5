//! Entity of the `probe_results` table (see the migrations for what each column means).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "probe_results")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub check_id: i64,
    pub dependency_id: i64,
    pub location_id: i64,
    pub slot_at: i64,
    pub started_at: i64,
    pub outcome: String,
    pub class: Option<String>,
    pub status: Option<i32>,
    pub provider_code: Option<String>,
    pub error: Option<String>,
    pub duration_us: i64,
    pub timings: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

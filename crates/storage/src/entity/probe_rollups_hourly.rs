//! Entity of the `probe_rollups_hourly` table (see the migrations for what each column means).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "probe_rollups_hourly")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub check_id: i64,
    pub dependency_id: i64,
    pub location_id: i64,
    pub hour_at: i64,
    pub ok_count: i64,
    pub degraded_count: i64,
    pub fail_count: i64,
    pub config_error_count: i64,
    pub total_us: i64,
    pub max_us: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

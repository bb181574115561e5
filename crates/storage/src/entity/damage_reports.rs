//! Entity of the `damage_reports` table (see the migrations for what each column means).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "damage_reports")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub incident_id: i64,
    pub merchant_id: Option<i64>,
    pub association_id: Option<i64>,
    pub status: String,
    pub business_name: String,
    pub brn_enc: Option<String>,
    pub contact_enc: Option<String>,
    pub region_sido: String,
    pub region_sigungu: Option<String>,
    pub trade: String,
    pub affected_services: String,
    pub damage_kinds: String,
    pub estimated_loss_krw: i64,
    pub lost_orders: Option<i32>,
    pub description: String,
    pub outage_start: i64,
    pub outage_end: Option<i64>,
    pub consent: bool,
    pub review_reason: Option<String>,
    pub reviewed_by: Option<i64>,
    pub reviewed_at: Option<i64>,
    pub forwarded_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub windows: String,
    pub sales_outage_krw: Option<i64>,
    pub sales_comparable_krw: Option<i64>,
    pub service_usage: String,
    pub substitute: Option<String>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

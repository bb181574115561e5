//! Entity of the `merchants` table (see the migrations for what each column means).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "merchants")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub business_name: String,
    pub phone_enc: String,
    pub phone_hash: String,
    pub email_enc: Option<String>,
    pub owner_name_enc: Option<String>,
    pub locale: Option<String>,
    pub region: Option<String>,
    pub trade: Option<String>,
    pub time_zone: Option<String>,
    pub brn_enc: Option<String>,
    pub association_id: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

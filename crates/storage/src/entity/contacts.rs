//! Entity of the `contacts` table (see the migrations for what each column means).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "contacts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub merchant_id: i64,
    pub position: i32,
    pub label: Option<String>,
    pub phone_enc: Option<String>,
    pub phone_hash: Option<String>,
    pub email_enc: Option<String>,
    pub email_platform: Option<String>,
    pub phone_verified: bool,
    pub email_verified: bool,
    pub sms_opted_out: bool,
    pub created_at: i64,
    pub updated_at: i64,
    pub voice_enabled: bool,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! Entity of the `early_status_callbacks` table (see the migrations for what each column means).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "early_status_callbacks")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub provider_message_id: String,
    pub status: String,
    pub error_code: Option<String>,
    pub received_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

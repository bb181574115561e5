//! Entity of the `association_broadcasts` table (see the migrations for what each column means).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "association_broadcasts")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub association_id: i64,
    pub user_id: i64,
    pub channel: String,
    pub body: String,
    pub recipients: i32,
    pub created_at: i64,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

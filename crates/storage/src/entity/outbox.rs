//! Entity of the `outbox` table (see the migrations for what each column means).
use sea_orm::entity::prelude::*;

#[derive(Clone, Debug, PartialEq, Eq, DeriveEntityModel)]
#[sea_orm(table_name = "outbox")]
pub struct Model {
    #[sea_orm(primary_key)]
    pub id: i64,
    pub notice_id: i64,
    pub merchant_id: i64,
    pub dedupe_key: String,
    pub channel: String,
    pub contact_id: Option<i64>,
    pub contact_position: i32,
    pub recipient_enc: String,
    pub subject: Option<String>,
    pub body: String,
    pub html: Option<String>,
    pub priority: i32,
    pub state: String,
    pub attempts: i32,
    pub next_attempt_at: i64,
    pub claimed_by: Option<String>,
    pub claim_expires_at: Option<i64>,
    pub provider_index: Option<i32>,
    pub provider_message_id: Option<String>,
    pub last_error: Option<String>,
    pub created_at: i64,
    pub expires_at: i64,
    pub accepted_at: Option<i64>,
    pub delivered_at: Option<i64>,
    pub fallback_at: Option<i64>,
}

#[derive(Copy, Clone, Debug, EnumIter, DeriveRelation)]
pub enum Relation {}

impl ActiveModelBehavior for ActiveModel {}

//! Accounts: operators, association staff and merchants. Passwords arrive already hashed.
use crate::crypto::Crypto;
use crate::entity::{associations, users};
use crate::error::StorageError;
use crate::{Db, audit, now_ms};
use sea_orm::{ActiveValue::NotSet, ColumnTrait, EntityTrait, QueryFilter, Set};

pub struct NewUser<'a> {
    pub email: &'a str,
    pub password_hash: &'a str,
    pub role: &'a str,
    pub merchant_id: Option<i64>,
    pub association_id: Option<i64>,
}

/// Creates a user; an email already in use is a conflict.
pub async fn create(
    db: &Db,
    crypto: &Crypto,
    u: NewUser<'_>,
    actor: &str,
) -> Result<i64, StorageError> {
    let now = now_ms();
    let txn = db.begin_write().await?;
    let hash = crypto.hash(&u.email.to_lowercase());
    if users::Entity::find()
        .filter(users::Column::EmailHash.eq(&hash))
        .one(&txn)
        .await?
        .is_some()
    {
        return Err(StorageError::Conflict(format!(
            "a user with email {} already exists",
            u.email
        )));
    }
    let am = users::ActiveModel {
        id: NotSet,
        email_hash: Set(hash),
        email_enc: Set(crypto.encrypt(u.email)),
        password_hash: Set(u.password_hash.to_string()),
        role: Set(u.role.to_string()),
        merchant_id: Set(u.merchant_id),
        association_id: Set(u.association_id),
        locale: Set(None),
        disabled: Set(false),
        created_at: Set(now),
        last_login_at: Set(None),
    };
    let id = users::Entity::insert(am).exec(&txn).await?.last_insert_id;
    audit::record(
        &txn,
        now,
        audit::AuditEntry {
            actor_user_id: None,
            actor,
            action: "user.create",
            target_type: "user",
            target_id: Some(id),
            detail: serde_json::json!({"role": u.role}),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(id)
}

pub async fn find_by_email(
    db: &Db,
    crypto: &Crypto,
    email: &str,
) -> Result<Option<users::Model>, StorageError> {
    Ok(users::Entity::find()
        .filter(users::Column::EmailHash.is_in(crypto.lookup_hashes(&email.to_lowercase())))
        .one(&db.conn)
        .await?)
}

/// The association named `name`, created if missing.
pub async fn association_by_name(db: &Db, name: &str) -> Result<i64, StorageError> {
    if let Some(a) = associations::Entity::find()
        .filter(associations::Column::Name.eq(name))
        .one(&db.conn)
        .await?
    {
        return Ok(a.id);
    }
    let am = associations::ActiveModel {
        id: NotSet,
        name: Set(name.to_string()),
        created_at: Set(now_ms()),
        invite_code: Set(None),
    };
    match associations::Entity::insert(am).exec(&db.conn).await {
        Ok(r) => Ok(r.last_insert_id),
        Err(e) if crate::error::is_unique_violation(&e) => associations::Entity::find()
            .filter(associations::Column::Name.eq(name))
            .one(&db.conn)
            .await?
            .map(|a| a.id)
            .ok_or_else(|| StorageError::NotFound(format!("association {name}"))),
        Err(e) => Err(e.into()),
    }
}

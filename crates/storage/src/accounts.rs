//! Self-service accounts: sign-up, passwords, one-time tokens (password reset, email
//! verification, SMS codes) and the API tokens a user manages. Secrets are stored as keyed
//! hashes only; personal data is encrypted.
use crate::crypto::Crypto;
use crate::entity::{api_tokens, contacts, merchants, one_time_tokens, users};
use crate::error::{StorageError, is_unique_violation};
use crate::{Db, audit};
use sea_orm::{ActiveValue::NotSet, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

/// A validated sign-up (phone E.164, email normalised, password already hashed).
pub struct SignUp<'a> {
    pub business_name: &'a str,
    pub owner_name: &'a str,
    pub phone: &'a str,
    pub email: &'a str,
    pub email_platform: Option<String>,
    pub password_hash: &'a str,
    pub locale: Option<&'a str>,
}

/// Which unique value was already taken.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Taken {
    Email,
    Phone,
}

/// Creates the merchant, its first contact and its user in one transaction.
/// `Ok(Err(Taken))` when the email (any user) or phone + business name (a merchant) exists.
pub async fn sign_up(
    db: &Db,
    crypto: &Crypto,
    s: SignUp<'_>,
    now: i64,
) -> Result<Result<(i64, i64), Taken>, StorageError> {
    let txn = db.begin_write().await?;
    let email_hash = crypto.hash(&s.email.to_lowercase());
    let taken = users::Entity::find()
        .filter(users::Column::EmailHash.is_in(crypto.lookup_hashes(&s.email.to_lowercase())))
        .one(&txn)
        .await?;
    if taken.is_some() {
        return Ok(Err(Taken::Email));
    }
    let merchant = merchants::ActiveModel {
        id: NotSet,
        business_name: Set(s.business_name.to_string()),
        phone_enc: Set(crypto.encrypt(s.phone)),
        phone_hash: Set(crypto.hash(s.phone)),
        email_enc: Set(Some(crypto.encrypt(s.email))),
        owner_name_enc: Set(Some(crypto.encrypt(s.owner_name))),
        locale: Set(s.locale.map(str::to_string)),
        region: Set(None),
        trade: Set(None),
        time_zone: Set(None),
        brn_enc: Set(None),
        association_id: Set(None),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let merchant_id = match merchants::Entity::insert(merchant).exec(&txn).await {
        Ok(r) => r.last_insert_id,
        Err(e) if is_unique_violation(&e) => return Ok(Err(Taken::Phone)),
        Err(e) => return Err(e.into()),
    };
    let contact = contacts::ActiveModel {
        id: NotSet,
        merchant_id: Set(merchant_id),
        position: Set(0),
        label: Set(Some(s.owner_name.to_string())),
        phone_enc: Set(Some(crypto.encrypt(s.phone))),
        phone_hash: Set(Some(crypto.hash(s.phone))),
        email_enc: Set(Some(crypto.encrypt(s.email))),
        email_platform: Set(s.email_platform.clone()),
        phone_verified: Set(false),
        email_verified: Set(false),
        sms_opted_out: Set(false),
        voice_enabled: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    };
    contacts::Entity::insert(contact).exec(&txn).await?;
    let user = users::ActiveModel {
        id: NotSet,
        email_hash: Set(email_hash),
        email_enc: Set(crypto.encrypt(s.email)),
        password_hash: Set(s.password_hash.to_string()),
        role: Set("merchant".into()),
        merchant_id: Set(Some(merchant_id)),
        association_id: Set(None),
        locale: Set(s.locale.map(str::to_string)),
        disabled: Set(false),
        created_at: Set(now),
        last_login_at: Set(Some(now)),
    };
    let user_id = match users::Entity::insert(user).exec(&txn).await {
        Ok(r) => r.last_insert_id,
        Err(e) if is_unique_violation(&e) => return Ok(Err(Taken::Email)),
        Err(e) => return Err(e.into()),
    };
    let entry = audit::AuditEntry {
        actor_user_id: Some(user_id),
        actor: &format!("user:{user_id}"),
        action: "account.sign_up",
        target_type: "merchant",
        target_id: Some(merchant_id),
        detail: serde_json::json!({}),
    };
    audit::record(&txn, now, entry).await?;
    txn.commit().await?;
    Ok(Ok((merchant_id, user_id)))
}

pub async fn user(db: &Db, id: i64) -> Result<Option<users::Model>, StorageError> {
    Ok(users::Entity::find_by_id(id).one(&db.conn).await?)
}

pub async fn touch_login(db: &Db, user_id: i64, now: i64) -> Result<(), StorageError> {
    users::Entity::update_many()
        .col_expr(users::Column::LastLoginAt, Some(now).into())
        .filter(users::Column::Id.eq(user_id))
        .exec(&db.conn)
        .await?;
    Ok(())
}

/// Sets a new password (reset or change) and revokes the user's API tokens, in one
/// transaction.
pub async fn set_password(
    db: &Db,
    user_id: i64,
    password_hash: &str,
    now: i64,
) -> Result<(), StorageError> {
    let txn = db.begin_write().await?;
    users::Entity::update_many()
        .col_expr(users::Column::PasswordHash, password_hash.into())
        .filter(users::Column::Id.eq(user_id))
        .exec(&txn)
        .await?;
    // A new password ends every API token made under the old one (agent tokens are the
    // operator's machine credentials for a probe location, not the user's: they stay).
    let revoked = api_tokens::Entity::update_many()
        .col_expr(api_tokens::Column::Revoked, true.into())
        .filter(api_tokens::Column::UserId.eq(user_id))
        .filter(api_tokens::Column::Scope.eq(crate::sessions::SCOPE_API))
        .filter(api_tokens::Column::Revoked.eq(false))
        .exec(&txn)
        .await?
        .rows_affected;
    let entry = audit::AuditEntry {
        actor_user_id: Some(user_id),
        actor: &format!("user:{user_id}"),
        action: "account.password_reset",
        target_type: "user",
        target_id: Some(user_id),
        detail: serde_json::json!({ "api_tokens_revoked": revoked }),
    };
    audit::record(&txn, now, entry).await?;
    txn.commit().await?;
    Ok(())
}

/// Who a one-time token is for.
#[derive(Debug, Clone, Copy, Default)]
pub struct TokenOwner {
    pub user_id: Option<i64>,
    pub merchant_id: Option<i64>,
    pub contact_id: Option<i64>,
}

/// Stores a one-time token by its keyed hash (`secret` is whatever the link or SMS carries).
pub async fn create_token(
    db: &Db,
    crypto: &Crypto,
    purpose: &str,
    secret: &str,
    owner: TokenOwner,
    expires_at: i64,
    now: i64,
) -> Result<i64, StorageError> {
    let am = one_time_tokens::ActiveModel {
        id: NotSet,
        purpose: Set(purpose.to_string()),
        token_hash: Set(crypto.hash(secret)),
        user_id: Set(owner.user_id),
        merchant_id: Set(owner.merchant_id),
        contact_id: Set(owner.contact_id),
        attempts: Set(0),
        expires_at: Set(expires_at),
        used_at: Set(None),
        created_at: Set(now),
    };
    Ok(one_time_tokens::Entity::insert(am)
        .exec(&db.conn)
        .await?
        .last_insert_id)
}

/// Uses a token once: only the first caller gets it, and only before it expires.
pub async fn consume_token(
    db: &Db,
    crypto: &Crypto,
    purpose: &str,
    secret: &str,
    now: i64,
) -> Result<Option<one_time_tokens::Model>, StorageError> {
    let Some(t) = one_time_tokens::Entity::find()
        .filter(one_time_tokens::Column::Purpose.eq(purpose))
        .filter(one_time_tokens::Column::TokenHash.is_in(crypto.lookup_hashes(secret)))
        .one(&db.conn)
        .await?
    else {
        return Ok(None);
    };
    if t.used_at.is_some() || t.expires_at <= now {
        return Ok(None);
    }
    Ok(mark_used(db, t.id, now).await?.then_some(t))
}

/// A token that is still valid, without using it (the reset form shows only for those).
pub async fn peek_token(
    db: &Db,
    crypto: &Crypto,
    purpose: &str,
    secret: &str,
    now: i64,
) -> Result<Option<one_time_tokens::Model>, StorageError> {
    Ok(one_time_tokens::Entity::find()
        .filter(one_time_tokens::Column::Purpose.eq(purpose))
        .filter(one_time_tokens::Column::TokenHash.is_in(crypto.lookup_hashes(secret)))
        .filter(one_time_tokens::Column::UsedAt.is_null())
        .filter(one_time_tokens::Column::ExpiresAt.gt(now))
        .one(&db.conn)
        .await?)
}

async fn mark_used(db: &Db, id: i64, now: i64) -> Result<bool, StorageError> {
    let res = one_time_tokens::Entity::update_many()
        .col_expr(one_time_tokens::Column::UsedAt, Some(now).into())
        .filter(one_time_tokens::Column::Id.eq(id))
        .filter(one_time_tokens::Column::UsedAt.is_null())
        .exec(&db.conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// How checking a short code went.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CodeCheck {
    Ok,
    Wrong,
    /// No live code (never sent, expired, used, or too many wrong tries).
    NoCode,
}

/// Checks the latest live SMS code of a contact. Codes are short, so they are hashed with the
/// contact id (`{contact}:{code}`) and a code dies after `max_attempts` wrong tries.
pub async fn check_contact_code(
    db: &Db,
    crypto: &Crypto,
    purpose: &str,
    contact_id: i64,
    code: &str,
    max_attempts: i32,
    now: i64,
) -> Result<CodeCheck, StorageError> {
    let Some(t) = one_time_tokens::Entity::find()
        .filter(one_time_tokens::Column::Purpose.eq(purpose))
        .filter(one_time_tokens::Column::ContactId.eq(contact_id))
        .filter(one_time_tokens::Column::UsedAt.is_null())
        .filter(one_time_tokens::Column::ExpiresAt.gt(now))
        .order_by_desc(one_time_tokens::Column::Id)
        .one(&db.conn)
        .await?
    else {
        return Ok(CodeCheck::NoCode);
    };
    if t.attempts >= max_attempts {
        return Ok(CodeCheck::NoCode);
    }
    let given = format!("{contact_id}:{}", code.trim());
    if crypto
        .lookup_hashes(&given)
        .iter()
        .any(|h| h == &t.token_hash)
    {
        return Ok(if mark_used(db, t.id, now).await? {
            CodeCheck::Ok
        } else {
            CodeCheck::NoCode
        });
    }
    one_time_tokens::Entity::update_many()
        .col_expr(one_time_tokens::Column::Attempts, (t.attempts + 1).into())
        .filter(one_time_tokens::Column::Id.eq(t.id))
        .exec(&db.conn)
        .await?;
    Ok(CodeCheck::Wrong)
}

/// The user's API tokens (not agent tokens), newest first.
pub async fn api_tokens_of(db: &Db, user_id: i64) -> Result<Vec<api_tokens::Model>, StorageError> {
    Ok(api_tokens::Entity::find()
        .filter(api_tokens::Column::UserId.eq(user_id))
        .filter(api_tokens::Column::Scope.eq("api"))
        .order_by_desc(api_tokens::Column::Id)
        .all(&db.conn)
        .await?)
}

/// Revokes one of the user's tokens; false when it is not theirs (or does not exist).
pub async fn revoke_api_token(db: &Db, user_id: i64, token_id: i64) -> Result<bool, StorageError> {
    let res = api_tokens::Entity::update_many()
        .col_expr(api_tokens::Column::Revoked, true.into())
        .filter(api_tokens::Column::Id.eq(token_id))
        .filter(api_tokens::Column::UserId.eq(user_id))
        .filter(api_tokens::Column::Scope.eq("api"))
        .exec(&db.conn)
        .await?;
    Ok(res.rows_affected == 1)
}

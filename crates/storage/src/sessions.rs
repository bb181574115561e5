//! Web sessions and API tokens. Only keyed hashes of the secrets are stored.
use crate::crypto::Crypto;
use crate::entity::{api_tokens, users, web_sessions};
use crate::error::StorageError;
use crate::Db;
use sea_orm::{ActiveValue::NotSet, ColumnTrait, EntityTrait, QueryFilter, Set};

pub async fn create_session(db: &Db, crypto: &Crypto, token: &str, user_id: i64, csrf: &str, now: i64, ttl_ms: i64) -> Result<(), StorageError> {
    let am = web_sessions::ActiveModel {
        id: NotSet,
        session_id: Set(crypto.hash(token)),
        user_id: Set(user_id),
        csrf_token: Set(csrf.to_string()),
        expires_at: Set(now + ttl_ms),
        created_at: Set(now),
    };
    web_sessions::Entity::insert(am).exec(&db.conn).await?;
    Ok(())
}

/// The live session for a cookie token, with its user (not disabled).
pub async fn find_session(db: &Db, crypto: &Crypto, token: &str, now: i64) -> Result<Option<(web_sessions::Model, users::Model)>, StorageError> {
    let Some(s) = web_sessions::Entity::find()
        .filter(web_sessions::Column::SessionId.is_in(crypto.lookup_hashes(token)))
        .filter(web_sessions::Column::ExpiresAt.gt(now))
        .one(&db.conn)
        .await?
    else {
        return Ok(None);
    };
    let user = users::Entity::find_by_id(s.user_id).one(&db.conn).await?;
    Ok(user.filter(|u| !u.disabled).map(|u| (s, u)))
}

pub async fn delete_session(db: &Db, crypto: &Crypto, token: &str) -> Result<(), StorageError> {
    web_sessions::Entity::delete_many()
        .filter(web_sessions::Column::SessionId.is_in(crypto.lookup_hashes(token)))
        .exec(&db.conn)
        .await?;
    Ok(())
}

/// Every session of a user ends (password reset, logout everywhere).
pub async fn delete_user_sessions(db: &Db, user_id: i64) -> Result<(), StorageError> {
    web_sessions::Entity::delete_many().filter(web_sessions::Column::UserId.eq(user_id)).exec(&db.conn).await?;
    Ok(())
}

pub async fn create_api_token(db: &Db, crypto: &Crypto, user_id: i64, name: &str, token: &str, scope: &str, now: i64) -> Result<i64, StorageError> {
    let am = api_tokens::ActiveModel {
        id: NotSet,
        user_id: Set(user_id),
        name: Set(name.to_string()),
        token_hash: Set(crypto.hash(token)),
        scope: Set(scope.to_string()),
        location_id: Set(None),
        revoked: Set(false),
        created_at: Set(now),
        last_used_at: Set(None),
        expires_at: Set(None),
    };
    Ok(api_tokens::Entity::insert(am).exec(&db.conn).await?.last_insert_id)
}

/// The user behind a bearer token (not revoked, not expired, user not disabled).
pub async fn find_api_token(db: &Db, crypto: &Crypto, token: &str, now: i64) -> Result<Option<(api_tokens::Model, users::Model)>, StorageError> {
    let Some(t) = api_tokens::Entity::find()
        .filter(api_tokens::Column::TokenHash.is_in(crypto.lookup_hashes(token)))
        .filter(api_tokens::Column::Revoked.eq(false))
        .one(&db.conn)
        .await?
    else {
        return Ok(None);
    };
    if t.expires_at.is_some_and(|e| e <= now) {
        return Ok(None);
    }
    let user = users::Entity::find_by_id(t.user_id).one(&db.conn).await?;
    api_tokens::Entity::update_many()
        .col_expr(api_tokens::Column::LastUsedAt, Some(now).into())
        .filter(api_tokens::Column::Id.eq(t.id))
        .exec(&db.conn)
        .await?;
    Ok(user.filter(|u| !u.disabled).map(|u| (t, u)))
}

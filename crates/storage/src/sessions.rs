//! Web sessions and API tokens. Only keyed hashes of the secrets are stored.
use crate::Db;
use crate::crypto::Crypto;
use crate::entity::{api_tokens, users, web_sessions};
use crate::error::StorageError;
use sea_orm::{ActiveValue::NotSet, ColumnTrait, EntityTrait, QueryFilter, Set};

pub async fn create_session(
    db: &Db,
    crypto: &Crypto,
    token: &str,
    user_id: i64,
    csrf: &str,
    now: i64,
    ttl_ms: i64,
) -> Result<(), StorageError> {
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
pub async fn find_session(
    db: &Db,
    crypto: &Crypto,
    token: &str,
    now: i64,
) -> Result<Option<(web_sessions::Model, users::Model)>, StorageError> {
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
    web_sessions::Entity::delete_many()
        .filter(web_sessions::Column::UserId.eq(user_id))
        .exec(&db.conn)
        .await?;
    Ok(())
}

/// Scope of a token that acts as its user on `/api/v1`.
pub const SCOPE_API: &str = "api";
/// Scope of a token that lets a remote probe agent report for one probe location, and nothing else.
pub const SCOPE_AGENT: &str = "agent";

pub async fn create_api_token(
    db: &Db,
    crypto: &Crypto,
    user_id: i64,
    name: &str,
    token: &str,
    scope: &str,
    now: i64,
) -> Result<i64, StorageError> {
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
    Ok(api_tokens::Entity::insert(am)
        .exec(&db.conn)
        .await?
        .last_insert_id)
}

/// The user behind a bearer token (scope `api`, not revoked, not expired, user not disabled).
/// An agent token never acts as its user.
pub async fn find_api_token(
    db: &Db,
    crypto: &Crypto,
    token: &str,
    now: i64,
) -> Result<Option<(api_tokens::Model, users::Model)>, StorageError> {
    let Some(t) = api_tokens::Entity::find()
        .filter(api_tokens::Column::TokenHash.is_in(crypto.lookup_hashes(token)))
        .filter(api_tokens::Column::Scope.eq(SCOPE_API))
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

/// A token for a remote probe agent reporting as `location_id`, issued by an operator.
pub async fn create_agent_token(
    db: &Db,
    crypto: &Crypto,
    user_id: i64,
    name: &str,
    token: &str,
    location_id: i64,
    now: i64,
) -> Result<i64, StorageError> {
    let am = api_tokens::ActiveModel {
        id: NotSet,
        user_id: Set(user_id),
        name: Set(name.to_string()),
        token_hash: Set(crypto.hash(token)),
        scope: Set(SCOPE_AGENT.to_string()),
        location_id: Set(Some(location_id)),
        revoked: Set(false),
        created_at: Set(now),
        last_used_at: Set(None),
        expires_at: Set(None),
    };
    Ok(api_tokens::Entity::insert(am)
        .exec(&db.conn)
        .await?
        .last_insert_id)
}

/// The agent token behind a bearer token and its location id (scope `agent`, not revoked,
/// not expired, issuer not disabled).
pub async fn find_agent_token(
    db: &Db,
    crypto: &Crypto,
    token: &str,
    now: i64,
) -> Result<Option<(api_tokens::Model, i64)>, StorageError> {
    let Some(t) = api_tokens::Entity::find()
        .filter(api_tokens::Column::TokenHash.is_in(crypto.lookup_hashes(token)))
        .filter(api_tokens::Column::Scope.eq(SCOPE_AGENT))
        .filter(api_tokens::Column::Revoked.eq(false))
        .one(&db.conn)
        .await?
    else {
        return Ok(None);
    };
    let Some(location_id) = t.location_id else {
        return Ok(None);
    };
    if t.expires_at.is_some_and(|e| e <= now) {
        return Ok(None);
    }
    let issuer = users::Entity::find_by_id(t.user_id).one(&db.conn).await?;
    if issuer.is_none_or(|u| u.disabled) {
        return Ok(None);
    }
    api_tokens::Entity::update_many()
        .col_expr(api_tokens::Column::LastUsedAt, Some(now).into())
        .filter(api_tokens::Column::Id.eq(t.id))
        .exec(&db.conn)
        .await?;
    Ok(Some((t, location_id)))
}

//! Public subscribers of the status page: an email address or a phone number and the
//! dependencies they follow. Double opt-in: nothing is sent to a subscriber but the
//! confirmation (a link, or a six-digit SMS code) until they confirm; every message carries
//! the one-click unsubscribe link (the same secret token, only its keyed hash stored).
use crate::entity::status_subscribers;
use crate::error::StorageError;
use crate::{Crypto, Db};
use sea_orm::{ActiveValue::NotSet, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

pub struct NewSubscriber<'a> {
    /// `email` or `sms`.
    pub channel: &'a str,
    /// A normalized address, or an E.164 number.
    pub recipient: &'a str,
    pub dependency_ids: &'a [i64],
    /// For SMS: the confirmation code (hashed with the row's id).
    pub code: Option<&'a str>,
    pub locale: &'a str,
}

pub fn recipient_hash(crypto: &Crypto, channel: &str, recipient: &str) -> String {
    crypto.hash(&format!("status-subscriber:{channel}:{recipient}"))
}

/// The subscriber's secret link token (`{id}.{mac}`): in the confirmation and in every
/// message's unsubscribe link. Derived with the data key, so nothing secret is stored.
pub fn link_token(crypto: &Crypto, id: i64) -> String {
    let mac = crypto.hash(&format!("status-subscriber-link:{id}"));
    format!("{id}.{}", &mac[..32])
}

fn token_hash(crypto: &Crypto, token: &str) -> String {
    crypto.hash(&format!("status-subscriber-token:{token}"))
}

fn code_hash(crypto: &Crypto, id: i64, code: &str) -> String {
    crypto.hash(&format!("status-subscriber-code:{id}:{code}"))
}

/// Stores a pending (unconfirmed) subscription; returns its id and link token.
pub async fn create(
    db: &Db,
    crypto: &Crypto,
    s: NewSubscriber<'_>,
    now: i64,
) -> Result<(i64, String), StorageError> {
    let am = status_subscribers::ActiveModel {
        id: NotSet,
        channel: Set(s.channel.to_string()),
        recipient_enc: Set(crypto.encrypt(s.recipient)),
        recipient_hash: Set(recipient_hash(crypto, s.channel, s.recipient)),
        dependency_ids: Set(serde_json::to_string(s.dependency_ids).unwrap_or_default()),
        // Replaced below, once the id (and so the token) is known.
        token_hash: Set(format!("pending:{:016x}", rand::random::<u64>())),
        code_hash: Set(None),
        code_tries: Set(0),
        locale: Set(s.locale.to_string()),
        confirmed_at: Set(None),
        unsubscribed_at: Set(None),
        told_through: Set(0),
        created_at: Set(now),
    };
    let id = status_subscribers::Entity::insert(am)
        .exec(&db.conn)
        .await?
        .last_insert_id;
    let token = link_token(crypto, id);
    status_subscribers::Entity::update_many()
        .col_expr(
            status_subscribers::Column::CodeHash,
            s.code.map(|c| code_hash(crypto, id, c)).into(),
        )
        .col_expr(
            status_subscribers::Column::TokenHash,
            token_hash(crypto, &token).into(),
        )
        .filter(status_subscribers::Column::Id.eq(id))
        .exec(&db.conn)
        .await?;
    Ok((id, token))
}

pub async fn by_token(
    db: &Db,
    crypto: &Crypto,
    token: &str,
) -> Result<Option<status_subscribers::Model>, StorageError> {
    Ok(status_subscribers::Entity::find()
        .filter(status_subscribers::Column::TokenHash.eq(token_hash(crypto, token)))
        .one(&db.conn)
        .await?)
}

pub async fn get(db: &Db, id: i64) -> Result<Option<status_subscribers::Model>, StorageError> {
    Ok(status_subscribers::Entity::find_by_id(id)
        .one(&db.conn)
        .await?)
}

/// The dependency ids a subscriber follows.
pub fn dependencies_of(s: &status_subscribers::Model) -> Vec<i64> {
    serde_json::from_str(&s.dependency_ids).unwrap_or_default()
}

/// Confirms a subscription: from now on it hears of new updates (never of older ones), and
/// it replaces any earlier confirmed subscription of the same address or number.
pub async fn confirm(db: &Db, s: &status_subscribers::Model, now: i64) -> Result<(), StorageError> {
    if s.confirmed_at.is_some() && s.unsubscribed_at.is_none() {
        return Ok(());
    }
    let newest = super::updates::newest_id(db).await?;
    let txn = db.begin_write().await?;
    status_subscribers::Entity::update_many()
        .col_expr(status_subscribers::Column::UnsubscribedAt, Some(now).into())
        .filter(status_subscribers::Column::RecipientHash.eq(s.recipient_hash.clone()))
        .filter(status_subscribers::Column::Channel.eq(s.channel.clone()))
        .filter(status_subscribers::Column::Id.ne(s.id))
        .filter(status_subscribers::Column::ConfirmedAt.is_not_null())
        .filter(status_subscribers::Column::UnsubscribedAt.is_null())
        .exec(&*txn)
        .await?;
    status_subscribers::Entity::update_many()
        .col_expr(status_subscribers::Column::ConfirmedAt, Some(now).into())
        .col_expr(
            status_subscribers::Column::UnsubscribedAt,
            Option::<i64>::None.into(),
        )
        .col_expr(
            status_subscribers::Column::CodeHash,
            Option::<String>::None.into(),
        )
        .col_expr(status_subscribers::Column::ToldThrough, newest.into())
        .filter(status_subscribers::Column::Id.eq(s.id))
        .exec(&*txn)
        .await?;
    txn.commit().await?;
    Ok(())
}

/// The answer to an SMS code.
#[derive(Debug, PartialEq, Eq)]
pub enum CodeCheck {
    Confirmed,
    Wrong,
    /// Five wrong codes, or no code pending: subscribe again.
    Spent,
}

pub const MAX_CODE_TRIES: i32 = 5;
/// A code works for ten minutes.
pub const CODE_TTL_MS: i64 = 10 * 60 * 1000;

pub async fn check_code(
    db: &Db,
    crypto: &Crypto,
    s: &status_subscribers::Model,
    code: &str,
    now: i64,
) -> Result<CodeCheck, StorageError> {
    let Some(expected) = s.code_hash.as_deref() else {
        return Ok(CodeCheck::Spent);
    };
    if s.code_tries >= MAX_CODE_TRIES || now - s.created_at > CODE_TTL_MS {
        return Ok(CodeCheck::Spent);
    }
    if code_hash(crypto, s.id, code.trim()) == expected {
        confirm(db, s, now).await?;
        return Ok(CodeCheck::Confirmed);
    }
    status_subscribers::Entity::update_many()
        .col_expr(
            status_subscribers::Column::CodeTries,
            (s.code_tries + 1).into(),
        )
        .filter(status_subscribers::Column::Id.eq(s.id))
        .exec(&db.conn)
        .await?;
    Ok(CodeCheck::Wrong)
}

pub async fn unsubscribe(db: &Db, id: i64, now: i64) -> Result<(), StorageError> {
    status_subscribers::Entity::update_many()
        .col_expr(status_subscribers::Column::UnsubscribedAt, Some(now).into())
        .filter(status_subscribers::Column::Id.eq(id))
        .filter(status_subscribers::Column::UnsubscribedAt.is_null())
        .exec(&db.conn)
        .await?;
    Ok(())
}

/// Confirmed subscribers still subscribed, oldest first.
pub async fn active(db: &Db) -> Result<Vec<status_subscribers::Model>, StorageError> {
    Ok(status_subscribers::Entity::find()
        .filter(status_subscribers::Column::ConfirmedAt.is_not_null())
        .filter(status_subscribers::Column::UnsubscribedAt.is_null())
        .order_by_asc(status_subscribers::Column::Id)
        .all(&db.conn)
        .await?)
}

pub async fn set_told_through(db: &Db, id: i64, through: i64) -> Result<(), StorageError> {
    status_subscribers::Entity::update_many()
        .col_expr(status_subscribers::Column::ToldThrough, through.into())
        .filter(status_subscribers::Column::Id.eq(id))
        .filter(status_subscribers::Column::ToldThrough.lt(through))
        .exec(&db.conn)
        .await?;
    Ok(())
}

//! A merchant's outgoing webhook: where alerts are POSTed as signed JSON, and the secret they
//! are signed with. Both are encrypted at rest; one webhook per merchant (a unique key). Every
//! change is in the audit log (without the URL or the secret, which may carry credentials).
use crate::entity::webhooks;
use crate::error::StorageError;
use crate::{Crypto, Db, audit};
use sea_orm::{ActiveValue::NotSet, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};
use std::collections::HashMap;

/// A webhook with its URL and secret in clear.
#[derive(Clone, PartialEq, Eq)]
pub struct Webhook {
    pub merchant_id: i64,
    pub url: String,
    pub secret: String,
    pub created_at: i64,
    pub updated_at: i64,
}

impl std::fmt::Debug for Webhook {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Webhook")
            .field("merchant_id", &self.merchant_id)
            .field("url", &self.url)
            .field("secret", &"<redacted>")
            .finish()
    }
}

fn model_of(merchant_id: i64) -> sea_orm::Select<webhooks::Entity> {
    webhooks::Entity::find().filter(webhooks::Column::MerchantId.eq(merchant_id))
}

/// The merchant's webhook, decrypted.
pub async fn get(
    db: &Db,
    crypto: &Crypto,
    merchant_id: i64,
) -> Result<Option<Webhook>, StorageError> {
    let Some(w) = model_of(merchant_id).one(&db.conn).await? else {
        return Ok(None);
    };
    Ok(Some(Webhook {
        merchant_id: w.merchant_id,
        url: crypto.decrypt(&w.url_enc).map_err(StorageError::Crypto)?,
        secret: crypto
            .decrypt(&w.secret_enc)
            .map_err(StorageError::Crypto)?,
        created_at: w.created_at,
        updated_at: w.updated_at,
    }))
}

/// The encrypted URL of each of these merchants that has a webhook (what the planner copies
/// into an outbox row's `recipient_enc`, without decrypting it).
pub async fn url_enc_of(
    db: &Db,
    merchant_ids: &[i64],
) -> Result<HashMap<i64, String>, StorageError> {
    let mut out = HashMap::new();
    for chunk in merchant_ids.chunks(1000) {
        for w in webhooks::Entity::find()
            .filter(webhooks::Column::MerchantId.is_in(chunk.to_vec()))
            .all(&db.conn)
            .await?
        {
            out.insert(w.merchant_id, w.url_enc);
        }
    }
    Ok(out)
}

/// Sets the merchant's webhook URL. A new webhook takes `new_secret`; an existing one keeps
/// its secret. Returns true when the webhook was created (so `new_secret` is now in use).
pub async fn set_url(
    db: &Db,
    crypto: &Crypto,
    merchant_id: i64,
    url: &str,
    new_secret: &str,
    actor_user_id: Option<i64>,
    now: i64,
) -> Result<bool, StorageError> {
    let txn = db.begin_write().await?;
    let created = match model_of(merchant_id).one(&txn).await? {
        Some(w) => {
            let am = webhooks::ActiveModel {
                id: Set(w.id),
                url_enc: Set(crypto.encrypt(url)),
                updated_at: Set(now),
                ..Default::default()
            };
            webhooks::Entity::update(am).exec(&txn).await?;
            false
        }
        None => {
            let am = webhooks::ActiveModel {
                id: NotSet,
                merchant_id: Set(merchant_id),
                url_enc: Set(crypto.encrypt(url)),
                secret_enc: Set(crypto.encrypt(new_secret)),
                created_at: Set(now),
                updated_at: Set(now),
            };
            webhooks::Entity::insert(am).exec(&txn).await?;
            true
        }
    };
    let action = if created {
        "webhook.create"
    } else {
        "webhook.update_url"
    };
    record(&txn, actor_user_id, action, merchant_id, now).await?;
    txn.commit().await?;
    Ok(created)
}

/// Replaces the signing secret. False when the merchant has no webhook.
pub async fn rotate_secret(
    db: &Db,
    crypto: &Crypto,
    merchant_id: i64,
    new_secret: &str,
    actor_user_id: Option<i64>,
    now: i64,
) -> Result<bool, StorageError> {
    let txn = db.begin_write().await?;
    let res = webhooks::Entity::update_many()
        .col_expr(
            webhooks::Column::SecretEnc,
            crypto.encrypt(new_secret).into(),
        )
        .col_expr(webhooks::Column::UpdatedAt, now.into())
        .filter(webhooks::Column::MerchantId.eq(merchant_id))
        .exec(&txn)
        .await?;
    if res.rows_affected == 0 {
        return Ok(false);
    }
    record(
        &txn,
        actor_user_id,
        "webhook.rotate_secret",
        merchant_id,
        now,
    )
    .await?;
    txn.commit().await?;
    Ok(true)
}

/// Removes the merchant's webhook. False when there was none.
pub async fn remove(
    db: &Db,
    merchant_id: i64,
    actor_user_id: Option<i64>,
    now: i64,
) -> Result<bool, StorageError> {
    let txn = db.begin_write().await?;
    let res = webhooks::Entity::delete_many()
        .filter(webhooks::Column::MerchantId.eq(merchant_id))
        .exec(&txn)
        .await?;
    if res.rows_affected == 0 {
        return Ok(false);
    }
    record(&txn, actor_user_id, "webhook.remove", merchant_id, now).await?;
    txn.commit().await?;
    Ok(true)
}

async fn record<C: ConnectionTrait>(
    conn: &C,
    user_id: Option<i64>,
    action: &str,
    merchant_id: i64,
    now: i64,
) -> Result<(), StorageError> {
    let actor = user_id.map_or_else(|| "system".to_string(), |u| format!("user:{u}"));
    let entry = audit::AuditEntry {
        actor_user_id: user_id,
        actor: &actor,
        action,
        target_type: "merchant",
        target_id: Some(merchant_id),
        detail: serde_json::json!({}),
    };
    audit::record(conn, now, entry).await
}

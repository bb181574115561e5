//! A merchant's contacts as the dashboard edits them: in order, each with a mobile number
//! and/or an email, verified separately. Every query is scoped to the merchant: another
//! merchant's contact id simply does not exist here.
use crate::crypto::Crypto;
use crate::entity::{contacts, notices, outbox};
use crate::error::StorageError;
use crate::{Db, audit};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

/// A contact with its verification flags, decrypted.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ContactView {
    pub id: i64,
    pub position: i32,
    pub label: Option<String>,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub email_platform: Option<String>,
    pub phone_verified: bool,
    pub email_verified: bool,
    pub sms_opted_out: bool,
    /// Alert calls (`[voice]`) to this contact's phone; on unless the merchant turned them off.
    pub voice_enabled: bool,
}

fn view(crypto: &Crypto, c: contacts::Model) -> Result<ContactView, StorageError> {
    let dec = |v: Option<String>| {
        v.map(|x| crypto.decrypt(&x))
            .transpose()
            .map_err(StorageError::Crypto)
    };
    Ok(ContactView {
        id: c.id,
        position: c.position,
        label: c.label,
        phone: dec(c.phone_enc)?,
        email: dec(c.email_enc)?,
        email_platform: c.email_platform,
        phone_verified: c.phone_verified,
        email_verified: c.email_verified,
        sms_opted_out: c.sms_opted_out,
        voice_enabled: c.voice_enabled,
    })
}

async fn rows<C: ConnectionTrait>(
    conn: &C,
    merchant_id: i64,
) -> Result<Vec<contacts::Model>, StorageError> {
    Ok(contacts::Entity::find()
        .filter(contacts::Column::MerchantId.eq(merchant_id))
        .order_by_asc(contacts::Column::Position)
        .all(conn)
        .await?)
}

pub async fn list(
    db: &Db,
    crypto: &Crypto,
    merchant_id: i64,
) -> Result<Vec<ContactView>, StorageError> {
    rows(&db.conn, merchant_id)
        .await?
        .into_iter()
        .map(|c| view(crypto, c))
        .collect()
}

/// One of the merchant's contacts, or `None` (also for another merchant's id).
pub async fn get(
    db: &Db,
    crypto: &Crypto,
    merchant_id: i64,
    id: i64,
) -> Result<Option<ContactView>, StorageError> {
    contacts::Entity::find_by_id(id)
        .filter(contacts::Column::MerchantId.eq(merchant_id))
        .one(&db.conn)
        .await?
        .map(|c| view(crypto, c))
        .transpose()
}

pub struct NewContact<'a> {
    pub label: Option<&'a str>,
    pub phone: Option<&'a str>,
    pub email: Option<&'a str>,
    pub email_platform: Option<String>,
}

/// Appends a contact after the last one.
pub async fn add(
    db: &Db,
    crypto: &Crypto,
    merchant_id: i64,
    c: NewContact<'_>,
    actor_user_id: i64,
    now: i64,
) -> Result<i64, StorageError> {
    let txn = db.begin_write().await?;
    let next = rows(&txn, merchant_id)
        .await?
        .iter()
        .map(|c| c.position + 1)
        .max()
        .unwrap_or(0);
    let am = contacts::ActiveModel {
        id: NotSet,
        merchant_id: Set(merchant_id),
        position: Set(next),
        label: Set(c.label.map(str::to_string)),
        phone_enc: Set(c.phone.map(|p| crypto.encrypt(p))),
        phone_hash: Set(c.phone.map(|p| crypto.hash(p))),
        email_enc: Set(c.email.map(|e| crypto.encrypt(e))),
        email_platform: Set(c.email_platform),
        phone_verified: Set(false),
        email_verified: Set(false),
        sms_opted_out: Set(false),
        voice_enabled: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    };
    let id = contacts::Entity::insert(am)
        .exec(&txn)
        .await?
        .last_insert_id;
    record(&txn, actor_user_id, "contact.add", id, now).await?;
    txn.commit().await?;
    Ok(id)
}

async fn record<C: ConnectionTrait>(
    conn: &C,
    user_id: i64,
    action: &str,
    contact_id: i64,
    now: i64,
) -> Result<(), StorageError> {
    let actor = format!("user:{user_id}");
    let entry = audit::AuditEntry {
        actor_user_id: Some(user_id),
        actor: &actor,
        action,
        target_type: "contact",
        target_id: Some(contact_id),
        detail: serde_json::json!({}),
    };
    audit::record(conn, now, entry).await
}

/// Positions become 0..n again, in the given order (two passes: the unique index on
/// (merchant, position) must hold after every statement).
async fn renumber<C: ConnectionTrait>(
    conn: &C,
    ordered_ids: &[i64],
    now: i64,
) -> Result<(), StorageError> {
    for temporary in [true, false] {
        for (i, id) in ordered_ids.iter().enumerate() {
            let i = i32::try_from(i).unwrap_or(i32::MAX);
            let pos = if temporary { -1 - i } else { i };
            contacts::Entity::update_many()
                .col_expr(contacts::Column::Position, pos.into())
                .col_expr(contacts::Column::UpdatedAt, now.into())
                .filter(contacts::Column::Id.eq(*id))
                .exec(conn)
                .await?;
        }
    }
    Ok(())
}

/// Removes a contact; false when it is not the merchant's.
pub async fn remove(
    db: &Db,
    merchant_id: i64,
    id: i64,
    actor_user_id: i64,
    now: i64,
) -> Result<bool, StorageError> {
    let txn = db.begin_write().await?;
    let all = rows(&txn, merchant_id).await?;
    if !all.iter().any(|c| c.id == id) {
        return Ok(false);
    }
    contacts::Entity::delete_by_id(id).exec(&txn).await?;
    let rest: Vec<i64> = all.iter().map(|c| c.id).filter(|c| *c != id).collect();
    renumber(&txn, &rest, now).await?;
    record(&txn, actor_user_id, "contact.remove", id, now).await?;
    txn.commit().await?;
    Ok(true)
}

/// Moves a contact one place up (`-1`) or down (`+1`); false when it is not the merchant's.
pub async fn move_by(
    db: &Db,
    merchant_id: i64,
    id: i64,
    delta: i32,
    actor_user_id: i64,
    now: i64,
) -> Result<bool, StorageError> {
    let txn = db.begin_write().await?;
    let mut ids: Vec<i64> = rows(&txn, merchant_id)
        .await?
        .iter()
        .map(|c| c.id)
        .collect();
    let Some(at) = ids.iter().position(|c| *c == id) else {
        return Ok(false);
    };
    let to = (at as i64 + i64::from(delta)).clamp(0, ids.len() as i64 - 1) as usize;
    if to != at {
        ids.swap(at, to);
        renumber(&txn, &ids, now).await?;
        record(&txn, actor_user_id, "contact.move", id, now).await?;
    }
    txn.commit().await?;
    Ok(true)
}

/// Turns alert calls to a merchant's contact on or off (audited). False when the contact is
/// not the merchant's.
pub async fn set_voice_enabled(
    db: &Db,
    merchant_id: i64,
    id: i64,
    enabled: bool,
    actor_user_id: i64,
    now: i64,
) -> Result<bool, StorageError> {
    let txn = db.begin_write().await?;
    let res = contacts::Entity::update_many()
        .col_expr(contacts::Column::VoiceEnabled, enabled.into())
        .col_expr(contacts::Column::UpdatedAt, now.into())
        .filter(contacts::Column::Id.eq(id))
        .filter(contacts::Column::MerchantId.eq(merchant_id))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        return Ok(false);
    }
    let action = if enabled {
        "contact.voice_on"
    } else {
        "contact.voice_off"
    };
    record(&txn, actor_user_id, action, id, now).await?;
    txn.commit().await?;
    Ok(true)
}

/// Marks the phone or the email of a merchant's contact verified.
pub async fn mark_verified(
    db: &Db,
    merchant_id: i64,
    id: i64,
    channel: &str,
    now: i64,
) -> Result<bool, StorageError> {
    let col = if channel == "sms" {
        contacts::Column::PhoneVerified
    } else {
        contacts::Column::EmailVerified
    };
    let res = contacts::Entity::update_many()
        .col_expr(col, true.into())
        .col_expr(contacts::Column::UpdatedAt, now.into())
        .filter(contacts::Column::Id.eq(id))
        .filter(contacts::Column::MerchantId.eq(merchant_id))
        .exec(&db.conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// A message about the account itself (verification code or link, password reset): written
/// to the outbox under a closed notice of `kind`, so it is delivered like any other message
/// but is never acknowledged, escalated or shown as an alert.
pub struct AccountMessage<'a> {
    pub merchant_id: i64,
    pub contact_id: Option<i64>,
    pub kind: &'a str,
    pub channel: &'a str,
    pub recipient: &'a str,
    pub subject: Option<String>,
    pub body: String,
    pub dedupe_key: String,
    pub validity_ms: i64,
}

pub async fn queue_account_message(
    db: &Db,
    crypto: &Crypto,
    m: AccountMessage<'_>,
    now: i64,
) -> Result<i64, StorageError> {
    let txn = db.begin_write().await?;
    let notice = notices::ActiveModel {
        id: NotSet,
        merchant_id: Set(m.merchant_id),
        kind: Set(m.kind.to_string()),
        dedupe_key: Set(m.dedupe_key.clone()),
        dependency_ids: Set("[]".into()),
        incident_ids: Set("[]".into()),
        since: Set(now),
        token_hash: Set(crypto.hash(&format!("account:{}", m.dedupe_key))),
        token_locator: Set(None),
        token_expires_at: Set(now),
        status: Set("closed".into()),
        contact_position: Set(0),
        escalate_at: Set(None),
        acked_at: Set(None),
        acked_via: Set(None),
        created_at: Set(now),
    };
    let notice_id = notices::Entity::insert(notice)
        .exec(&txn)
        .await?
        .last_insert_id;
    let msg = outbox::ActiveModel {
        id: NotSet,
        notice_id: Set(notice_id),
        merchant_id: Set(m.merchant_id),
        dedupe_key: Set(format!("{}:{}", m.dedupe_key, m.channel)),
        channel: Set(m.channel.to_string()),
        contact_id: Set(m.contact_id),
        contact_position: Set(0),
        recipient_enc: Set(crypto.encrypt(m.recipient)),
        subject: Set(m.subject),
        body: Set(m.body),
        html: Set(None),
        priority: Set(0),
        state: Set("pending".into()),
        attempts: Set(0),
        next_attempt_at: Set(now),
        claimed_by: Set(None),
        claim_expires_at: Set(None),
        provider_index: Set(None),
        provider_message_id: Set(None),
        last_error: Set(None),
        created_at: Set(now),
        expires_at: Set(now + m.validity_ms),
        accepted_at: Set(None),
        delivered_at: Set(None),
        fallback_at: Set(None),
    };
    let id = outbox::Entity::insert(msg).exec(&txn).await?.last_insert_id;
    txn.commit().await?;
    Ok(id)
}

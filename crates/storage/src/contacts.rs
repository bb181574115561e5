//! Contacts of a merchant, decrypted for sending; opt-out and opt-in by SMS reply.
use crate::Db;
use crate::crypto::Crypto;
use crate::entity::{contacts, merchants, playbooks};
use crate::error::StorageError;
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use std::collections::HashMap;

/// A contact as the notifier needs it.
#[derive(Debug, Clone, PartialEq)]
pub struct Contact {
    pub id: i64,
    pub merchant_id: i64,
    pub position: i32,
    pub phone: Option<String>,
    pub email: Option<String>,
    pub email_platform: Option<String>,
    pub sms_opted_out: bool,
    /// Alert calls allowed (`[voice]`).
    pub voice_enabled: bool,
}

pub fn decrypt(crypto: &Crypto, c: contacts::Model) -> Result<Contact, StorageError> {
    Ok(Contact {
        id: c.id,
        merchant_id: c.merchant_id,
        position: c.position,
        phone: c
            .phone_enc
            .map(|p| crypto.decrypt(&p))
            .transpose()
            .map_err(StorageError::Crypto)?,
        email: c
            .email_enc
            .map(|e| crypto.decrypt(&e))
            .transpose()
            .map_err(StorageError::Crypto)?,
        email_platform: c.email_platform,
        sms_opted_out: c.sms_opted_out,
        voice_enabled: c.voice_enabled,
    })
}

/// The merchant's contacts in order.
pub async fn of_merchant(
    db: &Db,
    crypto: &Crypto,
    merchant_id: i64,
) -> Result<Vec<Contact>, StorageError> {
    contacts::Entity::find()
        .filter(contacts::Column::MerchantId.eq(merchant_id))
        .order_by_asc(contacts::Column::Position)
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|c| decrypt(crypto, c))
        .collect()
}

/// Contacts whose mobile number is `phone` (E.164): an inbound SMS's sender.
pub async fn by_phone(
    db: &Db,
    crypto: &Crypto,
    phone: &str,
) -> Result<Vec<contacts::Model>, StorageError> {
    Ok(contacts::Entity::find()
        .filter(contacts::Column::PhoneHash.is_in(crypto.lookup_hashes(phone)))
        .all(&db.conn)
        .await?)
}

/// STOP / START: every contact with this number stops or resumes getting SMS.
pub async fn set_sms_opt_out(
    db: &Db,
    crypto: &Crypto,
    phone: &str,
    opted_out: bool,
) -> Result<u64, StorageError> {
    let res = contacts::Entity::update_many()
        .col_expr(contacts::Column::SmsOptedOut, opted_out.into())
        .filter(contacts::Column::PhoneHash.is_in(crypto.lookup_hashes(phone)))
        .exec(&db.conn)
        .await?;
    Ok(res.rows_affected)
}

pub async fn merchant(db: &Db, id: i64) -> Result<Option<merchants::Model>, StorageError> {
    Ok(merchants::Entity::find_by_id(id).one(&db.conn).await?)
}

/// Ids per `IN (…)` list: far below SQLite's 32,766 and PostgreSQL's 65,535 bound parameters.
const IDS_PER_QUERY: usize = 5_000;

/// The merchants with these ids (any number of them; queried in chunks).
pub async fn merchants_by_ids(db: &Db, ids: &[i64]) -> Result<Vec<merchants::Model>, StorageError> {
    let mut out = Vec::with_capacity(ids.len());
    for chunk in ids.chunks(IDS_PER_QUERY) {
        out.extend(
            merchants::Entity::find()
                .filter(merchants::Column::Id.is_in(chunk.to_vec()))
                .all(&db.conn)
                .await?,
        );
    }
    Ok(out)
}

/// The contacts of many merchants in order, by merchant (one query per chunk of ids).
pub async fn of_merchants(
    db: &Db,
    crypto: &Crypto,
    merchant_ids: &[i64],
) -> Result<HashMap<i64, Vec<Contact>>, StorageError> {
    let mut out: HashMap<i64, Vec<Contact>> = HashMap::new();
    for chunk in merchant_ids.chunks(IDS_PER_QUERY) {
        let rows = contacts::Entity::find()
            .filter(contacts::Column::MerchantId.is_in(chunk.to_vec()))
            .order_by_asc(contacts::Column::MerchantId)
            .order_by_asc(contacts::Column::Position)
            .all(&db.conn)
            .await?;
        for c in rows {
            let c = decrypt(crypto, c)?;
            out.entry(c.merchant_id).or_default().push(c);
        }
    }
    Ok(out)
}

/// The playbooks of many merchants, by merchant.
pub async fn playbooks_of(
    db: &Db,
    merchant_ids: &[i64],
) -> Result<HashMap<i64, Vec<playbooks::Model>>, StorageError> {
    let mut out: HashMap<i64, Vec<playbooks::Model>> = HashMap::new();
    for chunk in merchant_ids.chunks(IDS_PER_QUERY) {
        for p in playbooks::Entity::find()
            .filter(playbooks::Column::MerchantId.is_in(chunk.to_vec()))
            .all(&db.conn)
            .await?
        {
            out.entry(p.merchant_id).or_default().push(p);
        }
    }
    Ok(out)
}

/// The merchant's own playbook texts by category.
pub async fn playbooks(db: &Db, merchant_id: i64) -> Result<Vec<playbooks::Model>, StorageError> {
    Ok(playbooks::Entity::find()
        .filter(playbooks::Column::MerchantId.eq(merchant_id))
        .all(&db.conn)
        .await?)
}

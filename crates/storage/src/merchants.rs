//! Merchants, their subscriptions and contacts: bulk import and read-back.
use crate::crypto::Crypto;
use crate::entity::{contacts, dependencies, merchants, subscriptions};
use crate::error::StorageError;
use crate::{Db, audit};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};
use serde::Serialize;
use std::collections::{HashMap, HashSet};

/// One validated merchant, as the importer hands it over (phones already E.164).
#[derive(Debug, Clone, PartialEq)]
pub struct MerchantRecord {
    pub business_name: String,
    pub phone: String,
    pub email: Option<String>,
    pub email_platform: Option<String>,
    pub dependencies: Vec<String>,
    pub locale: Option<String>,
    pub region: Option<String>,
    pub trade: Option<String>,
    pub backup_phone: Option<String>,
    pub backup_email: Option<String>,
    pub backup_email_platform: Option<String>,
}

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct ImportSummary {
    pub created: usize,
    pub updated: usize,
}

/// How a merchant reads back (`merchant list`, the API). Phones in E.164.
#[derive(Debug, Clone, Serialize, PartialEq)]
pub struct MerchantView {
    pub id: i64,
    pub business_name: String,
    pub phone: String,
    pub email: Option<String>,
    pub dependencies: Vec<String>,
    pub locale: Option<String>,
    pub region: Option<String>,
    pub trade: Option<String>,
}

const CHUNK: usize = 500;

/// Imports every record in one transaction: all or nothing. Same phone + business name
/// updates the existing merchant. Unknown dependency slugs are an error (the caller validates
/// first; this re-checks inside the transaction).
pub async fn import(
    db: &Db,
    crypto: &Crypto,
    records: &[MerchantRecord],
    now: i64,
) -> Result<ImportSummary, StorageError> {
    import_members(db, crypto, records, &[], ImportedBy::Cli, now).await
}

/// Who imports: the command line, or an association's staff member from the browser.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ImportedBy {
    Cli,
    User(i64),
}

/// [`import`], and each record `i` also becomes a member of `associations[i]` when that is
/// `Some` (missing entries: no membership). All of it in the one transaction.
pub async fn import_members(
    db: &Db,
    crypto: &Crypto,
    records: &[MerchantRecord],
    associations: &[Option<i64>],
    by: ImportedBy,
    now: i64,
) -> Result<ImportSummary, StorageError> {
    // Reads, then writes: take the write lock first (SQLite), so a running `serve` is waited for.
    let txn = db.begin_write().await?;
    let slug_ids: HashMap<String, i64> = dependencies::Entity::find()
        .all(&txn)
        .await?
        .into_iter()
        .map(|d| (d.slug, d.id))
        .collect();
    for r in records {
        if let Some(bad) = r.dependencies.iter().find(|s| !slug_ids.contains_key(*s)) {
            return Err(StorageError::Data(format!("unknown dependency `{bad}`")));
        }
    }
    let existing = merchant_keys(&txn).await?;
    let mut summary = ImportSummary::default();
    let mut new_rows = Vec::new();
    let mut seen = HashSet::new();
    for r in records {
        let key = (crypto.hash(&r.phone), r.business_name.clone());
        if !seen.insert(key.clone()) {
            continue; // the same merchant twice in one file: the first row wins
        }
        match existing.get(&key) {
            Some(id) => {
                update_merchant(&txn, crypto, *id, r, now).await?;
                summary.updated += 1;
            }
            None => {
                new_rows.push(merchants::ActiveModel {
                    id: NotSet,
                    business_name: Set(r.business_name.clone()),
                    phone_enc: Set(crypto.encrypt(&r.phone)),
                    phone_hash: Set(key.0.clone()),
                    email_enc: Set(r.email.as_deref().map(|e| crypto.encrypt(e))),
                    owner_name_enc: Set(None),
                    locale: Set(r.locale.clone()),
                    region: Set(r.region.clone()),
                    trade: Set(r.trade.clone()),
                    time_zone: Set(None),
                    brn_enc: Set(None),
                    association_id: Set(None),
                    created_at: Set(now),
                    updated_at: Set(now),
                });
                summary.created += 1;
            }
        }
    }
    for chunk in new_rows.chunks(CHUNK) {
        merchants::Entity::insert_many(chunk.to_vec())
            .exec(&txn)
            .await?;
    }
    // Ids of every merchant in the file, for subscriptions and contacts.
    let ids = merchant_keys(&txn).await?;
    let mut sub_rows = Vec::new();
    let mut contact_rows = Vec::new();
    let mut seen = HashSet::new();
    let created_ids: HashSet<i64> = {
        let before: HashSet<i64> = existing.values().copied().collect();
        ids.values()
            .copied()
            .filter(|id| !before.contains(id))
            .collect()
    };
    let mut joined = 0usize;
    for (i, r) in records.iter().enumerate() {
        let key = (crypto.hash(&r.phone), r.business_name.clone());
        if let (Some(&mid), Some(Some(a))) = (ids.get(&key), associations.get(i))
            && crate::members::add(&txn, *a, mid, now).await?
        {
            joined += 1;
        }
        if !seen.insert(key.clone()) {
            continue;
        }
        let Some(&mid) = ids.get(&key) else {
            return Err(StorageError::Data(format!(
                "merchant `{}` vanished during import",
                r.business_name
            )));
        };
        if created_ids.contains(&mid) {
            for slug in &r.dependencies {
                sub_rows.push(subscription(mid, slug_ids[slug], now));
            }
            contact_rows.push(contact(
                crypto,
                mid,
                0,
                Some(&r.phone),
                r.email.as_deref(),
                r.email_platform.clone(),
                now,
            ));
            if r.backup_phone.is_some() || r.backup_email.is_some() {
                contact_rows.push(contact(
                    crypto,
                    mid,
                    1,
                    r.backup_phone.as_deref(),
                    r.backup_email.as_deref(),
                    r.backup_email_platform.clone(),
                    now,
                ));
            }
        } else {
            sync_subscriptions(
                &txn,
                mid,
                r.dependencies.iter().map(|s| slug_ids[s]).collect(),
                now,
            )
            .await?;
            upsert_contact(
                &txn,
                crypto,
                mid,
                0,
                Some(&r.phone),
                r.email.as_deref(),
                r.email_platform.clone(),
                now,
            )
            .await?;
            if r.backup_phone.is_some() || r.backup_email.is_some() {
                upsert_contact(
                    &txn,
                    crypto,
                    mid,
                    1,
                    r.backup_phone.as_deref(),
                    r.backup_email.as_deref(),
                    r.backup_email_platform.clone(),
                    now,
                )
                .await?;
            }
        }
    }
    for chunk in sub_rows.chunks(CHUNK) {
        subscriptions::Entity::insert_many(chunk.to_vec())
            .exec(&txn)
            .await?;
    }
    for chunk in contact_rows.chunks(CHUNK) {
        contacts::Entity::insert_many(chunk.to_vec())
            .exec(&txn)
            .await?;
    }
    let mut into: Vec<i64> = associations.iter().flatten().copied().collect();
    into.sort_unstable();
    into.dedup();
    let (actor_user_id, actor) = match by {
        ImportedBy::Cli => (None, "cli".to_string()),
        ImportedBy::User(u) => (Some(u), format!("user:{u}")),
    };
    audit::record(
        &txn,
        now,
        audit::AuditEntry {
            actor_user_id,
            actor: &actor,
            action: "merchant.import",
            target_type: "merchant",
            target_id: None,
            detail: serde_json::json!({
                "created": summary.created,
                "updated": summary.updated,
                "associations": into,
                "memberships_added": joined,
            }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(summary)
}

async fn merchant_keys<C: ConnectionTrait>(
    conn: &C,
) -> Result<HashMap<(String, String), i64>, StorageError> {
    let rows: Vec<(i64, String, String)> = merchants::Entity::find()
        .select_only()
        .column(merchants::Column::Id)
        .column(merchants::Column::PhoneHash)
        .column(merchants::Column::BusinessName)
        .into_tuple()
        .all(conn)
        .await?;
    Ok(rows.into_iter().map(|(id, h, n)| ((h, n), id)).collect())
}

async fn update_merchant<C: ConnectionTrait>(
    conn: &C,
    crypto: &Crypto,
    id: i64,
    r: &MerchantRecord,
    now: i64,
) -> Result<(), StorageError> {
    let am = merchants::ActiveModel {
        id: Set(id),
        email_enc: Set(r.email.as_deref().map(|e| crypto.encrypt(e))),
        locale: Set(r.locale.clone()),
        region: Set(r.region.clone()),
        trade: Set(r.trade.clone()),
        updated_at: Set(now),
        ..Default::default()
    };
    merchants::Entity::update(am).exec(conn).await?;
    Ok(())
}

fn subscription(merchant_id: i64, dependency_id: i64, now: i64) -> subscriptions::ActiveModel {
    subscriptions::ActiveModel {
        id: NotSet,
        merchant_id: Set(merchant_id),
        dependency_id: Set(dependency_id),
        notify_degraded: Set(false),
        created_at: Set(now),
    }
}

/// Makes the merchant's subscriptions exactly `wanted`, keeping existing rows (and their
/// opt-ins) where they already match.
pub async fn sync_subscriptions<C: ConnectionTrait>(
    conn: &C,
    merchant_id: i64,
    wanted: HashSet<i64>,
    now: i64,
) -> Result<(), StorageError> {
    let current = subscriptions::Entity::find()
        .filter(subscriptions::Column::MerchantId.eq(merchant_id))
        .all(conn)
        .await?;
    let have: HashSet<i64> = current.iter().map(|s| s.dependency_id).collect();
    let stale: Vec<i64> = current
        .iter()
        .filter(|s| !wanted.contains(&s.dependency_id))
        .map(|s| s.id)
        .collect();
    if !stale.is_empty() {
        subscriptions::Entity::delete_many()
            .filter(subscriptions::Column::Id.is_in(stale))
            .exec(conn)
            .await?;
    }
    let mut missing: Vec<i64> = wanted.difference(&have).copied().collect();
    missing.sort_unstable();
    if !missing.is_empty() {
        subscriptions::Entity::insert_many(
            missing
                .into_iter()
                .map(|d| subscription(merchant_id, d, now)),
        )
        .exec(conn)
        .await?;
    }
    Ok(())
}

fn contact(
    crypto: &Crypto,
    merchant_id: i64,
    position: i32,
    phone: Option<&str>,
    email: Option<&str>,
    email_platform: Option<String>,
    now: i64,
) -> contacts::ActiveModel {
    contacts::ActiveModel {
        id: NotSet,
        merchant_id: Set(merchant_id),
        position: Set(position),
        label: Set(None),
        phone_enc: Set(phone.map(|p| crypto.encrypt(p))),
        phone_hash: Set(phone.map(|p| crypto.hash(p))),
        email_enc: Set(email.map(|e| crypto.encrypt(e))),
        email_platform: Set(email_platform),
        phone_verified: Set(false),
        email_verified: Set(false),
        sms_opted_out: Set(false),
        voice_enabled: Set(true),
        created_at: Set(now),
        updated_at: Set(now),
    }
}

#[allow(clippy::too_many_arguments)]
async fn upsert_contact<C: ConnectionTrait>(
    conn: &C,
    crypto: &Crypto,
    merchant_id: i64,
    position: i32,
    phone: Option<&str>,
    email: Option<&str>,
    email_platform: Option<String>,
    now: i64,
) -> Result<(), StorageError> {
    let existing = contacts::Entity::find()
        .filter(contacts::Column::MerchantId.eq(merchant_id))
        .filter(contacts::Column::Position.eq(position))
        .one(conn)
        .await?;
    match existing {
        None => {
            contacts::Entity::insert(contact(
                crypto,
                merchant_id,
                position,
                phone,
                email,
                email_platform,
                now,
            ))
            .exec(conn)
            .await?;
        }
        Some(row) => {
            let same_phone = phone.map(|p| crypto.hash(p)) == row.phone_hash;
            let mut am: contacts::ActiveModel = row.into();
            if !same_phone {
                am.phone_enc = Set(phone.map(|p| crypto.encrypt(p)));
                am.phone_hash = Set(phone.map(|p| crypto.hash(p)));
                am.phone_verified = Set(false);
            }
            am.email_enc = Set(email.map(|e| crypto.encrypt(e)));
            am.email_platform = Set(email_platform);
            am.updated_at = Set(now);
            contacts::Entity::update(am).exec(conn).await?;
        }
    }
    Ok(())
}

/// Every merchant with decrypted phone and email, ordered by id.
pub async fn list(db: &Db, crypto: &Crypto) -> Result<Vec<MerchantView>, StorageError> {
    let slugs: HashMap<i64, String> = dependencies::Entity::find()
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|d| (d.id, d.slug))
        .collect();
    let mut subs: HashMap<i64, Vec<String>> = HashMap::new();
    for s in subscriptions::Entity::find().all(&db.conn).await? {
        if let Some(slug) = slugs.get(&s.dependency_id) {
            subs.entry(s.merchant_id).or_default().push(slug.clone());
        }
    }
    let rows = merchants::Entity::find()
        .order_by_asc(merchants::Column::Id)
        .all(&db.conn)
        .await?;
    rows.into_iter()
        .map(|m| {
            let mut deps = subs.remove(&m.id).unwrap_or_default();
            deps.sort();
            Ok(MerchantView {
                id: m.id,
                business_name: m.business_name,
                phone: crypto.decrypt(&m.phone_enc).map_err(StorageError::Crypto)?,
                email: m
                    .email_enc
                    .map(|e| crypto.decrypt(&e))
                    .transpose()
                    .map_err(StorageError::Crypto)?,
                dependencies: deps,
                locale: m.locale,
                region: m.region,
                trade: m.trade,
            })
        })
        .collect()
}

/// The merchant whose phone is `phone` (E.164), if any. Used by `user create --merchant-phone`.
pub async fn find_by_phone(
    db: &Db,
    crypto: &Crypto,
    phone: &str,
) -> Result<Vec<merchants::Model>, StorageError> {
    Ok(merchants::Entity::find()
        .filter(merchants::Column::PhoneHash.is_in(crypto.lookup_hashes(phone)))
        .all(&db.conn)
        .await?)
}

pub async fn count(db: &Db) -> Result<u64, StorageError> {
    use sea_orm::PaginatorTrait;
    Ok(merchants::Entity::find().count(&db.conn).await?)
}

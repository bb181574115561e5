//! Associations' members: who belongs to which association (`memberships`; a merchant may
//! belong to several), invite codes, the members page's read-back, and the scope every
//! association query is built from ([`member_ids`], [`is_member`]).
use crate::crypto::Crypto;
use crate::entity::{associations, contacts, dependencies, memberships, merchants, subscriptions};
use crate::error::{StorageError, is_unique_violation};
use crate::{Db, audit};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set, sea_query::OnConflict,
};
use std::collections::HashMap;

/// Makes `merchant_id` a member of `association_id` (nothing happens when it already is) and,
/// when the merchant has no home association yet, makes this one its home (the association
/// its report form pre-selects). Returns true when the membership is new.
pub async fn add<C: ConnectionTrait>(
    conn: &C,
    association_id: i64,
    merchant_id: i64,
    now: i64,
) -> Result<bool, StorageError> {
    let am = memberships::ActiveModel {
        id: NotSet,
        association_id: Set(association_id),
        merchant_id: Set(merchant_id),
        created_at: Set(now),
    };
    let inserted = memberships::Entity::insert(am)
        .on_conflict(
            OnConflict::columns([
                memberships::Column::AssociationId,
                memberships::Column::MerchantId,
            ])
            .do_nothing()
            .to_owned(),
        )
        .exec_without_returning(conn)
        .await?;
    merchants::Entity::update_many()
        .col_expr(
            merchants::Column::AssociationId,
            Some(association_id).into(),
        )
        .filter(merchants::Column::Id.eq(merchant_id))
        .filter(merchants::Column::AssociationId.is_null())
        .exec(conn)
        .await?;
    Ok(inserted > 0)
}

/// Ends a membership (audited). The merchant's home association moves to another membership,
/// or to none. False when the merchant was not a member.
pub async fn remove(
    db: &Db,
    association_id: i64,
    merchant_id: i64,
    user_id: i64,
    now: i64,
) -> Result<bool, StorageError> {
    let txn = db.begin_write().await?;
    let gone = memberships::Entity::delete_many()
        .filter(memberships::Column::AssociationId.eq(association_id))
        .filter(memberships::Column::MerchantId.eq(merchant_id))
        .exec(&txn)
        .await?
        .rows_affected;
    if gone == 0 {
        return Ok(false);
    }
    let next = memberships::Entity::find()
        .filter(memberships::Column::MerchantId.eq(merchant_id))
        .order_by_asc(memberships::Column::Id)
        .one(&txn)
        .await?
        .map(|m| m.association_id);
    merchants::Entity::update_many()
        .col_expr(merchants::Column::AssociationId, next.into())
        .filter(merchants::Column::Id.eq(merchant_id))
        .filter(merchants::Column::AssociationId.eq(association_id))
        .exec(&txn)
        .await?;
    audit::record(
        &txn,
        now,
        audit::AuditEntry {
            actor_user_id: Some(user_id),
            actor: &format!("user:{user_id}"),
            action: "membership.remove",
            target_type: "merchant",
            target_id: Some(merchant_id),
            detail: serde_json::json!({ "association_id": association_id }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(true)
}

/// True when the merchant belongs to the association.
pub async fn is_member(
    db: &Db,
    association_id: i64,
    merchant_id: i64,
) -> Result<bool, StorageError> {
    Ok(memberships::Entity::find()
        .filter(memberships::Column::AssociationId.eq(association_id))
        .filter(memberships::Column::MerchantId.eq(merchant_id))
        .one(&db.conn)
        .await?
        .is_some())
}

/// The ids of an association's members.
pub async fn member_ids<C: ConnectionTrait>(
    conn: &C,
    association_id: i64,
) -> Result<Vec<i64>, StorageError> {
    Ok(memberships::Entity::find()
        .select_only()
        .column(memberships::Column::MerchantId)
        .filter(memberships::Column::AssociationId.eq(association_id))
        .into_tuple()
        .all(conn)
        .await?)
}

/// The associations a merchant belongs to, by name.
pub async fn associations_of(
    db: &Db,
    merchant_id: i64,
) -> Result<Vec<associations::Model>, StorageError> {
    let ids: Vec<i64> = memberships::Entity::find()
        .select_only()
        .column(memberships::Column::AssociationId)
        .filter(memberships::Column::MerchantId.eq(merchant_id))
        .into_tuple()
        .all(&db.conn)
        .await?;
    Ok(associations::Entity::find()
        .filter(associations::Column::Id.is_in(ids))
        .order_by_asc(associations::Column::Name)
        .all(&db.conn)
        .await?)
}

/// An association by id.
pub async fn association(db: &Db, id: i64) -> Result<Option<associations::Model>, StorageError> {
    Ok(associations::Entity::find_by_id(id).one(&db.conn).await?)
}

/// Association ids by exact name, for the importer's `association` column.
pub async fn association_ids_by_name(db: &Db) -> Result<HashMap<String, i64>, StorageError> {
    Ok(associations::Entity::find()
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|a| (a.name, a.id))
        .collect())
}

/// The association's invite code, made on first use with `fresh` (a random code the caller
/// supplies). Codes are unique; a collision is retried by the caller with another code.
pub async fn invite_code(
    db: &Db,
    association_id: i64,
    fresh: &str,
) -> Result<String, StorageError> {
    let Some(a) = association(db, association_id).await? else {
        return Err(StorageError::NotFound(format!(
            "association {association_id}"
        )));
    };
    if let Some(code) = a.invite_code {
        return Ok(code);
    }
    set_invite_code(db, association_id, fresh).await?;
    Ok(fresh.to_string())
}

/// Replaces the invite code (the old one stops working at once).
pub async fn set_invite_code(db: &Db, association_id: i64, code: &str) -> Result<(), StorageError> {
    let r = associations::Entity::update_many()
        .col_expr(
            associations::Column::InviteCode,
            Some(code.to_string()).into(),
        )
        .filter(associations::Column::Id.eq(association_id))
        .exec(&db.conn)
        .await;
    match r {
        Ok(_) => Ok(()),
        Err(e) if is_unique_violation(&e) => Err(StorageError::Conflict("invite code".into())),
        Err(e) => Err(e.into()),
    }
}

/// A merchant joins the association whose invite code is `code` (audited). `None` when no
/// association has that code; else the association and whether the membership is new.
pub async fn join_by_code(
    db: &Db,
    merchant_id: i64,
    user_id: i64,
    code: &str,
    now: i64,
) -> Result<Option<(associations::Model, bool)>, StorageError> {
    let code = code.trim();
    if code.is_empty() {
        return Ok(None);
    }
    let Some(a) = associations::Entity::find()
        .filter(associations::Column::InviteCode.eq(code))
        .one(&db.conn)
        .await?
    else {
        return Ok(None);
    };
    let txn = db.begin_write().await?;
    let new = add(&txn, a.id, merchant_id, now).await?;
    if new {
        audit::record(
            &txn,
            now,
            audit::AuditEntry {
                actor_user_id: Some(user_id),
                actor: &format!("user:{user_id}"),
                action: "membership.join",
                target_type: "association",
                target_id: Some(a.id),
                detail: serde_json::json!({ "merchant_id": merchant_id }),
            },
        )
        .await?;
    }
    txn.commit().await?;
    Ok(Some((a, new)))
}

/// One contact of a member as its association sees it: masked, with its verification state.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MemberContact {
    pub position: i32,
    pub phone_masked: Option<String>,
    pub phone_verified: bool,
    pub email_masked: Option<String>,
    pub email_verified: bool,
}

/// A member as its association's members page shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub merchant_id: i64,
    pub business_name: String,
    pub region: Option<String>,
    pub trade: Option<String>,
    /// Dependency slugs the member subscribes to, sorted.
    pub subscriptions: Vec<String>,
    pub contacts: Vec<MemberContact>,
    pub joined_at: i64,
}

/// Every member of an association, by business name; contacts masked.
pub async fn of_association(
    db: &Db,
    crypto: &Crypto,
    association_id: i64,
) -> Result<Vec<Member>, StorageError> {
    let joined: HashMap<i64, i64> = memberships::Entity::find()
        .filter(memberships::Column::AssociationId.eq(association_id))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|m| (m.merchant_id, m.created_at))
        .collect();
    let ids: Vec<i64> = joined.keys().copied().collect();
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    let slugs: HashMap<i64, String> = dependencies::Entity::find()
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|d| (d.id, d.slug))
        .collect();
    let mut subs: HashMap<i64, Vec<String>> = HashMap::new();
    for s in subscriptions::Entity::find()
        .filter(subscriptions::Column::MerchantId.is_in(ids.clone()))
        .all(&db.conn)
        .await?
    {
        if let Some(slug) = slugs.get(&s.dependency_id) {
            subs.entry(s.merchant_id).or_default().push(slug.clone());
        }
    }
    let mut book: HashMap<i64, Vec<MemberContact>> = HashMap::new();
    for c in contacts::Entity::find()
        .filter(contacts::Column::MerchantId.is_in(ids.clone()))
        .order_by_asc(contacts::Column::Position)
        .all(&db.conn)
        .await?
    {
        let open = |v: &Option<String>| -> Result<Option<String>, StorageError> {
            v.as_deref()
                .map(|e| crypto.decrypt(e))
                .transpose()
                .map_err(StorageError::Crypto)
        };
        book.entry(c.merchant_id).or_default().push(MemberContact {
            position: c.position,
            phone_masked: open(&c.phone_enc)?.map(|p| meoktong_domain::mask::mask_phone(&p)),
            phone_verified: c.phone_verified,
            email_masked: open(&c.email_enc)?.map(|e| meoktong_domain::mask::mask_email(&e)),
            email_verified: c.email_verified,
        });
    }
    let mut out: Vec<Member> = merchants::Entity::find()
        .filter(merchants::Column::Id.is_in(ids))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|m| {
            let mut subscriptions = subs.remove(&m.id).unwrap_or_default();
            subscriptions.sort();
            Member {
                merchant_id: m.id,
                business_name: m.business_name,
                region: m.region,
                trade: m.trade,
                subscriptions,
                contacts: book.remove(&m.id).unwrap_or_default(),
                joined_at: joined.get(&m.id).copied().unwrap_or_default(),
            }
        })
        .collect();
    out.sort_by(|a, b| {
        a.business_name
            .cmp(&b.business_name)
            .then(a.merchant_id.cmp(&b.merchant_id))
    });
    Ok(out)
}

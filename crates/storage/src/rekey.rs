//! Key rotation: rewrites every ciphertext and look-up hash with the current data key.
//!
//! During a rotation both keys are configured (`MEOKTONG_DATA_KEY` new,
//! `MEOKTONG_DATA_KEY_PREVIOUS` old): reads decrypt with either and look-ups try both hashes,
//! so the service keeps running; `meoktong rekey` then rewrites the rows in batches, after
//! which the previous key can be removed.
use crate::Db;
use crate::crypto::Crypto;
use crate::entity::{contacts, merchants, outbox, users, webhooks};
use crate::error::StorageError;
use sea_orm::{EntityTrait, QueryOrder, QuerySelect, Set};

#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct RekeySummary {
    pub merchants: u64,
    pub contacts: u64,
    pub users: u64,
    pub outbox: u64,
    pub webhooks: u64,
}

fn re(crypto: &Crypto, v: &str) -> Result<String, StorageError> {
    crypto
        .decrypt(v)
        .map(|p| crypto.encrypt(&p))
        .map_err(StorageError::Crypto)
}

fn re_opt(crypto: &Crypto, v: &Option<String>) -> Result<Option<String>, StorageError> {
    v.as_deref().map(|x| re(crypto, x)).transpose()
}

const BATCH: u64 = 500;

pub async fn rekey(db: &Db, crypto: &Crypto) -> Result<RekeySummary, StorageError> {
    let mut s = RekeySummary::default();
    let mut after = 0;
    loop {
        let rows = <merchants::Entity as ById>::page_after(after)
            .limit(BATCH)
            .all(&db.conn)
            .await?;
        let Some(last) = rows.last().map(|r| r.id) else {
            break;
        };
        for m in rows {
            let phone = crypto.decrypt(&m.phone_enc).map_err(StorageError::Crypto)?;
            let am = merchants::ActiveModel {
                id: Set(m.id),
                phone_enc: Set(crypto.encrypt(&phone)),
                phone_hash: Set(crypto.hash(&phone)),
                email_enc: Set(re_opt(crypto, &m.email_enc)?),
                owner_name_enc: Set(re_opt(crypto, &m.owner_name_enc)?),
                brn_enc: Set(re_opt(crypto, &m.brn_enc)?),
                ..Default::default()
            };
            merchants::Entity::update(am).exec(&db.conn).await?;
            s.merchants += 1;
        }
        after = last;
    }
    after = 0;
    loop {
        let rows = <contacts::Entity as ById>::page_after(after)
            .limit(BATCH)
            .all(&db.conn)
            .await?;
        let Some(last) = rows.last().map(|r| r.id) else {
            break;
        };
        for c in rows {
            let phone = c
                .phone_enc
                .as_deref()
                .map(|p| crypto.decrypt(p))
                .transpose()
                .map_err(StorageError::Crypto)?;
            let am = contacts::ActiveModel {
                id: Set(c.id),
                phone_enc: Set(phone.as_deref().map(|p| crypto.encrypt(p))),
                phone_hash: Set(phone.as_deref().map(|p| crypto.hash(p))),
                email_enc: Set(re_opt(crypto, &c.email_enc)?),
                ..Default::default()
            };
            contacts::Entity::update(am).exec(&db.conn).await?;
            s.contacts += 1;
        }
        after = last;
    }
    after = 0;
    loop {
        let rows = <users::Entity as ById>::page_after(after)
            .limit(BATCH)
            .all(&db.conn)
            .await?;
        let Some(last) = rows.last().map(|r| r.id) else {
            break;
        };
        for u in rows {
            let email = crypto.decrypt(&u.email_enc).map_err(StorageError::Crypto)?;
            let am = users::ActiveModel {
                id: Set(u.id),
                email_enc: Set(crypto.encrypt(&email)),
                email_hash: Set(crypto.hash(&email.to_lowercase())),
                ..Default::default()
            };
            users::Entity::update(am).exec(&db.conn).await?;
            s.users += 1;
        }
        after = last;
    }
    after = 0;
    loop {
        let rows = <outbox::Entity as ById>::page_after(after)
            .limit(BATCH)
            .all(&db.conn)
            .await?;
        let Some(last) = rows.last().map(|r| r.id) else {
            break;
        };
        for o in rows {
            let am = outbox::ActiveModel {
                id: Set(o.id),
                recipient_enc: Set(re(crypto, &o.recipient_enc)?),
                ..Default::default()
            };
            outbox::Entity::update(am).exec(&db.conn).await?;
            s.outbox += 1;
        }
        after = last;
    }
    after = 0;
    loop {
        let rows = <webhooks::Entity as ById>::page_after(after)
            .limit(BATCH)
            .all(&db.conn)
            .await?;
        let Some(last) = rows.last().map(|r| r.id) else {
            break;
        };
        for w in rows {
            let am = webhooks::ActiveModel {
                id: Set(w.id),
                url_enc: Set(re(crypto, &w.url_enc)?),
                secret_enc: Set(re(crypto, &w.secret_enc)?),
                ..Default::default()
            };
            webhooks::Entity::update(am).exec(&db.conn).await?;
            s.webhooks += 1;
        }
        after = last;
    }
    Ok(s)
}

/// Keyset pagination by id for any entity with an `id` primary key.
trait ById: EntityTrait + Sized {
    fn page_after(after: i64) -> sea_orm::Select<Self>;
}

macro_rules! by_id {
    ($($m:ident),*) => {$(
        impl ById for $m::Entity {
            fn page_after(after: i64) -> sea_orm::Select<Self> {
                use sea_orm::{ColumnTrait, QueryFilter};
                $m::Entity::find().filter($m::Column::Id.gt(after)).order_by_asc($m::Column::Id)
            }
        }
    )*};
}
by_id!(merchants, contacts, users, outbox, webhooks);

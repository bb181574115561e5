//! SMS provider routes' shared send budget and health (`provider_states`), for replicas on
//! PostgreSQL. Each function is one statement, so concurrent replicas never overwrite one
//! another: a reservation moves `next_free_us` forward atomically and returns where it landed.
//! (SQLite deployments are a single process and keep the same state in memory: see
//! `meoktong_notify::provider_budget`.)
use crate::error::StorageError;
use crate::{Db, sql};
use sea_orm::{ConnectionTrait, FromQueryResult};

#[derive(Debug, FromQueryResult)]
struct NextFree {
    next_free_us: i64,
}

#[derive(Debug, Clone, PartialEq, Eq, FromQueryResult)]
pub struct ProviderHealth {
    pub provider: String,
    pub failing_since: Option<i64>,
}

/// Makes sure the provider's row exists.
pub async fn ensure(db: &Db, provider: &str) -> Result<(), StorageError> {
    let st = sql::stmt(
        db,
        "INSERT INTO provider_states (provider, next_free_us, failing_since, last_try) \
         VALUES ($1, 0, NULL, 0) ON CONFLICT (provider) DO NOTHING",
        vec![provider.into()],
    );
    db.conn.execute_raw(st).await?;
    Ok(())
}

/// Reserves `cost_us` of the provider's budget (messages × 1 s / rate) starting no earlier
/// than `now_us`; returns when the reservation starts (the caller sends then). PostgreSQL only
/// (`GREATEST`).
pub async fn reserve(
    db: &Db,
    provider: &str,
    cost_us: i64,
    now_us: i64,
) -> Result<i64, StorageError> {
    let st = sql::stmt(
        db,
        "INSERT INTO provider_states (provider, next_free_us, failing_since, last_try) \
         VALUES ($1, $2 + $3, NULL, 0) \
         ON CONFLICT (provider) DO UPDATE \
           SET next_free_us = GREATEST(provider_states.next_free_us, $2) + $3 \
         RETURNING next_free_us",
        vec![provider.into(), now_us.into(), cost_us.into()],
    );
    let row = NextFree::find_by_statement(st)
        .one(&db.conn)
        .await?
        .ok_or_else(|| StorageError::Data("provider_states upsert returned nothing".into()))?;
    Ok(row.next_free_us - cost_us)
}

/// Every provider's health.
pub async fn health(db: &Db) -> Result<Vec<ProviderHealth>, StorageError> {
    let st = sql::stmt(
        db,
        "SELECT provider, failing_since FROM provider_states",
        vec![],
    );
    Ok(ProviderHealth::find_by_statement(st).all(&db.conn).await?)
}

/// Records a try: answered (`failing_since` cleared) or failing (since `now`, unless
/// already failing since earlier).
pub async fn report(db: &Db, provider: &str, ok: bool, now: i64) -> Result<(), StorageError> {
    let q = if ok {
        "UPDATE provider_states SET failing_since = NULL, last_try = $2 WHERE provider = $1"
    } else {
        "UPDATE provider_states SET failing_since = COALESCE(failing_since, $2), last_try = $2 \
         WHERE provider = $1"
    };
    db.conn
        .execute_raw(sql::stmt(db, q, vec![provider.into(), now.into()]))
        .await?;
    Ok(())
}

/// Marks the provider failing since `since` at the latest (a refused account: fail over now).
pub async fn failing_since_at_latest(
    db: &Db,
    provider: &str,
    since: i64,
    now: i64,
) -> Result<(), StorageError> {
    let st = sql::stmt(
        db,
        "UPDATE provider_states SET failing_since = LEAST(COALESCE(failing_since, $2), $2), \
         last_try = $3 WHERE provider = $1",
        vec![provider.into(), since.into(), now.into()],
    );
    db.conn.execute_raw(st).await?;
    Ok(())
}

/// Takes the turn to try a failing provider again: true for exactly one caller per `every_ms`
/// among all replicas.
pub async fn take_retry_turn(
    db: &Db,
    provider: &str,
    now: i64,
    every_ms: i64,
) -> Result<bool, StorageError> {
    let st = sql::stmt(
        db,
        "UPDATE provider_states SET last_try = $2 WHERE provider = $1 AND last_try <= $3",
        vec![provider.into(), now.into(), (now - every_ms).into()],
    );
    Ok(db.conn.execute_raw(st).await?.rows_affected() > 0)
}

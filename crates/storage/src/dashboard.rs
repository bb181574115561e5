//! Read and write models of the merchant dashboard: subscriptions, playbooks, latency
//! series, notification history and store heartbeat monitors. Every query takes the
//! merchant id, so one merchant never reaches another's rows.
use crate::entity::{
    heartbeat_monitors, notices, outbox, playbooks, probe_results, probe_rollups_hourly,
    subscriptions,
};
use crate::error::StorageError;
use crate::{Db, audit};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, QuerySelect, Set,
};
use std::collections::{BTreeMap, HashMap};

/// Notices about the account itself (verification codes and links, password resets): sent
/// through the outbox like alerts, but not alerts, so not in the history.
pub const ACCOUNT_KINDS: [&str; 4] = ["verify", "account", "status", "correction"];

pub async fn subscriptions_of(
    db: &Db,
    merchant_id: i64,
) -> Result<Vec<subscriptions::Model>, StorageError> {
    Ok(subscriptions::Entity::find()
        .filter(subscriptions::Column::MerchantId.eq(merchant_id))
        .order_by_asc(subscriptions::Column::DependencyId)
        .all(&db.conn)
        .await?)
}

/// Makes the merchant's subscriptions exactly `wanted` (dependency id → notify on degraded).
pub async fn set_subscriptions(
    db: &Db,
    merchant_id: i64,
    wanted: &BTreeMap<i64, bool>,
    actor_user_id: i64,
    now: i64,
) -> Result<(), StorageError> {
    let txn = db.begin_write().await?;
    let current = subscriptions::Entity::find()
        .filter(subscriptions::Column::MerchantId.eq(merchant_id))
        .all(&txn)
        .await?;
    for s in &current {
        match wanted.get(&s.dependency_id) {
            None => {
                subscriptions::Entity::delete_by_id(s.id).exec(&txn).await?;
            }
            Some(degraded) if *degraded != s.notify_degraded => {
                subscriptions::Entity::update_many()
                    .col_expr(subscriptions::Column::NotifyDegraded, (*degraded).into())
                    .filter(subscriptions::Column::Id.eq(s.id))
                    .exec(&txn)
                    .await?;
            }
            Some(_) => {}
        }
    }
    for (dep, degraded) in wanted {
        if current.iter().any(|s| s.dependency_id == *dep) {
            continue;
        }
        let am = subscriptions::ActiveModel {
            id: NotSet,
            merchant_id: Set(merchant_id),
            dependency_id: Set(*dep),
            notify_degraded: Set(*degraded),
            created_at: Set(now),
        };
        subscriptions::Entity::insert(am).exec(&txn).await?;
    }
    let actor = format!("user:{actor_user_id}");
    let entry = audit::AuditEntry {
        actor_user_id: Some(actor_user_id),
        actor: &actor,
        action: "subscriptions.set",
        target_type: "merchant",
        target_id: Some(merchant_id),
        detail: serde_json::json!({"dependencies": wanted.keys().collect::<Vec<_>>()}),
    };
    audit::record(&txn, now, entry).await?;
    txn.commit().await?;
    Ok(())
}

/// Writes (or, with an empty text, deletes) the merchant's playbook for a category.
pub async fn set_playbook(
    db: &Db,
    merchant_id: i64,
    category: &str,
    text: &str,
    now: i64,
) -> Result<(), StorageError> {
    let txn = db.begin_write().await?;
    playbooks::Entity::delete_many()
        .filter(playbooks::Column::MerchantId.eq(merchant_id))
        .filter(playbooks::Column::Category.eq(category))
        .exec(&txn)
        .await?;
    if !text.trim().is_empty() {
        let am = playbooks::ActiveModel {
            id: NotSet,
            merchant_id: Set(merchant_id),
            category: Set(category.to_string()),
            text: Set(text.trim().to_string()),
            updated_at: Set(now),
        };
        playbooks::Entity::insert(am).exec(&txn).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Mean latency in milliseconds per point, oldest first, per dependency: hourly rollups
/// since `since`, or the raw results of the last hours when rollups are still few.
pub async fn latency_series(
    db: &Db,
    dependency_ids: &[i64],
    since: i64,
    raw_since: i64,
) -> Result<HashMap<i64, Vec<f64>>, StorageError> {
    let mut out: HashMap<i64, Vec<f64>> = HashMap::new();
    if dependency_ids.is_empty() {
        return Ok(out);
    }
    let rollups = probe_rollups_hourly::Entity::find()
        .filter(probe_rollups_hourly::Column::DependencyId.is_in(dependency_ids.to_vec()))
        .filter(probe_rollups_hourly::Column::HourAt.gte(since))
        .order_by_asc(probe_rollups_hourly::Column::HourAt)
        .all(&db.conn)
        .await?;
    let mut hourly: HashMap<i64, BTreeMap<i64, (i64, i64)>> = HashMap::new();
    for r in rollups {
        let n = r.ok_count + r.degraded_count + r.fail_count;
        let e = hourly
            .entry(r.dependency_id)
            .or_default()
            .entry(r.hour_at)
            .or_default();
        e.0 += r.total_us;
        e.1 += n;
    }
    for (dep, hours) in hourly {
        let pts: Vec<f64> = hours
            .values()
            .filter(|(_, n)| *n > 0)
            .map(|(t, n)| *t as f64 / *n as f64 / 1000.0)
            .collect();
        out.insert(dep, pts);
    }
    let sparse: Vec<i64> = dependency_ids
        .iter()
        .copied()
        .filter(|d| out.get(d).is_none_or(|p| p.len() < 3))
        .collect();
    if !sparse.is_empty() {
        let raw = probe_results::Entity::find()
            .filter(probe_results::Column::DependencyId.is_in(sparse))
            .filter(probe_results::Column::StartedAt.gte(raw_since))
            .order_by_desc(probe_results::Column::StartedAt)
            .limit(2000)
            .all(&db.conn)
            .await?;
        let mut by_dep: HashMap<i64, Vec<f64>> = HashMap::new();
        for r in raw.into_iter().rev() {
            by_dep
                .entry(r.dependency_id)
                .or_default()
                .push(r.duration_us as f64 / 1000.0);
        }
        for (dep, mut pts) in by_dep {
            let keep = pts.len().saturating_sub(48);
            pts.drain(..keep);
            out.insert(dep, pts);
        }
    }
    Ok(out)
}

/// The merchant's notices (alerts and tests, not account messages), newest first, with
/// every message sent or planned for each.
pub async fn history(
    db: &Db,
    merchant_id: i64,
    limit: u64,
) -> Result<Vec<(notices::Model, Vec<outbox::Model>)>, StorageError> {
    let list = notices::Entity::find()
        .filter(notices::Column::MerchantId.eq(merchant_id))
        .filter(notices::Column::Kind.is_not_in(ACCOUNT_KINDS))
        .order_by_desc(notices::Column::CreatedAt)
        .order_by_desc(notices::Column::Id)
        .limit(limit)
        .all(&db.conn)
        .await?;
    let ids: Vec<i64> = list.iter().map(|n| n.id).collect();
    let mut msgs: HashMap<i64, Vec<outbox::Model>> = HashMap::new();
    if !ids.is_empty() {
        for m in outbox::Entity::find()
            .filter(outbox::Column::NoticeId.is_in(ids))
            .filter(outbox::Column::MerchantId.eq(merchant_id))
            .order_by_asc(outbox::Column::Id)
            .all(&db.conn)
            .await?
        {
            msgs.entry(m.notice_id).or_default().push(m);
        }
    }
    Ok(list
        .into_iter()
        .map(|n| {
            let m = msgs.remove(&n.id).unwrap_or_default();
            (n, m)
        })
        .collect())
}

/// One of the merchant's notices with its messages, or `None` (also for another's id).
pub async fn notice_of(
    db: &Db,
    merchant_id: i64,
    id: i64,
) -> Result<Option<(notices::Model, Vec<outbox::Model>)>, StorageError> {
    let Some(n) = notices::Entity::find_by_id(id)
        .filter(notices::Column::MerchantId.eq(merchant_id))
        .filter(notices::Column::Kind.is_not_in(ACCOUNT_KINDS))
        .one(&db.conn)
        .await?
    else {
        return Ok(None);
    };
    let msgs = outbox::Entity::find()
        .filter(outbox::Column::NoticeId.eq(n.id))
        .order_by_asc(outbox::Column::Id)
        .all(&db.conn)
        .await?;
    Ok(Some((n, msgs)))
}

pub async fn heartbeats_of(
    db: &Db,
    merchant_id: i64,
) -> Result<Vec<heartbeat_monitors::Model>, StorageError> {
    Ok(heartbeat_monitors::Entity::find()
        .filter(heartbeat_monitors::Column::MerchantId.eq(merchant_id))
        .order_by_asc(heartbeat_monitors::Column::Id)
        .all(&db.conn)
        .await?)
}

/// A new store heartbeat monitor; `token_hash` is the keyed hash of its URL's secret.
pub async fn create_heartbeat(
    db: &Db,
    merchant_id: i64,
    name: &str,
    token_hash: &str,
    period_ms: i64,
    grace_ms: i64,
    now: i64,
) -> Result<i64, StorageError> {
    let am = heartbeat_monitors::ActiveModel {
        id: NotSet,
        merchant_id: Set(merchant_id),
        name: Set(name.to_string()),
        token_hash: Set(token_hash.to_string()),
        period_ms: Set(period_ms),
        grace_ms: Set(grace_ms),
        last_ping_at: Set(None),
        state: Set("new".into()),
        open_incident_id: Set(None),
        created_at: Set(now),
    };
    Ok(heartbeat_monitors::Entity::insert(am)
        .exec(&db.conn)
        .await?
        .last_insert_id)
}

/// Deletes one of the merchant's monitors; false when it is not theirs.
pub async fn delete_heartbeat(db: &Db, merchant_id: i64, id: i64) -> Result<bool, StorageError> {
    let res = heartbeat_monitors::Entity::delete_many()
        .filter(heartbeat_monitors::Column::Id.eq(id))
        .filter(heartbeat_monitors::Column::MerchantId.eq(merchant_id))
        .exec(&db.conn)
        .await?;
    Ok(res.rows_affected == 1)
}

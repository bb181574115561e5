//! Probe locations, slot claims, raw results with hourly rollups, detector trackers.
use crate::entity::{check_slots, detector_states, probe_locations, probe_results};
use crate::error::{StorageError, is_unique_violation};
use crate::{Db, sql};
use sea_orm::{ActiveValue::NotSet, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, Set};

/// The id of the location named `name`, created if missing.
pub async fn ensure_location(
    db: &Db,
    name: &str,
    kind: &str,
    now: i64,
) -> Result<i64, StorageError> {
    if let Some(l) = probe_locations::Entity::find()
        .filter(probe_locations::Column::Name.eq(name))
        .one(&db.conn)
        .await?
    {
        return Ok(l.id);
    }
    let am = probe_locations::ActiveModel {
        id: NotSet,
        name: Set(name.to_string()),
        kind: Set(kind.to_string()),
        token_hash: Set(None),
        last_seen_at: Set(Some(now)),
        network_suspect: Set(false),
        created_at: Set(now),
    };
    match probe_locations::Entity::insert(am).exec(&db.conn).await {
        Ok(r) => Ok(r.last_insert_id),
        Err(e) if is_unique_violation(&e) => probe_locations::Entity::find()
            .filter(probe_locations::Column::Name.eq(name))
            .one(&db.conn)
            .await?
            .map(|l| l.id)
            .ok_or_else(|| StorageError::NotFound(format!("location {name}"))),
        Err(e) => Err(e.into()),
    }
}

pub async fn location(db: &Db, id: i64) -> Result<Option<probe_locations::Model>, StorageError> {
    Ok(probe_locations::Entity::find_by_id(id)
        .one(&db.conn)
        .await?)
}

pub async fn locations(db: &Db) -> Result<Vec<probe_locations::Model>, StorageError> {
    Ok(probe_locations::Entity::find().all(&db.conn).await?)
}

pub async fn set_location_health(
    db: &Db,
    id: i64,
    seen_at: i64,
    network_suspect: bool,
) -> Result<(), StorageError> {
    let am = probe_locations::ActiveModel {
        id: Set(id),
        last_seen_at: Set(Some(seen_at)),
        network_suspect: Set(network_suspect),
        ..Default::default()
    };
    probe_locations::Entity::update(am).exec(&db.conn).await?;
    Ok(())
}

/// Records that a location reported (a remote agent's fetch or batch) without touching its
/// network-suspect flag, which the detector owns.
pub async fn touch_location(db: &Db, id: i64, seen_at: i64) -> Result<(), StorageError> {
    probe_locations::Entity::update_many()
        .col_expr(probe_locations::Column::LastSeenAt, Some(seen_at).into())
        .filter(probe_locations::Column::Id.eq(id))
        .exec(&db.conn)
        .await?;
    Ok(())
}

/// Claims one scheduled run of a check at a location. Among replicas sharing the location
/// exactly one insert succeeds; the others get `false` and skip the slot.
pub async fn claim_slot(
    db: &Db,
    check_id: i64,
    location_id: i64,
    slot_at: i64,
    holder: &str,
    now: i64,
) -> Result<bool, StorageError> {
    let am = check_slots::ActiveModel {
        id: NotSet,
        check_id: Set(check_id),
        location_id: Set(location_id),
        slot_at: Set(slot_at),
        holder: Set(holder.to_string()),
        claimed_at: Set(now),
    };
    match check_slots::Entity::insert(am).exec(&db.conn).await {
        Ok(_) => Ok(true),
        Err(e) if is_unique_violation(&e) => Ok(false),
        Err(e) => Err(e.into()),
    }
}

/// One probe's result, as stored.
#[derive(Debug, Clone)]
pub struct ResultRow {
    pub check_id: i64,
    pub dependency_id: i64,
    pub location_id: i64,
    pub slot_at: i64,
    pub started_at: i64,
    pub outcome: String,
    pub class: Option<String>,
    pub status: Option<i32>,
    pub provider_code: Option<String>,
    pub error: Option<String>,
    pub duration_us: i64,
    pub timings: Option<String>,
}

const HOUR_MS: i64 = 3_600_000;

/// Stores raw results and folds them into the hourly rollups, in one transaction.
pub async fn record_results(db: &Db, rows: &[ResultRow]) -> Result<(), StorageError> {
    if rows.is_empty() {
        return Ok(());
    }
    let txn = db.begin_write().await?;
    let models: Vec<probe_results::ActiveModel> = rows
        .iter()
        .map(|r| probe_results::ActiveModel {
            id: NotSet,
            check_id: Set(r.check_id),
            dependency_id: Set(r.dependency_id),
            location_id: Set(r.location_id),
            slot_at: Set(r.slot_at),
            started_at: Set(r.started_at),
            outcome: Set(r.outcome.clone()),
            class: Set(r.class.clone()),
            status: Set(r.status),
            provider_code: Set(r.provider_code.clone()),
            error: Set(r.error.clone()),
            duration_us: Set(r.duration_us),
            timings: Set(r.timings.clone()),
        })
        .collect();
    for chunk in models.chunks(400) {
        probe_results::Entity::insert_many(chunk.to_vec())
            .exec(&txn)
            .await?;
    }
    for r in rows {
        let hour = r.started_at - r.started_at.rem_euclid(HOUR_MS);
        let count = |o: &str| i64::from(r.outcome == o);
        let st = sql::stmt(
            db,
            "INSERT INTO probe_rollups_hourly (check_id, dependency_id, location_id, hour_at, ok_count, degraded_count, fail_count, config_error_count, total_us, max_us) \
             VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10) \
             ON CONFLICT (check_id, location_id, hour_at) DO UPDATE SET \
             ok_count = probe_rollups_hourly.ok_count + excluded.ok_count, \
             degraded_count = probe_rollups_hourly.degraded_count + excluded.degraded_count, \
             fail_count = probe_rollups_hourly.fail_count + excluded.fail_count, \
             config_error_count = probe_rollups_hourly.config_error_count + excluded.config_error_count, \
             total_us = probe_rollups_hourly.total_us + excluded.total_us, \
             max_us = CASE WHEN excluded.max_us > probe_rollups_hourly.max_us THEN excluded.max_us ELSE probe_rollups_hourly.max_us END",
            vec![
                r.check_id.into(),
                r.dependency_id.into(),
                r.location_id.into(),
                hour.into(),
                count("ok").into(),
                count("degraded").into(),
                count("fail").into(),
                count("config_error").into(),
                r.duration_us.into(),
                r.duration_us.into(),
            ],
        );
        txn.execute_raw(st).await?;
    }
    txn.commit().await?;
    Ok(())
}

/// Deletes raw results and slot claims older than `before` (rollups stay).
pub async fn prune(db: &Db, before: i64) -> Result<u64, StorageError> {
    let a = probe_results::Entity::delete_many()
        .filter(probe_results::Column::StartedAt.lt(before))
        .exec(&db.conn)
        .await?
        .rows_affected;
    check_slots::Entity::delete_many()
        .filter(check_slots::Column::SlotAt.lt(before))
        .exec(&db.conn)
        .await?;
    Ok(a)
}

/// The stored tracker JSON of a (check, location), if any.
pub async fn tracker<C: ConnectionTrait>(
    conn: &C,
    check_id: i64,
    location_id: i64,
) -> Result<Option<detector_states::Model>, StorageError> {
    Ok(detector_states::Entity::find()
        .filter(detector_states::Column::CheckId.eq(check_id))
        .filter(detector_states::Column::LocationId.eq(location_id))
        .one(conn)
        .await?)
}

/// Every tracker of the checks of a set, for quorum and per-location verdicts.
pub async fn trackers_of_checks<C: ConnectionTrait>(
    conn: &C,
    check_ids: &[i64],
) -> Result<Vec<detector_states::Model>, StorageError> {
    Ok(detector_states::Entity::find()
        .filter(detector_states::Column::CheckId.is_in(check_ids.to_vec()))
        .all(conn)
        .await?)
}

pub async fn save_tracker<C: ConnectionTrait>(
    conn: &C,
    check_id: i64,
    location_id: i64,
    state: &str,
    tracker_json: &str,
    now: i64,
) -> Result<(), StorageError> {
    let existing = tracker(conn, check_id, location_id).await?;
    match existing {
        Some(row) => {
            let am = detector_states::ActiveModel {
                id: Set(row.id),
                state: Set(state.to_string()),
                tracker: Set(tracker_json.to_string()),
                updated_at: Set(now),
                ..Default::default()
            };
            detector_states::Entity::update(am).exec(conn).await?;
        }
        None => {
            let am = detector_states::ActiveModel {
                id: NotSet,
                check_id: Set(check_id),
                location_id: Set(location_id),
                state: Set(state.to_string()),
                tracker: Set(tracker_json.to_string()),
                updated_at: Set(now),
            };
            detector_states::Entity::insert(am).exec(conn).await?;
        }
    }
    Ok(())
}

/// Latest results of a dependency, newest first (API and sparklines).
pub async fn recent_results(
    db: &Db,
    dependency_id: i64,
    since: i64,
) -> Result<Vec<probe_results::Model>, StorageError> {
    use sea_orm::QueryOrder;
    Ok(probe_results::Entity::find()
        .filter(probe_results::Column::DependencyId.eq(dependency_id))
        .filter(probe_results::Column::StartedAt.gte(since))
        .order_by_desc(probe_results::Column::StartedAt)
        .all(&db.conn)
        .await?)
}

/// Flags (or clears) a location whose own network looks broken.
pub async fn set_network_suspect(
    db: &Db,
    location_id: i64,
    suspect: bool,
) -> Result<(), StorageError> {
    probe_locations::Entity::update_many()
        .col_expr(probe_locations::Column::NetworkSuspect, suspect.into())
        .filter(probe_locations::Column::Id.eq(location_id))
        .exec(&db.conn)
        .await?;
    Ok(())
}

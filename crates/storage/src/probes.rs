//! Probe locations, slot claims, raw results with hourly rollups, detector trackers.
use crate::entity::{check_slots, detector_states, probe_locations, probe_results};
use crate::error::{StorageError, is_unique_violation};
use crate::{Db, sql};
use sea_orm::sea_query::{OnConflict, Query};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, DatabaseTransaction, EntityTrait,
    FromQueryResult, QueryFilter, QuerySelect, QueryTrait, Set,
};
use std::collections::{HashMap, HashSet};

/// Rows per multi-row INSERT (well under SQLite's bound-parameter limit).
const ROWS_PER_INSERT: usize = 400;

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
        canaries_failing_since: Set(None),
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

#[derive(FromQueryResult)]
struct ClaimedSlot {
    check_id: i64,
    slot_at: i64,
}

/// [`claim_slot`] for many `(check_id, slot_at)` at once, in one statement per few hundred:
/// returns the slots this holder won (the others were taken by another replica).
pub async fn claim_slots(
    db: &Db,
    location_id: i64,
    slots: &[(i64, i64)],
    holder: &str,
    now: i64,
) -> Result<HashSet<(i64, i64)>, StorageError> {
    let mut won = HashSet::with_capacity(slots.len());
    if slots.is_empty() {
        return Ok(won);
    }
    let txn = db.begin_write().await?;
    for chunk in slots.chunks(ROWS_PER_INSERT) {
        let mut q = check_slots::Entity::insert_many(chunk.iter().map(|(check_id, slot_at)| {
            check_slots::ActiveModel {
                id: NotSet,
                check_id: Set(*check_id),
                location_id: Set(location_id),
                slot_at: Set(*slot_at),
                holder: Set(holder.to_string()),
                claimed_at: Set(now),
            }
        }))
        .into_query();
        q.on_conflict(
            OnConflict::columns([
                check_slots::Column::CheckId,
                check_slots::Column::LocationId,
                check_slots::Column::SlotAt,
            ])
            .do_nothing()
            .to_owned(),
        );
        q.returning(
            Query::returning().columns([check_slots::Column::CheckId, check_slots::Column::SlotAt]),
        );
        for r in ClaimedSlot::find_by_statement(db.db_backend().build(&q))
            .all(&txn)
            .await?
        {
            won.insert((r.check_id, r.slot_at));
        }
    }
    txn.commit().await?;
    Ok(won)
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
    insert_results(db, &txn, rows).await?;
    txn.commit().await?;
    Ok(())
}

/// The rows of [`record_results`] inside the caller's transaction: multi-row inserts of the
/// raw results, then one upsert per (check, location, hour) into the rollups.
pub async fn insert_results(
    db: &Db,
    txn: &DatabaseTransaction,
    rows: &[ResultRow],
) -> Result<(), StorageError> {
    for chunk in rows.chunks(ROWS_PER_INSERT) {
        probe_results::Entity::insert_many(chunk.iter().map(|r| probe_results::ActiveModel {
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
        }))
        .exec_without_returning(txn)
        .await?;
    }
    // Folded in memory first: a batch holds a check's hour once, or twice around a re-check.
    let mut hours: HashMap<(i64, i64, i64), [i64; 7]> = HashMap::new();
    for r in rows {
        let hour = r.started_at - r.started_at.rem_euclid(HOUR_MS);
        let e = hours.entry((r.check_id, r.location_id, hour)).or_insert([
            r.dependency_id,
            0,
            0,
            0,
            0,
            0,
            0,
        ]);
        match r.outcome.as_str() {
            "ok" => e[1] += 1,
            "degraded" => e[2] += 1,
            "fail" => e[3] += 1,
            "config_error" => e[4] += 1,
            _ => {}
        }
        e[5] += r.duration_us;
        e[6] = e[6].max(r.duration_us);
    }
    let mut hours: Vec<_> = hours.into_iter().collect();
    hours.sort_unstable_by_key(|(k, _)| *k); // one lock order for concurrent writers
    for ((check_id, location_id, hour), [dependency_id, ok, degraded, fail, config, total, max]) in
        hours
    {
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
                check_id.into(),
                dependency_id.into(),
                location_id.into(),
                hour.into(),
                ok.into(),
                degraded.into(),
                fail.into(),
                config.into(),
                total.into(),
                max.into(),
            ],
        );
        txn.execute_raw(st).await?;
    }
    Ok(())
}

/// One hour of a dependency's probes, every check and location together (from the rollups,
/// which outlive the raw results).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct HourOfProbes {
    pub hour_at: i64,
    pub ok: i64,
    pub degraded: i64,
    pub failed: i64,
    pub config_errors: i64,
    /// Mean probe duration in microseconds.
    pub mean_us: i64,
}

/// The hours of `dependency_id` from the one holding `from` to the one holding `to`, oldest
/// first; hours without probes are left out.
pub async fn hours_of_dependency(
    db: &Db,
    dependency_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<HourOfProbes>, StorageError> {
    use crate::entity::probe_rollups_hourly as r;
    use sea_orm::QueryOrder;
    let first = from - from.rem_euclid(HOUR_MS);
    let mut hours: std::collections::BTreeMap<i64, [i64; 5]> = std::collections::BTreeMap::new();
    for row in r::Entity::find()
        .filter(r::Column::DependencyId.eq(dependency_id))
        .filter(r::Column::HourAt.gte(first))
        .filter(r::Column::HourAt.lte(to))
        .order_by_asc(r::Column::HourAt)
        .all(&db.conn)
        .await?
    {
        let h = hours.entry(row.hour_at).or_default();
        h[0] += row.ok_count;
        h[1] += row.degraded_count;
        h[2] += row.fail_count;
        h[3] += row.config_error_count;
        h[4] += row.total_us;
    }
    Ok(hours
        .into_iter()
        .map(
            |(hour_at, [ok, degraded, failed, config_errors, total_us])| {
                let n = ok + degraded + failed + config_errors;
                HourOfProbes {
                    hour_at,
                    ok,
                    degraded,
                    failed,
                    config_errors,
                    mean_us: if n > 0 { total_us / n } else { 0 },
                }
            },
        )
        .collect())
}

/// The trackers of `check_ids` at one location, locked for this transaction on PostgreSQL
/// (SQLite's write transaction already excludes other writers): check id → tracker JSON.
pub async fn trackers_for_update(
    db: &Db,
    txn: &DatabaseTransaction,
    location_id: i64,
    check_ids: &[i64],
) -> Result<HashMap<i64, String>, StorageError> {
    let mut ids = check_ids.to_vec();
    ids.sort_unstable();
    ids.dedup();
    let mut out = HashMap::with_capacity(ids.len());
    for chunk in ids.chunks(ROWS_PER_INSERT) {
        let mut q = detector_states::Entity::find()
            .filter(detector_states::Column::LocationId.eq(location_id))
            .filter(detector_states::Column::CheckId.is_in(chunk.to_vec()));
        if db.backend == crate::db::Backend::Postgres {
            q = q.lock_exclusive();
        }
        for row in q.all(txn).await? {
            out.insert(row.check_id, row.tracker);
        }
    }
    Ok(out)
}

/// Writes trackers `(check_id, state, tracker JSON)` of one location: inserted or replaced.
pub async fn save_trackers(
    txn: &DatabaseTransaction,
    location_id: i64,
    trackers: &[(i64, String, String)],
    now: i64,
) -> Result<(), StorageError> {
    for chunk in trackers.chunks(ROWS_PER_INSERT) {
        detector_states::Entity::insert_many(chunk.iter().map(|(check_id, state, json)| {
            detector_states::ActiveModel {
                id: NotSet,
                check_id: Set(*check_id),
                location_id: Set(location_id),
                state: Set(state.clone()),
                tracker: Set(json.clone()),
                updated_at: Set(now),
            }
        }))
        .on_conflict(
            OnConflict::columns([
                detector_states::Column::CheckId,
                detector_states::Column::LocationId,
            ])
            .update_columns([
                detector_states::Column::State,
                detector_states::Column::Tracker,
                detector_states::Column::UpdatedAt,
            ])
            .to_owned(),
        )
        .exec_without_returning(txn)
        .await?;
    }
    Ok(())
}

/// Deletes raw results older than `before` (rollups stay) and slot claims made before
/// `slots_before` (a claim only has to outlive its slot's run).
pub async fn prune(db: &Db, before: i64, slots_before: i64) -> Result<u64, StorageError> {
    let a = probe_results::Entity::delete_many()
        .filter(probe_results::Column::StartedAt.lt(before))
        .exec(&db.conn)
        .await?
        .rows_affected;
    check_slots::Entity::delete_many()
        .filter(check_slots::Column::ClaimedAt.lt(slots_before))
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

/// Records the own-network guard's verdict for a location: `Some(since)` while its canaries do
/// not answer (the location is network-suspect), `None` once they do. A spell already recorded
/// keeps its start. Returns whether the stored verdict changed.
pub async fn set_canaries_failing(
    db: &Db,
    location_id: i64,
    since: Option<i64>,
) -> Result<bool, StorageError> {
    let mut q = probe_locations::Entity::update_many()
        .col_expr(probe_locations::Column::CanariesFailingSince, since.into())
        .filter(probe_locations::Column::Id.eq(location_id));
    q = match since {
        Some(_) => q.filter(probe_locations::Column::CanariesFailingSince.is_null()),
        None => q.filter(probe_locations::Column::CanariesFailingSince.is_not_null()),
    };
    Ok(q.exec(&db.conn).await?.rows_affected > 0)
}

/// Ids of the locations whose canaries do not answer (network-suspect): their results are
/// left out of every quorum.
pub async fn network_suspect_locations<C: ConnectionTrait>(
    conn: &C,
) -> Result<HashSet<i64>, StorageError> {
    Ok(probe_locations::Entity::find()
        .select_only()
        .column(probe_locations::Column::Id)
        .filter(probe_locations::Column::CanariesFailingSince.is_not_null())
        .into_tuple::<i64>()
        .all(conn)
        .await?
        .into_iter()
        .collect())
}

/// The stored result of one probe: a check's probe at a location that started at `started_at`
/// (the evidence of an incident's first failure).
pub async fn result_at<C: ConnectionTrait>(
    conn: &C,
    check_id: i64,
    location_id: i64,
    started_at: i64,
) -> Result<Option<probe_results::Model>, StorageError> {
    Ok(probe_results::Entity::find()
        .filter(probe_results::Column::CheckId.eq(check_id))
        .filter(probe_results::Column::LocationId.eq(location_id))
        .filter(probe_results::Column::StartedAt.eq(started_at))
        .one(conn)
        .await?)
}

/// One probe location's view of a dependency over a span: how many probes, how many failed
/// (failed or degraded), and the first and last hour with a failure (from the hourly
/// rollups, which outlive the raw results).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocationView {
    pub location_id: i64,
    pub probes: i64,
    pub failed: i64,
    pub first_failed_hour: Option<i64>,
    pub last_failed_hour: Option<i64>,
}

/// Every location's view of `dependency_id` from the hour holding `from` to the one holding
/// `to`, by location id.
pub async fn views_by_location(
    db: &Db,
    dependency_id: i64,
    from: i64,
    to: i64,
) -> Result<Vec<LocationView>, StorageError> {
    use crate::entity::probe_rollups_hourly as r;
    let first = from - from.rem_euclid(HOUR_MS);
    let mut by: std::collections::BTreeMap<i64, LocationView> = std::collections::BTreeMap::new();
    for row in r::Entity::find()
        .filter(r::Column::DependencyId.eq(dependency_id))
        .filter(r::Column::HourAt.gte(first))
        .filter(r::Column::HourAt.lte(to))
        .all(&db.conn)
        .await?
    {
        let v = by.entry(row.location_id).or_insert(LocationView {
            location_id: row.location_id,
            probes: 0,
            failed: 0,
            first_failed_hour: None,
            last_failed_hour: None,
        });
        let failed = row.fail_count + row.degraded_count;
        v.probes += row.ok_count + row.degraded_count + row.fail_count + row.config_error_count;
        v.failed += failed;
        if failed > 0 {
            v.first_failed_hour = Some(
                v.first_failed_hour
                    .map_or(row.hour_at, |h| h.min(row.hour_at)),
            );
            v.last_failed_hour = Some(
                v.last_failed_hour
                    .map_or(row.hour_at, |h| h.max(row.hour_at)),
            );
        }
    }
    Ok(by.into_values().collect())
}

//! Dependency states and incidents with their evidence trail.
//!
//! One writer per dependency's state: updates are optimistic on `dependency_states.version`,
//! so replicas racing on the same dependency retry instead of both opening an incident.
use crate::Db;
use crate::entity::{dependency_states, incident_events, incidents};
use crate::error::{StorageError, is_unique_violation};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

pub async fn dependency_state<C: ConnectionTrait>(
    conn: &C,
    dependency_id: i64,
) -> Result<Option<dependency_states::Model>, StorageError> {
    Ok(dependency_states::Entity::find()
        .filter(dependency_states::Column::DependencyId.eq(dependency_id))
        .one(conn)
        .await?)
}

/// The current state of each of `dependency_ids` (dependency id → state name).
pub async fn dependency_states<C: ConnectionTrait>(
    conn: &C,
    dependency_ids: &[i64],
) -> Result<std::collections::HashMap<i64, String>, StorageError> {
    let mut out = std::collections::HashMap::new();
    for chunk in dependency_ids.chunks(500) {
        for row in dependency_states::Entity::find()
            .filter(dependency_states::Column::DependencyId.is_in(chunk.to_vec()))
            .all(conn)
            .await?
        {
            out.insert(row.dependency_id, row.state);
        }
    }
    Ok(out)
}

/// Writes the new state if nobody else changed it since `expected_version` was read.
/// Returns false when another writer won; the caller reloads and re-decides.
#[allow(clippy::too_many_arguments)]
pub async fn update_dependency_state<C: ConnectionTrait>(
    conn: &C,
    dependency_id: i64,
    expected_version: i64,
    state: &str,
    since: i64,
    tracker_json: &str,
    open_incident_id: Option<i64>,
    now: i64,
) -> Result<bool, StorageError> {
    let res = dependency_states::Entity::update_many()
        .col_expr(dependency_states::Column::State, state.into())
        .col_expr(dependency_states::Column::Since, since.into())
        .col_expr(dependency_states::Column::Tracker, tracker_json.into())
        .col_expr(
            dependency_states::Column::OpenIncidentId,
            open_incident_id.into(),
        )
        .col_expr(
            dependency_states::Column::Version,
            (expected_version + 1).into(),
        )
        .col_expr(dependency_states::Column::UpdatedAt, now.into())
        .filter(dependency_states::Column::DependencyId.eq(dependency_id))
        .filter(dependency_states::Column::Version.eq(expected_version))
        .exec(conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// Opens an incident; the unique key (dependency, severity, started_at) makes a second
/// opening of the same outage return the first one's id.
pub async fn open<C: ConnectionTrait>(
    conn: &C,
    dependency_id: i64,
    severity: &str,
    started_at: i64,
    confirmed_at: i64,
    evidence: &serde_json::Value,
) -> Result<i64, StorageError> {
    let am = incidents::ActiveModel {
        id: NotSet,
        dependency_id: Set(dependency_id),
        severity: Set(severity.to_string()),
        started_at: Set(started_at),
        confirmed_at: Set(confirmed_at),
        resolved_at: Set(None),
        relapse_count: Set(0),
        last_relapse_at: Set(None),
        evidence: Set(evidence.to_string()),
        created_at: Set(confirmed_at),
        updated_at: Set(confirmed_at),
    };
    match incidents::Entity::insert(am).exec(conn).await {
        Ok(r) => Ok(r.last_insert_id),
        Err(e) if is_unique_violation(&e) => incidents::Entity::find()
            .filter(incidents::Column::DependencyId.eq(dependency_id))
            .filter(incidents::Column::Severity.eq(severity))
            .filter(incidents::Column::StartedAt.eq(started_at))
            .one(conn)
            .await?
            .map(|i| i.id)
            .ok_or_else(|| StorageError::NotFound("incident".into())),
        Err(e) => Err(e.into()),
    }
}

pub async fn resolve<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    resolved_at: i64,
    now: i64,
) -> Result<(), StorageError> {
    incidents::Entity::update_many()
        .col_expr(incidents::Column::ResolvedAt, Some(resolved_at).into())
        .col_expr(incidents::Column::UpdatedAt, now.into())
        .filter(incidents::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

/// A relapse within the reopen window continues the same incident record.
pub async fn relapse<C: ConnectionTrait>(conn: &C, id: i64, at: i64) -> Result<(), StorageError> {
    let Some(row) = incidents::Entity::find_by_id(id).one(conn).await? else {
        return Err(StorageError::NotFound(format!("incident {id}")));
    };
    let am = incidents::ActiveModel {
        id: Set(id),
        resolved_at: Set(None),
        relapse_count: Set(row.relapse_count + 1),
        last_relapse_at: Set(Some(at)),
        updated_at: Set(at),
        ..Default::default()
    };
    incidents::Entity::update(am).exec(conn).await?;
    Ok(())
}

pub async fn set_evidence<C: ConnectionTrait>(
    conn: &C,
    id: i64,
    evidence: &serde_json::Value,
) -> Result<(), StorageError> {
    incidents::Entity::update_many()
        .col_expr(incidents::Column::Evidence, evidence.to_string().into())
        .filter(incidents::Column::Id.eq(id))
        .exec(conn)
        .await?;
    Ok(())
}

pub async fn add_event<C: ConnectionTrait>(
    conn: &C,
    incident_id: i64,
    at: i64,
    kind: &str,
    location_id: Option<i64>,
    check_id: Option<i64>,
    detail: &serde_json::Value,
) -> Result<(), StorageError> {
    let am = incident_events::ActiveModel {
        id: NotSet,
        incident_id: Set(incident_id),
        at: Set(at),
        kind: Set(kind.to_string()),
        location_id: Set(location_id),
        check_id: Set(check_id),
        detail: Set(detail.to_string()),
    };
    incident_events::Entity::insert(am).exec(conn).await?;
    Ok(())
}

pub async fn get(db: &Db, id: i64) -> Result<Option<incidents::Model>, StorageError> {
    Ok(incidents::Entity::find_by_id(id).one(&db.conn).await?)
}

/// The incidents with these ids (any order; unknown ids are left out).
pub async fn by_ids(db: &Db, ids: &[i64]) -> Result<Vec<incidents::Model>, StorageError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(incidents::Entity::find()
        .filter(incidents::Column::Id.is_in(ids.iter().copied()))
        .all(&db.conn)
        .await?)
}

/// An incident of a public dependency (a store's own heartbeat incident is that merchant's).
pub async fn get_public(db: &Db, id: i64) -> Result<Option<incidents::Model>, StorageError> {
    Ok(incidents::Entity::find_by_id(id)
        .filter(crate::heartbeats::public_incidents())
        .one(&db.conn)
        .await?)
}

pub async fn events(
    db: &Db,
    incident_id: i64,
) -> Result<Vec<incident_events::Model>, StorageError> {
    Ok(incident_events::Entity::find()
        .filter(incident_events::Column::IncidentId.eq(incident_id))
        .order_by_asc(incident_events::Column::At)
        .order_by_asc(incident_events::Column::Id)
        .all(&db.conn)
        .await?)
}

/// Public incidents (not a store heartbeat's), newest first, optionally of one dependency.
pub async fn list(
    db: &Db,
    dependency_id: Option<i64>,
    limit: u64,
) -> Result<Vec<incidents::Model>, StorageError> {
    let mut q = incidents::Entity::find()
        .filter(crate::heartbeats::public_incidents())
        .order_by_desc(incidents::Column::StartedAt);
    if let Some(d) = dependency_id {
        q = q.filter(incidents::Column::DependencyId.eq(d));
    }
    Ok(q.limit(limit).all(&db.conn).await?)
}

/// Open (unresolved) incidents.
pub async fn open_incidents(db: &Db) -> Result<Vec<incidents::Model>, StorageError> {
    Ok(incidents::Entity::find()
        .filter(incidents::Column::ResolvedAt.is_null())
        .all(&db.conn)
        .await?)
}

/// The incidents a notification planner looks at: every open one, and those resolved at or
/// after `resolved_since` (still eligible for a recovery notice).
pub async fn open_or_resolved_since(
    db: &Db,
    resolved_since: i64,
) -> Result<Vec<incidents::Model>, StorageError> {
    Ok(incidents::Entity::find()
        .filter(
            sea_orm::Condition::any()
                .add(incidents::Column::ResolvedAt.is_null())
                .add(incidents::Column::ResolvedAt.gte(resolved_since)),
        )
        .all(&db.conn)
        .await?)
}

/// The outage event `incident_id` belongs to, for reporting: every public incident whose
/// measured window overlaps it, directly or through another ([`meoktong_domain::claims`]),
/// first-started first. Empty when the incident does not exist. An open incident runs until
/// `now`.
pub async fn event_of(
    db: &Db,
    incident_id: i64,
    now: i64,
) -> Result<Vec<incidents::Model>, StorageError> {
    use meoktong_domain::claims::{Window, event_group};
    let Some(seed) = get(db, incident_id).await? else {
        return Ok(Vec::new());
    };
    let window = |i: &incidents::Model| Window {
        id: i.id,
        start: i.started_at,
        end: i.resolved_at,
    };
    let mut known: Vec<incidents::Model> = vec![seed];
    // Grow the span until no incident overlapping it is new (at most a few rounds).
    for _ in 0..16 {
        let lo = known.iter().map(|i| i.started_at).min().unwrap_or(0);
        let hi = known
            .iter()
            .map(|i| i.resolved_at.unwrap_or(now).max(i.started_at))
            .max()
            .unwrap_or(now);
        let found = incidents::Entity::find()
            .filter(crate::heartbeats::public_incidents())
            .filter(incidents::Column::StartedAt.lte(hi))
            .filter(
                sea_orm::Condition::any()
                    .add(incidents::Column::ResolvedAt.is_null())
                    .add(incidents::Column::ResolvedAt.gte(lo)),
            )
            .all(&db.conn)
            .await?;
        let before = known.len();
        for f in found {
            if !known.iter().any(|k| k.id == f.id) {
                known.push(f);
            }
        }
        if known.len() == before {
            break;
        }
    }
    let windows: Vec<Window> = known.iter().map(window).collect();
    let group = event_group(&windows, incident_id, now);
    let mut out: Vec<incidents::Model> = group
        .iter()
        .filter_map(|w| known.iter().find(|k| k.id == w.id).cloned())
        .collect();
    out.sort_by_key(|i| (i.started_at, i.id));
    Ok(out)
}

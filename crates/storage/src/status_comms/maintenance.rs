//! Maintenance windows per dependency: scheduled by an operator (page or API) or in the
//! configuration (`[[maintenance]]`). While one is on, failures are told as maintenance and
//! the window is left out of uptime.
use crate::entity::maintenance_windows;
use crate::error::StorageError;
use crate::{Db, audit};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

use super::updates::{self, NewUpdate, UpdateStatus};

#[derive(Clone, Copy)]
pub struct NewWindow<'a> {
    pub dependency_id: i64,
    pub starts_at: i64,
    pub ends_at: i64,
    pub title: &'a str,
    /// `operator`, `api` or `config`.
    pub source: &'a str,
    pub user_id: Option<i64>,
}

/// Schedules a window and its "점검 예정" announcement; audited.
pub async fn schedule(db: &Db, w: NewWindow<'_>, now: i64) -> Result<i64, StorageError> {
    let txn = db.begin_write().await?;
    let id = insert(&*txn, &w, now).await?;
    updates::add(
        &*txn,
        NewUpdate {
            dependency_id: w.dependency_id,
            incident_id: None,
            maintenance_id: Some(id),
            status: UpdateStatus::MaintenanceScheduled,
            body: w.title,
            author_user_id: w.user_id,
            dedupe_key: format!("maintenance:{id}:scheduled"),
            at: now,
        },
    )
    .await?;
    audit::record(
        &*txn,
        now,
        audit::AuditEntry {
            actor_user_id: w.user_id,
            actor: &w
                .user_id
                .map_or("config".to_string(), |u| format!("user:{u}")),
            action: "maintenance.schedule",
            target_type: "maintenance_window",
            target_id: Some(id),
            detail: serde_json::json!({ "dependency": w.dependency_id, "starts_at": w.starts_at,
                "ends_at": w.ends_at, "title": w.title, "source": w.source }),
        },
    )
    .await?;
    txn.commit().await?;
    Ok(id)
}

async fn insert<C: ConnectionTrait>(
    conn: &C,
    w: &NewWindow<'_>,
    now: i64,
) -> Result<i64, StorageError> {
    let am = maintenance_windows::ActiveModel {
        id: NotSet,
        dependency_id: Set(w.dependency_id),
        starts_at: Set(w.starts_at),
        ends_at: Set(w.ends_at),
        title: Set(w.title.to_string()),
        source: Set(w.source.to_string()),
        created_by: Set(w.user_id),
        cancelled_at: Set(None),
        created_at: Set(now),
    };
    Ok(maintenance_windows::Entity::insert(am)
        .exec(conn)
        .await?
        .last_insert_id)
}

/// The configured windows, scheduled once each: a window from the configuration that is
/// already stored (same dependency, start and end) is left alone.
pub async fn sync_config(db: &Db, windows: &[NewWindow<'_>], now: i64) -> Result<(), StorageError> {
    for w in windows {
        let exists = maintenance_windows::Entity::find()
            .filter(maintenance_windows::Column::DependencyId.eq(w.dependency_id))
            .filter(maintenance_windows::Column::StartsAt.eq(w.starts_at))
            .filter(maintenance_windows::Column::EndsAt.eq(w.ends_at))
            .filter(maintenance_windows::Column::Source.eq("config"))
            .one(&db.conn)
            .await?
            .is_some();
        if !exists && w.ends_at > now {
            schedule(db, *w, now).await?;
        }
    }
    Ok(())
}

/// Windows not cancelled that end at or after `since`, soonest first.
pub async fn ending_after(
    db: &Db,
    since: i64,
) -> Result<Vec<maintenance_windows::Model>, StorageError> {
    Ok(maintenance_windows::Entity::find()
        .filter(maintenance_windows::Column::CancelledAt.is_null())
        .filter(maintenance_windows::Column::EndsAt.gte(since))
        .order_by_asc(maintenance_windows::Column::StartsAt)
        .all(&db.conn)
        .await?)
}

/// Whether a window of `dependency_id` is on at `at` (the engine asks when it opens an
/// incident, and records the answer in the incident's evidence).
pub async fn active_at<C: ConnectionTrait>(
    conn: &C,
    dependency_id: i64,
    at: i64,
) -> Result<bool, StorageError> {
    Ok(maintenance_windows::Entity::find()
        .filter(maintenance_windows::Column::DependencyId.eq(dependency_id))
        .filter(maintenance_windows::Column::CancelledAt.is_null())
        .filter(maintenance_windows::Column::StartsAt.lte(at))
        .filter(maintenance_windows::Column::EndsAt.gt(at))
        .one(conn)
        .await?
        .is_some())
}

/// Announces every window that has started (and not yet ended) with a "점검 시작" update,
/// once (dedupe key `maintenance:{id}:started`). Returns how many were announced now.
pub async fn announce_started(db: &Db, now: i64) -> Result<usize, StorageError> {
    let on = maintenance_windows::Entity::find()
        .filter(maintenance_windows::Column::CancelledAt.is_null())
        .filter(maintenance_windows::Column::StartsAt.lte(now))
        .filter(maintenance_windows::Column::EndsAt.gt(now))
        .all(&db.conn)
        .await?;
    let mut n = 0;
    for w in on {
        let u = NewUpdate {
            dependency_id: w.dependency_id,
            incident_id: None,
            maintenance_id: Some(w.id),
            status: UpdateStatus::MaintenanceStarted,
            body: &w.title,
            author_user_id: None,
            dedupe_key: format!("maintenance:{}:started", w.id),
            at: now,
        };
        n += usize::from(updates::add(&db.conn, u).await?.is_some());
    }
    Ok(n)
}

/// `[from, to)` minus every window of the dependency: the time uptime counts.
pub fn clip(windows: &[(i64, i64)], from: i64, to: i64) -> Vec<(i64, i64)> {
    let mut parts = vec![(from, to)];
    for &(ws, we) in windows {
        parts = parts
            .into_iter()
            .flat_map(|(a, b)| {
                let mut out = Vec::new();
                if ws >= b || we <= a {
                    out.push((a, b));
                } else {
                    if a < ws {
                        out.push((a, ws));
                    }
                    if we < b {
                        out.push((we, b));
                    }
                }
                out
            })
            .collect();
    }
    parts
}

#[cfg(test)]
mod tests {
    #[test]
    fn a_window_is_cut_out_of_an_outage() {
        assert_eq!(super::clip(&[(10, 20)], 0, 30), vec![(0, 10), (20, 30)]);
        assert_eq!(super::clip(&[(0, 40)], 5, 30), vec![]);
        assert_eq!(super::clip(&[(40, 50)], 0, 30), vec![(0, 30)]);
    }
}

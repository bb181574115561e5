//! Read models for the status page and `/status.json`.
use crate::entity::{dependencies, dependency_states, incidents};
use crate::error::StorageError;
use crate::{Db, catalog};
use sea_orm::{ColumnTrait, EntityTrait, QueryFilter, QueryOrder};
use std::collections::HashMap;

/// A dependency with its current state.
#[derive(Debug, Clone)]
pub struct DependencyStatus {
    pub dependency: dependencies::Model,
    pub state: String,
    pub since: i64,
}

pub async fn overview(db: &Db) -> Result<Vec<DependencyStatus>, StorageError> {
    let deps = catalog::list_dependencies(db).await?;
    let states: HashMap<i64, dependency_states::Model> = dependency_states::Entity::find()
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|s| (s.dependency_id, s))
        .collect();
    Ok(deps
        .into_iter()
        .map(|d| {
            let (state, since) = states
                .get(&d.id)
                .map(|s| (s.state.clone(), s.since))
                .unwrap_or_else(|| ("unknown".to_string(), d.created_at));
            DependencyStatus {
                dependency: d,
                state,
                since,
            }
        })
        .collect())
}

/// Incidents that started at or after `since` or are still open, newest first. A store
/// heartbeat's incidents are that merchant's alone and never listed here.
pub async fn incidents_since(db: &Db, since: i64) -> Result<Vec<incidents::Model>, StorageError> {
    Ok(incidents::Entity::find()
        .filter(crate::heartbeats::public_incidents())
        .filter(
            sea_orm::Condition::any()
                .add(incidents::Column::StartedAt.gte(since))
                .add(incidents::Column::ResolvedAt.is_null()),
        )
        .order_by_desc(incidents::Column::StartedAt)
        .all(&db.conn)
        .await?)
}

/// Down (and degraded) episodes for uptime: an incident that relapsed within its reopen window
/// is one record with several episodes, separated by its `recovered` / `relapsed` events. Each
/// episode comes back as a copy of the incident with its own start and end.
pub async fn episodes(
    db: &Db,
    list: &[incidents::Model],
) -> Result<Vec<incidents::Model>, StorageError> {
    use crate::entity::incident_events;
    let relapsed: Vec<i64> = list
        .iter()
        .filter(|i| i.relapse_count > 0)
        .map(|i| i.id)
        .collect();
    let mut events: HashMap<i64, Vec<incident_events::Model>> = HashMap::new();
    if !relapsed.is_empty() {
        for e in incident_events::Entity::find()
            .filter(incident_events::Column::IncidentId.is_in(relapsed))
            .filter(incident_events::Column::Kind.is_in(["recovered", "relapsed"]))
            .order_by_asc(incident_events::Column::At)
            .all(&db.conn)
            .await?
        {
            events.entry(e.incident_id).or_default().push(e);
        }
    }
    let mut out = Vec::with_capacity(list.len());
    for i in list {
        let Some(evs) = events.get(&i.id) else {
            out.push(i.clone());
            continue;
        };
        let mut start = Some(i.started_at);
        for e in evs {
            match (e.kind.as_str(), start) {
                ("recovered", Some(s)) => {
                    out.push(incidents::Model {
                        started_at: s,
                        resolved_at: Some(e.at),
                        ..i.clone()
                    });
                    start = None;
                }
                ("relapsed", None) => start = Some(e.at),
                _ => {}
            }
        }
        if let Some(s) = start {
            out.push(incidents::Model {
                started_at: s,
                resolved_at: i.resolved_at,
                ..i.clone()
            });
        }
    }
    Ok(out)
}

/// A cheap summary of everything the public status pages show: it changes whenever a
/// dependency is added or edited, a state changes, an incident opens, relapses or resolves,
/// an update is posted, a maintenance window is scheduled or an incident marked a false alarm
/// (one statement; the pages cache their rendering under it).
pub async fn fingerprint(db: &Db) -> Result<Vec<i64>, StorageError> {
    use sea_orm::ConnectionTrait;
    const COLS: [&str; 11] = ["a", "b", "c", "d", "e", "f", "g", "h", "i", "j", "k"];
    let st = crate::sql::stmt(
        db,
        "SELECT \
         (SELECT COUNT(*) FROM dependencies) AS a, \
         (SELECT CAST(COALESCE(MAX(updated_at), 0) AS BIGINT) FROM dependencies) AS b, \
         (SELECT COUNT(*) FROM dependency_states) AS c, \
         (SELECT CAST(COALESCE(SUM(version), 0) AS BIGINT) FROM dependency_states) AS d, \
         (SELECT CAST(COALESCE(MAX(updated_at), 0) AS BIGINT) FROM dependency_states) AS e, \
         (SELECT COUNT(*) FROM incidents) AS f, \
         (SELECT CAST(COALESCE(MAX(updated_at), 0) AS BIGINT) FROM incidents) AS g, \
         (SELECT CAST(COALESCE(SUM(relapse_count), 0) + COUNT(resolved_at) AS BIGINT) FROM incidents) AS h, \
         (SELECT CAST(COALESCE(MAX(id), 0) AS BIGINT) FROM incident_updates) AS i, \
         (SELECT CAST(COALESCE(MAX(id), 0) + COUNT(cancelled_at) AS BIGINT) FROM maintenance_windows) AS j, \
         (SELECT CAST(COUNT(false_alarm_at) AS BIGINT) FROM incident_marks) AS k",
        vec![],
    );
    let row = db
        .conn
        .query_one_raw(st)
        .await?
        .ok_or_else(|| StorageError::Data("the status fingerprint returned no row".into()))?;
    COLS.iter()
        .map(|c| Ok(row.try_get::<i64>("", c)?))
        .collect()
}

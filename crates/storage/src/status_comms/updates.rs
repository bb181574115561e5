//! Incident updates: one row per thing said about an incident or a maintenance window, by an
//! operator (조사 중 / 원인 확인 / 모니터링 / 복구) or by the service itself (opened, resolved,
//! maintenance scheduled or started). Rows are only ever added; the id orders them.
use crate::entity::incident_updates;
use crate::error::{StorageError, is_unique_violation};
use crate::{Db, heartbeats};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder,
    QuerySelect, Set,
};

/// What an update says about its incident (or window).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum UpdateStatus {
    Investigating,
    Identified,
    Monitoring,
    Resolved,
    FalseAlarm,
    MaintenanceScheduled,
    MaintenanceStarted,
}

impl UpdateStatus {
    pub const OPERATOR: [UpdateStatus; 4] = [
        UpdateStatus::Investigating,
        UpdateStatus::Identified,
        UpdateStatus::Monitoring,
        UpdateStatus::Resolved,
    ];

    pub fn as_str(self) -> &'static str {
        use UpdateStatus::*;
        match self {
            Investigating => "investigating",
            Identified => "identified",
            Monitoring => "monitoring",
            Resolved => "resolved",
            FalseAlarm => "false_alarm",
            MaintenanceScheduled => "maintenance_scheduled",
            MaintenanceStarted => "maintenance_started",
        }
    }

    pub fn parse(s: &str) -> Option<UpdateStatus> {
        use UpdateStatus::*;
        [
            Investigating,
            Identified,
            Monitoring,
            Resolved,
            FalseAlarm,
            MaintenanceScheduled,
            MaintenanceStarted,
        ]
        .into_iter()
        .find(|u| u.as_str() == s)
    }

    /// (Korean, English) as pages and messages name it.
    pub fn words(self) -> (&'static str, &'static str) {
        use UpdateStatus::*;
        match self {
            Investigating => ("조사 중", "Investigating"),
            Identified => ("원인 확인", "Identified"),
            Monitoring => ("모니터링", "Monitoring"),
            Resolved => ("복구", "Resolved"),
            FalseAlarm => ("오경보 정정", "False alarm"),
            MaintenanceScheduled => ("점검 예정", "Maintenance scheduled"),
            MaintenanceStarted => ("점검 시작", "Maintenance started"),
        }
    }
}

pub struct NewUpdate<'a> {
    pub dependency_id: i64,
    pub incident_id: Option<i64>,
    pub maintenance_id: Option<i64>,
    pub status: UpdateStatus,
    pub body: &'a str,
    pub author_user_id: Option<i64>,
    pub dedupe_key: String,
    pub at: i64,
}

/// Adds an update; `None` when one with the same dedupe key exists already.
pub async fn add<C: ConnectionTrait>(
    conn: &C,
    u: NewUpdate<'_>,
) -> Result<Option<i64>, StorageError> {
    let am = incident_updates::ActiveModel {
        id: NotSet,
        dependency_id: Set(u.dependency_id),
        incident_id: Set(u.incident_id),
        maintenance_id: Set(u.maintenance_id),
        status: Set(u.status.as_str().to_string()),
        body: Set(u.body.to_string()),
        author_user_id: Set(u.author_user_id),
        dedupe_key: Set(u.dedupe_key),
        created_at: Set(u.at),
    };
    match incident_updates::Entity::insert(am).exec(conn).await {
        Ok(r) => Ok(Some(r.last_insert_id)),
        Err(e) if is_unique_violation(&e) => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// The updates of these incidents, oldest first.
pub async fn of_incidents(
    db: &Db,
    ids: &[i64],
) -> Result<Vec<incident_updates::Model>, StorageError> {
    if ids.is_empty() {
        return Ok(Vec::new());
    }
    Ok(incident_updates::Entity::find()
        .filter(incident_updates::Column::IncidentId.is_in(ids.iter().copied()))
        .order_by_asc(incident_updates::Column::Id)
        .all(&db.conn)
        .await?)
}

/// Updates with an id above `after`, oldest first, at most `limit`.
pub async fn after(
    db: &Db,
    after: i64,
    limit: u64,
) -> Result<Vec<incident_updates::Model>, StorageError> {
    Ok(incident_updates::Entity::find()
        .filter(incident_updates::Column::Id.gt(after))
        .order_by_asc(incident_updates::Column::Id)
        .limit(limit)
        .all(&db.conn)
        .await?)
}

/// The newest update's id (0 when none).
pub async fn newest_id(db: &Db) -> Result<i64, StorageError> {
    Ok(incident_updates::Entity::find()
        .order_by_desc(incident_updates::Column::Id)
        .one(&db.conn)
        .await?
        .map_or(0, |u| u.id))
}

/// The automatic updates of probe-detected incidents: "조사 중" when one opens and "복구"
/// when it resolves, so subscribers hear of incidents nobody posted about. Idempotent
/// (dedupe keys `open:{id}` and `resolved:{id}`); a hand resolution uses the same key.
/// Incidents marked false alarm get no automatic "resolved" (their correction says it).
pub async fn sync_automatic(db: &Db, since: i64, now: i64) -> Result<usize, StorageError> {
    use crate::entity::incidents;
    let list = incidents::Entity::find()
        .filter(heartbeats::public_incidents())
        .filter(
            sea_orm::Condition::any()
                .add(incidents::Column::ResolvedAt.is_null())
                .add(incidents::Column::ResolvedAt.gte(since)),
        )
        .all(&db.conn)
        .await?;
    let ids: Vec<i64> = list.iter().map(|i| i.id).collect();
    let marks = super::marks::of(db, &ids).await?;
    let mut added = 0;
    for i in &list {
        let false_alarm = marks.get(&i.id).is_some_and(|m| m.false_alarm_at.is_some());
        let opened = NewUpdate {
            dependency_id: i.dependency_id,
            incident_id: Some(i.id),
            maintenance_id: None,
            status: UpdateStatus::Investigating,
            body: "",
            author_user_id: None,
            dedupe_key: format!("open:{}", i.id),
            at: i.confirmed_at.min(now),
        };
        if !false_alarm && i.started_at >= since - 24 * 3600 * 1000 {
            added += usize::from(add(&db.conn, opened).await?.is_some());
        }
        if let Some(r) = i.resolved_at.filter(|_| !false_alarm) {
            let resolved = NewUpdate {
                dependency_id: i.dependency_id,
                incident_id: Some(i.id),
                maintenance_id: None,
                status: UpdateStatus::Resolved,
                body: "",
                author_user_id: None,
                dedupe_key: format!("resolved:{}", i.id),
                at: r.max(i.confirmed_at),
            };
            added += usize::from(add(&db.conn, resolved).await?.is_some());
        }
    }
    Ok(added)
}

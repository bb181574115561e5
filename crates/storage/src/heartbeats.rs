//! Store heartbeats: a merchant's POS or router pings a secret URL every period; silence past
//! period + grace is an incident for that merchant alone.
//!
//! The incident hangs on a per-merchant pseudo-dependency `store-internet-<merchant id>`
//! (source `merchant`, category `network`, `owner_merchant_id` set, `enabled = false`):
//! disabled keeps it out of every catalog list, the probe loop and the public status page,
//! and its incidents are left out of the public incident lists. Every transition is a
//! conditional update on the monitor's row, so replicas racing on the same monitor open one
//! incident and resolve it once.
use crate::entity::{dependencies, heartbeat_monitors, incidents as incident_entity};
use crate::error::{StorageError, is_unique_violation};
use crate::{Db, incidents};
use sea_orm::sea_query::{Expr, ExprTrait, Query};
use sea_orm::{ActiveValue::NotSet, ColumnTrait, EntityTrait, QueryFilter, QueryOrder, Set};

/// Slug prefix of the per-merchant store-internet pseudo-dependencies.
pub const STORE_DEPENDENCY_PREFIX: &str = "store-internet-";
/// How the pseudo-dependency is named in notices and pages.
pub const STORE_DEPENDENCY_NAME: &str = "매장 인터넷";
pub const STORE_DEPENDENCY_NAME_EN: &str = "Store internet";

/// What a ping did.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pinged {
    pub monitor_id: i64,
    pub merchant_id: i64,
    /// The monitor was down: this ping ended its incident.
    pub came_back: bool,
}

/// Records a ping of the monitor whose token hashes to one of `hashes` (several while a key
/// rotation is under way). `None` when no monitor has that token. A ping of a `down` monitor
/// resolves its incident at the ping's time (the first sign of life); the store-back notice
/// is the sweeper's job.
pub async fn ping(db: &Db, hashes: &[String], now: i64) -> Result<Option<Pinged>, StorageError> {
    for _attempt in 0..3 {
        let Some(m) = heartbeat_monitors::Entity::find()
            .filter(heartbeat_monitors::Column::TokenHash.is_in(hashes.to_vec()))
            .one(&db.conn)
            .await?
        else {
            return Ok(None);
        };
        let pinged = |came_back| {
            Some(Pinged {
                monitor_id: m.id,
                merchant_id: m.merchant_id,
                came_back,
            })
        };
        if m.state == "down" {
            let txn = db.begin_write().await?;
            let res = heartbeat_monitors::Entity::update_many()
                .col_expr(heartbeat_monitors::Column::State, Expr::value("up"))
                .col_expr(
                    heartbeat_monitors::Column::LastPingAt,
                    Expr::value(Some(now)),
                )
                .filter(heartbeat_monitors::Column::Id.eq(m.id))
                .filter(heartbeat_monitors::Column::State.eq("down"))
                .exec(&txn)
                .await?;
            if res.rows_affected == 1 {
                if let Some(incident_id) = m.open_incident_id {
                    incidents::resolve(&txn, incident_id, now, now).await?;
                    incidents::add_event(
                        &txn,
                        incident_id,
                        now,
                        "recovered",
                        None,
                        None,
                        &serde_json::json!({"first_ping": now}),
                    )
                    .await?;
                }
                txn.commit().await?;
                return Ok(pinged(true));
            }
            txn.rollback().await?;
            continue; // another ping brought it back first; look again
        }
        let res = heartbeat_monitors::Entity::update_many()
            .col_expr(heartbeat_monitors::Column::State, Expr::value("up"))
            .col_expr(
                heartbeat_monitors::Column::LastPingAt,
                Expr::value(Some(now)),
            )
            .filter(heartbeat_monitors::Column::Id.eq(m.id))
            .filter(heartbeat_monitors::Column::State.ne("down"))
            .exec(&db.conn)
            .await?;
        if res.rows_affected == 1 {
            return Ok(pinged(false));
        }
        // It went down between the read and the write: bring it back.
    }
    Err(StorageError::Conflict(
        "heartbeat monitor kept changing under us".into(),
    ))
}

/// Monitors that are up, have no incident pending, and were silent past period + grace
/// while we could hear them: both the last ping and `listening_since` (the start of our own
/// current uninterrupted listening, see `meoktong_domain::listening`) are more than
/// period + grace before `now`. A monitor that never pinged is `new`, not overdue: nobody set
/// it up yet.
pub async fn overdue(
    db: &Db,
    now: i64,
    listening_since: i64,
) -> Result<Vec<heartbeat_monitors::Model>, StorageError> {
    let period_and_grace = || {
        Expr::col(heartbeat_monitors::Column::PeriodMs)
            .add(Expr::col(heartbeat_monitors::Column::GraceMs))
    };
    let deadline = Expr::col(heartbeat_monitors::Column::LastPingAt).add(period_and_grace());
    Ok(heartbeat_monitors::Entity::find()
        .filter(heartbeat_monitors::Column::State.eq("up"))
        .filter(heartbeat_monitors::Column::OpenIncidentId.is_null())
        .filter(heartbeat_monitors::Column::LastPingAt.is_not_null())
        .filter(deadline.lt(now))
        .filter(period_and_grace().lt(now.saturating_sub(listening_since)))
        .order_by_asc(heartbeat_monitors::Column::Id)
        .all(&db.conn)
        .await?)
}

/// Monitors with an incident whose notices may still be due: `down` ones (offline notice)
/// and `up` ones that came back (back notice, then the incident is let go).
pub async fn with_open_incident(db: &Db) -> Result<Vec<heartbeat_monitors::Model>, StorageError> {
    Ok(heartbeat_monitors::Entity::find()
        .filter(heartbeat_monitors::Column::OpenIncidentId.is_not_null())
        .order_by_asc(heartbeat_monitors::Column::Id)
        .all(&db.conn)
        .await?)
}

/// The merchant's store-internet pseudo-dependency, created on first use.
pub async fn store_dependency(
    db: &Db,
    merchant_id: i64,
    now: i64,
) -> Result<dependencies::Model, StorageError> {
    let slug = format!("{STORE_DEPENDENCY_PREFIX}{merchant_id}");
    let find = || {
        dependencies::Entity::find()
            .filter(dependencies::Column::Slug.eq(slug.clone()))
            .one(&db.conn)
    };
    if let Some(d) = find().await? {
        return Ok(d);
    }
    let am = dependencies::ActiveModel {
        id: NotSet,
        slug: Set(slug.clone()),
        name: Set(STORE_DEPENDENCY_NAME.into()),
        name_en: Set(Some(STORE_DEPENDENCY_NAME_EN.into())),
        category: Set("network".into()),
        platform: Set(None),
        description: Set(Some("store heartbeat (not probed, not public)".into())),
        source: Set("merchant".into()),
        owner_merchant_id: Set(Some(merchant_id)),
        enabled: Set(false),
        created_at: Set(now),
        updated_at: Set(now),
    };
    match dependencies::Entity::insert(am).exec(&db.conn).await {
        Ok(_) => {}
        Err(e) if is_unique_violation(&e) => {}
        Err(e) => return Err(e.into()),
    }
    find()
        .await?
        .ok_or_else(|| StorageError::NotFound(format!("dependency {slug}")))
}

/// Marks a silent monitor down and opens its incident (started at the last ping), in one
/// transaction. `None` when the monitor changed meanwhile (a ping arrived, or another
/// replica got there first).
pub async fn mark_down(
    db: &Db,
    m: &heartbeat_monitors::Model,
    dependency_id: i64,
    now: i64,
) -> Result<Option<incident_entity::Model>, StorageError> {
    let Some(last_ping) = m.last_ping_at else {
        return Ok(None);
    };
    let txn = db.begin_write().await?;
    let res = heartbeat_monitors::Entity::update_many()
        .col_expr(heartbeat_monitors::Column::State, Expr::value("down"))
        .filter(heartbeat_monitors::Column::Id.eq(m.id))
        .filter(heartbeat_monitors::Column::State.eq("up"))
        .filter(heartbeat_monitors::Column::OpenIncidentId.is_null())
        .filter(heartbeat_monitors::Column::LastPingAt.eq(last_ping))
        .exec(&txn)
        .await?;
    if res.rows_affected != 1 {
        txn.rollback().await?;
        return Ok(None);
    }
    let evidence = serde_json::json!({
        "failing_checks": ["heartbeat"],
        "locations": [],
        "sample": {
            "check": "heartbeat",
            "monitor": m.name,
            "at": last_ping,
            "outcome": "fail",
            "error": format!("no ping for {} s (period {} s + grace {} s)", (now - last_ping) / 1000, m.period_ms / 1000, m.grace_ms / 1000),
        }
    });
    // Two monitors of one merchant silent since the same instant share the incident.
    let existing = incident_entity::Entity::find()
        .filter(incident_entity::Column::DependencyId.eq(dependency_id))
        .filter(incident_entity::Column::Severity.eq("down"))
        .filter(incident_entity::Column::StartedAt.eq(last_ping))
        .one(&txn)
        .await?;
    let id = match existing {
        Some(i) => i.id,
        None => incidents::open(&txn, dependency_id, "down", last_ping, now, &evidence).await?,
    };
    incidents::add_event(
        &txn,
        id,
        last_ping,
        "last_heartbeat",
        None,
        None,
        &serde_json::json!({"monitor": m.name}),
    )
    .await?;
    incidents::add_event(
        &txn,
        id,
        now,
        "confirmed_down",
        None,
        None,
        &evidence["sample"],
    )
    .await?;
    heartbeat_monitors::Entity::update_many()
        .col_expr(
            heartbeat_monitors::Column::OpenIncidentId,
            Expr::value(Some(id)),
        )
        .filter(heartbeat_monitors::Column::Id.eq(m.id))
        .exec(&txn)
        .await?;
    let incident = incident_entity::Entity::find_by_id(id).one(&txn).await?;
    txn.commit().await?;
    Ok(incident)
}

/// Lets go of a monitor's incident once its back notice is written (only if it is still the
/// same incident and the monitor is up).
pub async fn release_incident(
    db: &Db,
    monitor_id: i64,
    incident_id: i64,
) -> Result<bool, StorageError> {
    let res = heartbeat_monitors::Entity::update_many()
        .col_expr(
            heartbeat_monitors::Column::OpenIncidentId,
            Expr::value(Option::<i64>::None),
        )
        .filter(heartbeat_monitors::Column::Id.eq(monitor_id))
        .filter(heartbeat_monitors::Column::OpenIncidentId.eq(incident_id))
        .filter(heartbeat_monitors::Column::State.eq("up"))
        .exec(&db.conn)
        .await?;
    Ok(res.rows_affected == 1)
}

/// A filter for incident queries: leaves out incidents of dependencies that belong to one
/// merchant (store heartbeats), which are never public.
pub fn public_incidents() -> sea_orm::Condition {
    let private = Query::select()
        .column(dependencies::Column::Id)
        .from(dependencies::Entity)
        .and_where(dependencies::Column::OwnerMerchantId.is_not_null())
        .to_owned();
    sea_orm::Condition::all().add(incident_entity::Column::DependencyId.not_in_subquery(private))
}

//! Dependencies and their checks: synchronised from configuration and presets at start-up.
use crate::entity::{checks, dependencies, dependency_states, subscriptions};
use crate::error::StorageError;
use crate::{Db, now_ms};
use meoktong_config::{CheckSettings, DependencySettings};
use sea_orm::{
    ActiveValue::NotSet, ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter, QueryOrder, Set,
};

/// Inserts or updates every dependency and check named in `deps` (source `config` or `preset`).
/// Checks of those dependencies that are no longer configured are disabled, never deleted
/// (their results are evidence).
pub async fn sync_dependencies(
    db: &Db,
    deps: &[DependencySettings],
    source: &str,
) -> Result<(), StorageError> {
    let now = now_ms();
    let txn = db.begin_write().await?;
    for dep in deps {
        let existing = dependencies::Entity::find()
            .filter(dependencies::Column::Slug.eq(&dep.slug))
            .one(&txn)
            .await?;
        let dep_id = match existing {
            Some(row) => {
                let mut am: dependencies::ActiveModel = row.clone().into();
                am.name = Set(dep.name.clone());
                am.name_en = Set(dep.name_en.clone());
                am.category = Set(dep.category.as_str().to_string());
                am.platform = Set(dep.platform.clone());
                am.description = Set(dep.description.clone());
                am.enabled = Set(true);
                am.updated_at = Set(now);
                dependencies::Entity::update(am).exec(&txn).await?;
                row.id
            }
            None => {
                let am = dependencies::ActiveModel {
                    id: NotSet,
                    slug: Set(dep.slug.clone()),
                    name: Set(dep.name.clone()),
                    name_en: Set(dep.name_en.clone()),
                    category: Set(dep.category.as_str().to_string()),
                    platform: Set(dep.platform.clone()),
                    description: Set(dep.description.clone()),
                    source: Set(source.to_string()),
                    owner_merchant_id: Set(None),
                    enabled: Set(true),
                    created_at: Set(now),
                    updated_at: Set(now),
                };
                dependencies::Entity::insert(am)
                    .exec(&txn)
                    .await?
                    .last_insert_id
            }
        };
        let existing_checks = checks::Entity::find()
            .filter(checks::Column::DependencyId.eq(dep_id))
            .all(&txn)
            .await?;
        for check in &dep.check {
            let spec =
                serde_json::to_string(check).map_err(|e| StorageError::Data(e.to_string()))?;
            let interval_ms = check.interval.map(|d| d.as_millis() as i64);
            let timeout_ms = check
                .timeout
                .unwrap_or(CheckSettings::DEFAULT_TIMEOUT)
                .as_millis() as i64;
            match existing_checks.iter().find(|c| c.name == check.name) {
                Some(row) => {
                    let mut am: checks::ActiveModel = row.clone().into();
                    am.kind = Set(kind_str(check));
                    am.spec = Set(spec);
                    am.interval_ms = Set(interval_ms.or(if check.schedule.is_none() {
                        Some(CheckSettings::DEFAULT_INTERVAL.as_millis() as i64)
                    } else {
                        None
                    }));
                    am.schedule = Set(check.schedule.clone());
                    am.timeout_ms = Set(timeout_ms);
                    am.enabled = Set(true);
                    am.updated_at = Set(now);
                    checks::Entity::update(am).exec(&txn).await?;
                }
                None => {
                    let am = checks::ActiveModel {
                        id: NotSet,
                        dependency_id: Set(dep_id),
                        name: Set(check.name.clone()),
                        kind: Set(kind_str(check)),
                        spec: Set(spec),
                        interval_ms: Set(interval_ms.or(if check.schedule.is_none() {
                            Some(CheckSettings::DEFAULT_INTERVAL.as_millis() as i64)
                        } else {
                            None
                        })),
                        schedule: Set(check.schedule.clone()),
                        timeout_ms: Set(timeout_ms),
                        enabled: Set(true),
                        created_at: Set(now),
                        updated_at: Set(now),
                    };
                    checks::Entity::insert(am).exec(&txn).await?;
                }
            }
        }
        for stale in existing_checks
            .iter()
            .filter(|c| c.enabled && !dep.check.iter().any(|k| k.name == c.name))
        {
            let mut am: checks::ActiveModel = stale.clone().into();
            am.enabled = Set(false);
            am.updated_at = Set(now);
            checks::Entity::update(am).exec(&txn).await?;
        }
        // Every dependency has a state row from the start (unknown), so readers need no join.
        let state = dependency_states::ActiveModel {
            id: NotSet,
            dependency_id: Set(dep_id),
            state: Set("unknown".into()),
            since: Set(now),
            tracker: Set("{}".into()),
            open_incident_id: Set(None),
            version: Set(0),
            updated_at: Set(now),
        };
        dependency_states::Entity::insert(state)
            .on_conflict_do_nothing_on([dependency_states::Column::DependencyId])
            .exec(&txn)
            .await?;
    }
    txn.commit().await?;
    Ok(())
}

fn kind_str(check: &CheckSettings) -> String {
    serde_json::to_value(check.kind)
        .ok()
        .and_then(|v| v.as_str().map(str::to_string))
        .unwrap_or_else(|| "http".into())
}

/// Every enabled dependency, by slug.
pub async fn list_dependencies(db: &Db) -> Result<Vec<dependencies::Model>, StorageError> {
    Ok(dependencies::Entity::find()
        .filter(dependencies::Column::Enabled.eq(true))
        .order_by_asc(dependencies::Column::Slug)
        .all(&db.conn)
        .await?)
}

pub async fn dependency_by_slug(
    db: &Db,
    slug: &str,
) -> Result<Option<dependencies::Model>, StorageError> {
    Ok(dependencies::Entity::find()
        .filter(dependencies::Column::Slug.eq(slug))
        .one(&db.conn)
        .await?)
}

/// Every enabled check with its dependency.
pub async fn enabled_checks(
    db: &Db,
) -> Result<Vec<(checks::Model, dependencies::Model)>, StorageError> {
    let deps: std::collections::HashMap<i64, dependencies::Model> = list_dependencies(db)
        .await?
        .into_iter()
        .map(|d| (d.id, d))
        .collect();
    let rows = checks::Entity::find()
        .filter(checks::Column::Enabled.eq(true))
        .all(&db.conn)
        .await?;
    Ok(rows
        .into_iter()
        .filter_map(|c| deps.get(&c.dependency_id).map(|d| (c, d.clone())))
        .collect())
}

/// Up to `limit` enabled checks with ids above `after`, in id order: a probe loop reads 100,000
/// checks a page at a time, so their rows never sit in memory all at once.
pub async fn enabled_checks_after(
    db: &Db,
    after: i64,
    limit: u64,
) -> Result<Vec<checks::Model>, StorageError> {
    use sea_orm::{QueryOrder, QuerySelect};
    Ok(checks::Entity::find()
        .filter(checks::Column::Enabled.eq(true))
        .filter(checks::Column::Id.gt(after))
        .order_by_asc(checks::Column::Id)
        .limit(limit)
        .all(&db.conn)
        .await?)
}

/// A cheap fingerprint of the enabled checks and dependencies: it changes whenever a check or
/// dependency is added, removed, enabled, disabled or edited (every write sets `updated_at`),
/// so a probe loop re-reads the whole catalog only when there is something new.
pub async fn checks_fingerprint(db: &Db) -> Result<Vec<i64>, StorageError> {
    let mut out = Vec::with_capacity(8);
    for table in ["checks", "dependencies"] {
        let st = crate::sql::stmt(
            db,
            &format!(
                "SELECT COUNT(*) AS n, CAST(COALESCE(MAX(updated_at), 0) AS BIGINT) AS changed, \
                 CAST(COALESCE(SUM(id), 0) AS BIGINT) AS ids, \
                 CAST(COALESCE(SUM(CASE WHEN enabled THEN id ELSE 0 END), 0) AS BIGINT) AS enabled_ids \
                 FROM {table}"
            ),
            vec![],
        );
        if let Some(row) = db.conn.query_one_raw(st).await? {
            for col in ["n", "changed", "ids", "enabled_ids"] {
                out.push(row.try_get::<i64>("", col)?);
            }
        }
    }
    Ok(out)
}

/// Subscribers of one dependency (merchant ids).
pub async fn subscribers(
    db: &Db,
    dependency_id: i64,
) -> Result<Vec<subscriptions::Model>, StorageError> {
    Ok(subscriptions::Entity::find()
        .filter(subscriptions::Column::DependencyId.eq(dependency_id))
        .all(&db.conn)
        .await?)
}

/// The dependencies with these ids, by id.
pub async fn dependencies_by_ids(
    db: &Db,
    ids: &[i64],
) -> Result<std::collections::HashMap<i64, dependencies::Model>, StorageError> {
    Ok(dependencies::Entity::find()
        .filter(dependencies::Column::Id.is_in(ids.to_vec()))
        .all(&db.conn)
        .await?
        .into_iter()
        .map(|d| (d.id, d))
        .collect())
}

/// About `rows` subscriptions to `dep_ids` of the merchants after `after`, in merchant order,
/// with every subscription of each merchant returned (a merchant is never split across
/// pages), and whether more may follow. The notification planner walks subscribers with it.
pub async fn subscription_page(
    db: &Db,
    dep_ids: &[i64],
    after: i64,
    rows: usize,
) -> Result<(Vec<subscriptions::Model>, bool), StorageError> {
    use sea_orm::{ConnectionTrait, FromQueryResult, TransactionTrait};
    // A merchant has one subscription per dependency at most, so a page longer than the
    // dependencies always holds one whole merchant.
    let limit = rows.max(dep_ids.len() + 1);
    // `+dependency_id`: not an index term, so SQLite (which has no statistics) walks
    // ux_subscriptions (merchant_id, dependency_id) in ORDER BY order from `after` and stops
    // at the LIMIT, rather than reading every subscription of the dependency and sorting them
    // for every page.
    let ids = dep_ids
        .iter()
        .map(i64::to_string)
        .collect::<Vec<_>>()
        .join(",");
    let q = format!(
        "SELECT * FROM subscriptions WHERE merchant_id > $1 AND +dependency_id IN ({ids}) \
         ORDER BY merchant_id, dependency_id LIMIT $2"
    );
    let st = crate::sql::stmt(db, &q, vec![after.into(), (limit as i64).into()]);
    let mut subs = if db.backend == crate::Backend::Postgres {
        // PostgreSQL's estimate for the `+dependency_id` filter is a guess (0.5 %), so it
        // read every remaining subscription and sorted them for each page (20–40 ms a page at
        // 100,000). Sorting is made the last resort for this query: it walks the index.
        let txn = db.conn.begin().await?;
        txn.execute_unprepared("SET LOCAL enable_sort = off")
            .await?;
        let subs = subscriptions::Model::find_by_statement(st)
            .all(&txn)
            .await?;
        txn.commit().await?;
        subs
    } else {
        subscriptions::Model::find_by_statement(st)
            .all(&db.conn)
            .await?
    };
    let more = subs.len() == limit;
    if more && let Some(last) = subs.last().map(|s| s.merchant_id) {
        // The last merchant's subscriptions may continue on the next page: leave them to it.
        subs.retain(|s| s.merchant_id != last);
    }
    Ok((subs, more))
}

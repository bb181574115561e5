//! Small in-process caches for what every visitor shares: the public status pages (rendered
//! once per change of the data under them, and at most every few seconds for the durations
//! that grow with time) and the dependencies' latency series behind the dashboard sparklines.
//!
//! Each entry carries the version of the data it was made from (a database fingerprint) and
//! the time it was made; it is served only while both still hold. Times are passed in, so the
//! rules are tested without waiting.
use std::collections::HashMap;
use std::sync::{Arc, Mutex};

/// Entries kept per cache before it is emptied (keys are page × language × dependency, so a
/// real service stays far below this; the bound only stops a flood of odd keys).
const MAX_ENTRIES: usize = 1_000;

/// How long a status page may be reused while nothing under it changed: only the open
/// incidents' running durations and the uptime of the current day grow meanwhile.
pub const STATUS_TTL_MS: i64 = 5_000;
/// How long a dependency's latency series (hourly means of the last day) is reused.
pub const LATENCY_TTL_MS: i64 = 60_000;

struct Entry<V> {
    version: Vec<i64>,
    made_at: i64,
    value: V,
}

/// Values by key, each valid for one data version and a time to live.
pub struct VersionedCache<V> {
    entries: Mutex<HashMap<String, Entry<V>>>,
}

impl<V> Default for VersionedCache<V> {
    fn default() -> Self {
        VersionedCache {
            entries: Mutex::new(HashMap::new()),
        }
    }
}

impl<V: Clone> VersionedCache<V> {
    /// The value stored under `key`, if it was made from `version` less than `ttl_ms` before
    /// `now`.
    pub fn get(&self, key: &str, version: &[i64], now: i64, ttl_ms: i64) -> Option<V> {
        let entries = self.entries.lock().ok()?;
        let e = entries.get(key)?;
        (e.version == version && now >= e.made_at && now - e.made_at < ttl_ms)
            .then(|| e.value.clone())
    }

    pub fn put(&self, key: String, version: Vec<i64>, now: i64, value: V) {
        if let Ok(mut entries) = self.entries.lock() {
            if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
                entries.clear();
            }
            entries.insert(
                key,
                Entry {
                    version,
                    made_at: now,
                    value,
                },
            );
        }
    }
}

/// The caches of one running app (shared by its handlers through `AppState`).
#[derive(Clone, Default)]
pub struct Caches {
    /// Rendered public pages: `/status`, `/status/{slug}`, `/status.json`, by language.
    pub pages: Arc<VersionedCache<Arc<String>>>,
    /// Latency series by dependency id (milliseconds, oldest first).
    pub latency: Arc<VersionedCache<Arc<Vec<f64>>>>,
    /// Every dependency with its state, as of a status fingerprint.
    pub overview: Arc<VersionedCache<Arc<Vec<meoktong_storage::status::DependencyStatus>>>>,
}

/// Every dependency with its current state ([`meoktong_storage::status::overview`]), read
/// again only when the status fingerprint changed: one small query instead of two per page.
pub async fn overview(
    state: &crate::AppState,
    now: i64,
) -> Result<Arc<Vec<meoktong_storage::status::DependencyStatus>>, meoktong_storage::StorageError> {
    let version = meoktong_storage::status::fingerprint(&state.db).await?;
    if let Some(all) = state
        .caches
        .overview
        .get("all", &version, now, STATUS_TTL_MS)
    {
        return Ok(all);
    }
    let all = Arc::new(meoktong_storage::status::overview(&state.db).await?);
    state
        .caches
        .overview
        .put("all".into(), version, now, all.clone());
    Ok(all)
}

/// Each dependency's latency series for the sparklines (hourly means of the last day, raw
/// results where the rollups are thin), reused for [`LATENCY_TTL_MS`]: every merchant of a
/// dependency sees the same line, so it is read once a minute rather than once a page view.
pub async fn latency_series(
    state: &crate::AppState,
    dependency_ids: &[i64],
    now: i64,
) -> Result<HashMap<i64, Arc<Vec<f64>>>, meoktong_storage::StorageError> {
    const DAY_MS: i64 = 24 * 3600 * 1000;
    let cache = &state.caches.latency;
    let mut out = HashMap::with_capacity(dependency_ids.len());
    let mut missing = Vec::new();
    for id in dependency_ids {
        match cache.get(&id.to_string(), &[], now, LATENCY_TTL_MS) {
            Some(pts) => {
                out.insert(*id, pts);
            }
            None => missing.push(*id),
        }
    }
    if !missing.is_empty() {
        let mut read = meoktong_storage::dashboard::latency_series(
            &state.db,
            &missing,
            now - DAY_MS,
            now - 2 * 3600 * 1000,
        )
        .await?;
        for id in missing {
            let pts = Arc::new(read.remove(&id).unwrap_or_default());
            cache.put(id.to_string(), Vec::new(), now, pts.clone());
            out.insert(id, pts);
        }
    }
    Ok(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn served_while_the_data_and_the_time_to_live_hold() {
        let c: VersionedCache<&str> = VersionedCache::default();
        assert_eq!(c.get("/status|ko", &[1, 2], 1_000, 5_000), None);
        c.put("/status|ko".into(), vec![1, 2], 1_000, "page v1");
        assert_eq!(c.get("/status|ko", &[1, 2], 5_999, 5_000), Some("page v1"));
        assert_eq!(c.get("/status|en", &[1, 2], 2_000, 5_000), None, "per key");
        assert_eq!(
            c.get("/status|ko", &[1, 3], 2_000, 5_000),
            None,
            "a state changed: made again at once"
        );
        assert_eq!(
            c.get("/status|ko", &[1, 2], 6_000, 5_000),
            None,
            "too old: durations have grown"
        );
        assert_eq!(
            c.get("/status|ko", &[1, 2], 999, 5_000),
            None,
            "a clock that went back"
        );
        c.put("/status|ko".into(), vec![1, 3], 6_000, "page v2");
        assert_eq!(c.get("/status|ko", &[1, 3], 6_001, 5_000), Some("page v2"));
    }

    #[test]
    fn a_flood_of_keys_is_bounded() {
        let c: VersionedCache<usize> = VersionedCache::default();
        for i in 0..(MAX_ENTRIES + 10) {
            c.put(format!("k{i}"), vec![], 0, i);
        }
        let n = c.entries.lock().map(|e| e.len()).unwrap_or(0);
        assert!(n <= MAX_ENTRIES, "{n} entries");
        assert_eq!(
            c.get(&format!("k{}", MAX_ENTRIES + 9), &[], 1, 10),
            Some(MAX_ENTRIES + 9)
        );
    }
}

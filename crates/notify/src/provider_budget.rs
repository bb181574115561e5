//! Each SMS provider route's send budget (`rate_per_second`) and health (failover), per
//! deployment: on PostgreSQL shared by every replica through `provider_states`, so N replicas
//! send at the provider's rate, not N times it, and all of them fail over together; on SQLite
//! (one process) kept in memory.
//!
//! The budget is a GCRA without burst: each reservation of `n` messages moves the route's
//! "next free" time forward by `n / rate` seconds from `max(next free, now)`, and the caller
//! sends when its reservation starts. Health reads are cached for [`HEALTH_CACHE_MS`]; writes
//! go through at once.
use meoktong_storage::{Backend, Db, StorageError, provider_states};
use std::collections::HashMap;
use std::sync::Mutex;
use std::time::Duration;

/// How long a read of the shared health is reused.
const HEALTH_CACHE_MS: i64 = 500;

#[derive(Debug, Clone, Copy, Default)]
struct LocalState {
    next_free_us: i64,
    failing_since: Option<i64>,
    last_try: i64,
}

pub struct ProviderBudget {
    /// `Some` on PostgreSQL: shared through the database.
    shared: Option<Db>,
    local: Mutex<HashMap<String, LocalState>>,
    /// The last read of the shared health, and when.
    cache: Mutex<(i64, HashMap<String, Option<i64>>)>,
    ensured: tokio::sync::OnceCell<()>,
}

impl ProviderBudget {
    /// Shared through `db` when it is PostgreSQL, else in memory.
    pub fn for_db(db: &Db) -> ProviderBudget {
        let mut b = ProviderBudget::in_memory();
        b.shared = (db.backend == Backend::Postgres).then(|| db.clone());
        b
    }

    /// This process's own budget and health (SQLite: one process).
    pub fn in_memory() -> ProviderBudget {
        ProviderBudget {
            shared: None,
            local: Mutex::new(HashMap::new()),
            cache: Mutex::new((i64::MIN, HashMap::new())),
            ensured: tokio::sync::OnceCell::new(),
        }
    }

    pub fn is_shared(&self) -> bool {
        self.shared.is_some()
    }

    fn local<T>(&self, key: &str, f: impl FnOnce(&mut LocalState) -> T) -> T {
        let mut map = self
            .local
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner());
        f(map.entry(key.to_string()).or_default())
    }

    /// Creates the rows of `keys` once (PostgreSQL).
    pub async fn ensure(&self, keys: &[String]) -> Result<(), StorageError> {
        let Some(db) = &self.shared else {
            return Ok(());
        };
        self.ensured
            .get_or_try_init(|| async {
                for k in keys {
                    provider_states::ensure(db, k).await?;
                }
                Ok::<(), StorageError>(())
            })
            .await?;
        Ok(())
    }

    /// Reserves `messages` at `rate` messages a second and returns how long to wait before
    /// sending them. `rate = 0` is unlimited.
    pub async fn reserve(
        &self,
        key: &str,
        rate: u32,
        messages: usize,
    ) -> Result<Duration, StorageError> {
        if rate == 0 || messages == 0 {
            return Ok(Duration::ZERO);
        }
        let cost_us = (messages as i64).saturating_mul(1_000_000) / i64::from(rate);
        let now_us = chrono::Utc::now().timestamp_micros();
        let start_us = match &self.shared {
            Some(db) => provider_states::reserve(db, key, cost_us, now_us).await?,
            None => self.local(key, |s| {
                let start = s.next_free_us.max(now_us);
                s.next_free_us = start + cost_us;
                start
            }),
        };
        Ok(Duration::from_micros(
            u64::try_from(start_us - now_us).unwrap_or(0),
        ))
    }

    /// Since when each of `keys` has been failing, if it is.
    pub async fn failing_since(&self, keys: &[String], now: i64) -> Vec<Option<i64>> {
        let Some(db) = &self.shared else {
            return keys
                .iter()
                .map(|k| self.local(k, |s| s.failing_since))
                .collect();
        };
        let cached = {
            let cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
            (now.saturating_sub(cache.0) < HEALTH_CACHE_MS).then(|| cache.1.clone())
        };
        let map = match cached {
            Some(map) => map,
            None => match provider_states::health(db).await {
                Ok(rows) => {
                    let map: HashMap<String, Option<i64>> = rows
                        .into_iter()
                        .map(|h| (h.provider, h.failing_since))
                        .collect();
                    *self.cache.lock().unwrap_or_else(|p| p.into_inner()) = (now, map.clone());
                    map
                }
                Err(e) => {
                    tracing::warn!(error = %e, "cannot read the shared provider health; using the last known");
                    self.cache
                        .lock()
                        .unwrap_or_else(|p| p.into_inner())
                        .1
                        .clone()
                }
            },
        };
        keys.iter().map(|k| map.get(k).copied().flatten()).collect()
    }

    fn cache_set(&self, key: &str, failing_since: Option<i64>) {
        let mut cache = self.cache.lock().unwrap_or_else(|p| p.into_inner());
        cache.1.insert(key.to_string(), failing_since);
    }

    /// Records that the provider answered (`ok`) or failed transiently at `now`.
    pub async fn report(&self, key: &str, ok: bool, now: i64) {
        let Some(db) = &self.shared else {
            self.local(key, |s| {
                if ok {
                    s.failing_since = None;
                } else if s.failing_since.is_none() {
                    s.failing_since = Some(now);
                }
                s.last_try = now;
            });
            return;
        };
        let known = self.failing_since(&[key.to_string()], now).await[0];
        // Only a change is written: a healthy provider's every answer costs no write.
        if ok == known.is_none() {
            return;
        }
        if let Err(e) = provider_states::report(db, key, ok, now).await {
            tracing::warn!(error = %e, provider = key, "cannot record provider health");
        }
        self.cache_set(key, if ok { None } else { known.or(Some(now)) });
    }

    /// Marks the provider failing for `failover_after` already: the next one takes over now.
    pub async fn fail_over_now(&self, key: &str, now: i64, failover_after_ms: i64) {
        let since = now.saturating_sub(failover_after_ms);
        let Some(db) = &self.shared else {
            self.local(key, |s| {
                s.failing_since = Some(s.failing_since.map_or(since, |f| f.min(since)));
                s.last_try = now;
            });
            return;
        };
        if let Err(e) = provider_states::failing_since_at_latest(db, key, since, now).await {
            tracing::warn!(error = %e, provider = key, "cannot record provider failover");
        }
        let known = self.failing_since(&[key.to_string()], now).await[0];
        self.cache_set(key, Some(known.map_or(since, |f| f.min(since))));
    }

    /// True for one caller (among all replicas) per `every_ms`: its turn to try a failing
    /// provider again.
    pub async fn take_retry_turn(&self, key: &str, now: i64, every_ms: i64) -> bool {
        let Some(db) = &self.shared else {
            return self.local(key, |s| {
                let turn = now - s.last_try >= every_ms;
                if turn {
                    s.last_try = now;
                }
                turn
            });
        };
        provider_states::take_retry_turn(db, key, now, every_ms)
            .await
            .unwrap_or_else(|e| {
                tracing::warn!(error = %e, provider = key, "cannot take the retry turn");
                false
            })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn reservations_are_spaced_by_the_rate_without_a_burst() {
        let b = ProviderBudget::in_memory();
        let first = b.reserve("sms0:solapi", 10, 5).await.expect("local");
        let second = b.reserve("sms0:solapi", 10, 5).await.expect("local");
        let third = b.reserve("sms0:solapi", 10, 1).await.expect("local");
        assert!(first < Duration::from_millis(50), "{first:?}");
        assert!(second > Duration::from_millis(400) && second <= Duration::from_millis(500));
        assert!(third > Duration::from_millis(900) && third <= Duration::from_millis(1000));
        // Another route has its own budget; a zero rate is unlimited.
        assert!(b.reserve("sms1:twilio", 10, 5).await.expect("local") < Duration::from_millis(50));
        assert_eq!(
            b.reserve("sms0:solapi", 0, 100).await.expect("local"),
            Duration::ZERO
        );
    }

    #[tokio::test]
    async fn health_fails_over_and_takes_one_retry_turn_per_period() {
        let b = ProviderBudget::in_memory();
        let keys = vec!["sms0:solapi".to_string(), "sms1:twilio".to_string()];
        assert_eq!(b.failing_since(&keys, 1_000).await, vec![None, None]);
        b.report("sms0:solapi", false, 1_000).await;
        b.report("sms0:solapi", false, 2_000).await;
        assert_eq!(
            b.failing_since(&keys, 2_000).await,
            vec![Some(1_000), None],
            "since the first"
        );
        b.fail_over_now("sms0:solapi", 3_000, 30_000).await;
        assert_eq!(b.failing_since(&keys, 3_000).await[0], Some(-27_000));
        assert!(
            !b.take_retry_turn("sms0:solapi", 10_000, 30_000).await,
            "tried at 3 s"
        );
        assert!(b.take_retry_turn("sms0:solapi", 33_000, 30_000).await);
        assert!(
            !b.take_retry_turn("sms0:solapi", 33_001, 30_000).await,
            "one turn"
        );
        b.report("sms0:solapi", true, 34_000).await;
        assert_eq!(b.failing_since(&keys, 34_000).await, vec![None, None]);
    }
}

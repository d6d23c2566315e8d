//! L1: the in-process memory tier (moka), bounded in bytes by TinyLFU, with optional
//! TTL/TTI. Its entry API gives the cache single-flight misses.
//!
//! Each entry carries its absolute expiry ([`Stamped`]): the model's TTL from when it
//! was computed, or, for a value read from a lower tier, the time that value had left,
//! so a copy never outlives its source. A read checks the expiry on
//! [`super::clock`] (which tests drive with tokio's paused clock); moka's per-entry
//! expiry, set from the same stamp, reclaims the memory.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use moka::notification::RemovalCause;
use moka::Expiry;

use super::clock;
use super::config::CacheConfig;
use super::key::CacheKey;
use super::stats::{TierCounters, TierStats};
use crate::model::Prediction;

/// A prediction with the time it stops being served.
#[derive(Debug, Clone, PartialEq)]
pub struct Stamped {
    /// Logits and the truncation flag.
    pub prediction: Prediction,
    /// Expiry, ms since the Unix epoch ([`clock::now_ms`]); 0: never.
    pub expires_at_ms: u64,
}

impl Stamped {
    /// `prediction`, expiring `ttl` from now (`None`: never).
    pub fn new(prediction: Prediction, ttl: Option<Duration>) -> Self {
        let expires_at_ms = ttl.map_or(0, |ttl| clock::now_ms().saturating_add(ttl.as_millis() as u64).max(1));
        Self { prediction, expires_at_ms }
    }

    /// Whether it has expired at `now_ms`.
    pub fn is_expired(&self, now_ms: u64) -> bool {
        self.expires_at_ms != 0 && now_ms >= self.expires_at_ms
    }

    /// The time it has left from now (`None`: it never expires).
    pub fn remaining(&self) -> Option<Duration> {
        (self.expires_at_ms != 0).then(|| Duration::from_millis(self.expires_at_ms.saturating_sub(clock::now_ms())))
    }
}

/// The memory tier: moka keyed by [`CacheKey`], holding stamped predictions.
pub struct MemoryTier {
    /// The entries; its `entry().or_try_insert_with` makes identical misses wait on
    /// one computation.
    cache: Cache<CacheKey, Stamped>,
    /// Hits, misses and size evictions of this tier.
    pub(super) counters: Arc<TierCounters>,
    /// Entries dropped by TTL/TTI.
    pub(super) expirations: Arc<AtomicU64>,
    /// Whether this cache sets TTLs (else a miss skips the expiry pre-check).
    has_ttl: bool,
    capacity_bytes: u64,
}

impl MemoryTier {
    /// Builds the tier from the cache's bounds.
    pub fn new(config: &CacheConfig) -> Self {
        let counters = Arc::new(TierCounters::default());
        let expirations = Arc::new(AtomicU64::new(0));
        let (evicted, expired) = (Arc::clone(&counters), Arc::clone(&expirations));
        let mut builder = Cache::builder()
            .max_capacity(config.capacity_bytes)
            .weigher(|key: &CacheKey, value: &Stamped| key.weight(&value.prediction))
            .support_invalidation_closures()
            .expire_after(StampExpiry)
            .eviction_listener(move |_key, _value, cause| match cause {
                RemovalCause::Size => {
                    evicted.evictions.fetch_add(1, Ordering::Relaxed);
                }
                RemovalCause::Expired => {
                    expired.fetch_add(1, Ordering::Relaxed);
                }
                RemovalCause::Explicit | RemovalCause::Replaced => {}
            });
        if let Some(tti) = config.tti {
            builder = builder.time_to_idle(tti);
        }
        let has_ttl = config.ttl.is_some() || !config.model_ttl.is_empty();
        Self { cache: builder.build(), counters, expirations, has_ttl, capacity_bytes: config.capacity_bytes }
    }

    /// The unexpired entry of `key`; an expired one is dropped (counted as an
    /// expiration). Counts nothing else.
    pub async fn get(&self, key: &CacheKey) -> Option<Stamped> {
        let value = self.cache.get(key).await?;
        // Any entry may carry an expiry (a copy of another replica's value with a TTL),
        // and the clock is read only for those that do.
        if value.expires_at_ms != 0 && value.is_expired(clock::now_ms()) {
            self.expire(key).await;
            return None;
        }
        Some(value)
    }

    /// Drops `key`'s entry if it has expired, so that the entry API computes it anew.
    pub async fn drop_if_expired(&self, key: &CacheKey) {
        if self.has_ttl {
            let _ = self.get(key).await;
        }
    }

    /// The entry of `key`, or `init`'s value inserted; single-flight. The flag is
    /// `true` when `init` ran in this call.
    ///
    /// Errors: `init`'s error, shared by every waiter.
    pub async fn get_or_try_insert_with<F, E>(&self, key: CacheKey, init: F) -> Result<(Stamped, bool), Arc<E>>
    where
        F: std::future::Future<Output = Result<Stamped, E>>,
        E: Send + Sync + 'static,
    {
        self.drop_if_expired(&key).await;
        let entry = self.cache.entry(key).or_try_insert_with(init).await?;
        let fresh = entry.is_fresh();
        Ok((entry.into_value(), fresh))
    }

    /// Inserts (or replaces) `key`'s entry.
    pub async fn insert(&self, key: CacheKey, value: Stamped) {
        self.cache.insert(key, value).await;
    }

    async fn expire(&self, key: &CacheKey) {
        if self.cache.remove(key).await.is_some() {
            self.expirations.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// Drops every entry, or one model's (all its identities).
    pub fn clear(&self, model: Option<&str>) {
        match model {
            Some(model) => {
                let model: Arc<str> = Arc::from(model);
                // Cannot fail: the cache was built with `support_invalidation_closures`.
                let _ = self.cache.invalidate_entries_if(move |key, _| key.model == model);
            }
            None => self.cache.invalidate_all(),
        }
    }

    /// Counters and exact sizes (runs pending maintenance first).
    pub async fn stats(&self) -> TierStats {
        self.cache.run_pending_tasks().await;
        let mut stats = self.counters.snapshot("memory", true);
        stats.entries = Some(self.cache.entry_count());
        stats.bytes = Some(self.cache.weighted_size());
        stats.capacity_bytes = Some(self.capacity_bytes);
        stats
    }
}

/// moka's per-entry expiry: the time the entry's stamp has left.
struct StampExpiry;

impl Expiry<CacheKey, Stamped> for StampExpiry {
    fn expire_after_create(&self, _key: &CacheKey, value: &Stamped, _now: std::time::Instant) -> Option<Duration> {
        value.remaining()
    }

    fn expire_after_update(
        &self,
        _key: &CacheKey,
        value: &Stamped,
        _now: std::time::Instant,
        _current: Option<Duration>,
    ) -> Option<Duration> {
        value.remaining()
    }
}

//! L1: the in-process memory tier (moka), bounded in bytes by TinyLFU, with optional
//! TTL/TTI. Its entry API gives the cache single-flight misses.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use moka::future::Cache;
use moka::notification::RemovalCause;
use moka::Expiry;

use super::config::CacheConfig;
use super::key::CacheKey;
use super::stats::{TierCounters, TierStats};
use crate::model::Prediction;

/// The memory tier: moka keyed by [`CacheKey`], holding predictions (logits and the truncation flag).
pub struct MemoryTier {
    /// The entries; its `entry().or_try_insert_with` makes identical misses wait on
    /// one computation.
    pub(super) cache: Cache<CacheKey, Prediction>,
    /// Hits, misses and size evictions of this tier.
    pub(super) counters: Arc<TierCounters>,
    /// Entries dropped by TTL/TTI.
    pub(super) expirations: Arc<AtomicU64>,
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
            .weigher(|key: &CacheKey, value: &Prediction| key.weight(value))
            .support_invalidation_closures()
            .eviction_listener(move |_key, _value, cause| match cause {
                RemovalCause::Size => {
                    evicted.evictions.fetch_add(1, Ordering::Relaxed);
                }
                RemovalCause::Expired => {
                    expired.fetch_add(1, Ordering::Relaxed);
                }
                RemovalCause::Explicit | RemovalCause::Replaced => {}
            });
        if config.ttl.is_some() || !config.model_ttl.is_empty() {
            builder = builder.expire_after(ModelTtl(Arc::new(config.clone())));
        }
        if let Some(tti) = config.tti {
            builder = builder.time_to_idle(tti);
        }
        Self { cache: builder.build(), counters, expirations, capacity_bytes: config.capacity_bytes }
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

/// Time to live per entry: its model's (`cache_ttl_secs`), else the cache's.
struct ModelTtl(Arc<CacheConfig>);

impl Expiry<CacheKey, Prediction> for ModelTtl {
    fn expire_after_create(
        &self,
        key: &CacheKey,
        _value: &Prediction,
        _now: std::time::Instant,
    ) -> Option<std::time::Duration> {
        self.0.ttl_for(&key.model)
    }

    fn expire_after_update(
        &self,
        key: &CacheKey,
        _value: &Prediction,
        _now: std::time::Instant,
        _current: Option<std::time::Duration>,
    ) -> Option<std::time::Duration> {
        self.0.ttl_for(&key.model)
    }
}

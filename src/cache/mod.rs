//! The prediction cache: logits memoized by (model fingerprint, exact text).
//!
//! Values are logits, not scores: everything computed from logits (softmax/sigmoid,
//! ordering) is cheap and done per response, so no request option that only changes
//! post-processing needs to be in the key. The key carries the model's fingerprint, so
//! a model reloaded with other weights never reads entries of the old ones.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use moka::notification::RemovalCause;
use serde::Serialize;

use crate::batch::Logits;

/// Bounds of the in-memory cache.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Most bytes held (keys + values + bookkeeping estimate); least-recently/
    /// least-frequently used entries are evicted past it (TinyLFU).
    pub capacity_bytes: u64,
    /// Time to live: an entry expires this long after it was written.
    pub ttl: Option<Duration>,
    /// Time to idle: an entry expires this long after it was last read.
    pub tti: Option<Duration>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self { capacity_bytes: 256 * 1024 * 1024, ttl: None, tti: None }
    }
}

/// What identifies one cached prediction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The model's configured name (for per-model clearing).
    pub model: Arc<str>,
    /// The loaded weights' fingerprint (name + source + revision + weights metadata).
    pub fingerprint: Arc<str>,
    /// The exact input text.
    pub text: Arc<str>,
}

impl CacheKey {
    /// Estimated bytes one entry holds: key strings, logits and moka's bookkeeping.
    fn weight(&self, logits: &Logits) -> u32 {
        const OVERHEAD: usize = 96;
        let bytes = self.text.len() + self.model.len() + self.fingerprint.len() + logits.len() * 4 + OVERHEAD;
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    evictions: AtomicU64,
    expirations: AtomicU64,
}

/// Counters and sizes, as `GET /cache` reports them.
#[derive(Debug, Clone, Serialize)]
pub struct CacheStats {
    /// Entries held.
    pub entries: u64,
    /// Bytes held (weigher estimate).
    pub bytes: u64,
    /// Most bytes held before eviction.
    pub capacity_bytes: u64,
    /// Lookups answered from the cache (including waits on an identical in-flight miss).
    pub hits: u64,
    /// Lookups that ran the model.
    pub misses: u64,
    /// `hits / (hits + misses)`, 0 when there were no lookups.
    pub hit_rate: f64,
    /// Entries evicted for size.
    pub evictions: u64,
    /// Entries dropped by TTL/TTI.
    pub expirations: u64,
    /// Time to live in seconds, if set.
    pub ttl_secs: Option<f64>,
    /// Time to idle in seconds, if set.
    pub tti_secs: Option<f64>,
}

/// A cheap-to-clone handle to the process-wide prediction cache.
#[derive(Clone)]
pub struct PredictionCache {
    entries: Cache<CacheKey, Logits>,
    counters: Arc<Counters>,
    config: CacheConfig,
}

impl PredictionCache {
    /// Builds an empty cache.
    pub fn new(config: CacheConfig) -> Self {
        let counters = Arc::new(Counters::default());
        let listener_counters = Arc::clone(&counters);
        let mut builder = Cache::builder()
            .max_capacity(config.capacity_bytes)
            .weigher(|key: &CacheKey, value: &Logits| key.weight(value))
            .support_invalidation_closures()
            .eviction_listener(move |_key, _value, cause| {
                let counter = match cause {
                    RemovalCause::Size => &listener_counters.evictions,
                    RemovalCause::Expired => &listener_counters.expirations,
                    RemovalCause::Explicit | RemovalCause::Replaced => return,
                };
                counter.fetch_add(1, Ordering::Relaxed);
            });
        if let Some(ttl) = config.ttl {
            builder = builder.time_to_live(ttl);
        }
        if let Some(tti) = config.tti {
            builder = builder.time_to_idle(tti);
        }
        Self { entries: builder.build(), counters, config }
    }

    /// Returns the cached logits for `key`, or runs `compute` and caches its result.
    /// Concurrent calls for the same key run `compute` once (single-flight); the others
    /// wait for it. The flag is `true` when the value did not come from this call's
    /// `compute`. Errors are not cached.
    ///
    /// Errors: `compute`'s error, shared by every waiter.
    pub async fn get_or_compute<F, E>(&self, key: CacheKey, compute: F) -> Result<(Logits, bool), Arc<E>>
    where
        F: std::future::Future<Output = Result<Logits, E>>,
        E: Send + Sync + 'static,
    {
        let model = Arc::clone(&key.model);
        let entry = self.entries.entry(key).or_try_insert_with(compute).await?;
        let cached = !entry.is_fresh();
        let (counter, metric) = if cached {
            (&self.counters.hits, "sentiserve_cache_hits_total")
        } else {
            (&self.counters.misses, "sentiserve_cache_misses_total")
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(metric, "model" => model.to_string()).increment(1);
        Ok((entry.into_value(), cached))
    }

    /// Drops every entry of the model named `model` (all its fingerprints).
    pub fn invalidate_model(&self, model: &str) {
        let model: Arc<str> = Arc::from(model);
        // Cannot fail: the cache was built with `support_invalidation_closures`.
        let _ = self.entries.invalidate_entries_if(move |key, _| key.model == model);
    }

    /// Drops every entry.
    pub fn invalidate_all(&self) {
        self.entries.invalidate_all();
    }

    /// Current sizes and counters (runs pending maintenance first, so counts are exact).
    pub async fn stats(&self) -> CacheStats {
        self.entries.run_pending_tasks().await;
        let hits = self.counters.hits.load(Ordering::Relaxed);
        let misses = self.counters.misses.load(Ordering::Relaxed);
        let lookups = hits + misses;
        CacheStats {
            entries: self.entries.entry_count(),
            bytes: self.entries.weighted_size(),
            capacity_bytes: self.config.capacity_bytes,
            hits,
            misses,
            hit_rate: if lookups == 0 { 0.0 } else { hits as f64 / lookups as f64 },
            evictions: self.counters.evictions.load(Ordering::Relaxed),
            expirations: self.counters.expirations.load(Ordering::Relaxed),
            ttl_secs: self.config.ttl.map(|d| d.as_secs_f64()),
            tti_secs: self.config.tti.map(|d| d.as_secs_f64()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn key(model: &str, text: &str) -> CacheKey {
        CacheKey { model: model.into(), fingerprint: "fp".into(), text: text.into() }
    }

    async fn compute(value: f32) -> Result<Logits, std::convert::Infallible> {
        Ok(Arc::from(vec![value]))
    }

    #[tokio::test]
    async fn second_lookup_hits_and_per_model_clear_keeps_others() {
        let cache = PredictionCache::new(CacheConfig::default());
        let (_, cached) = cache.get_or_compute(key("a", "x"), compute(1.0)).await.unwrap();
        assert!(!cached);
        let (v, cached) = cache.get_or_compute(key("a", "x"), compute(2.0)).await.unwrap();
        assert!(cached);
        assert_eq!(&*v, &[1.0]);
        cache.get_or_compute(key("b", "x"), compute(3.0)).await.unwrap();
        cache.invalidate_model("a");
        let (_, cached_a) = cache.get_or_compute(key("a", "x"), compute(4.0)).await.unwrap();
        let (_, cached_b) = cache.get_or_compute(key("b", "x"), compute(5.0)).await.unwrap();
        assert!(!cached_a, "model a's entry should be gone");
        assert!(cached_b, "model b's entry should survive");
        let stats = cache.stats().await;
        assert_eq!((stats.hits, stats.misses), (2, 3));
    }

    #[tokio::test]
    async fn byte_bound_evicts() {
        let cache = PredictionCache::new(CacheConfig { capacity_bytes: 4096, ..Default::default() });
        for i in 0..500 {
            cache.get_or_compute(key("m", &format!("text number {i}")), compute(0.0)).await.unwrap();
        }
        let stats = cache.stats().await;
        assert!(stats.bytes <= 4096, "{stats:?}");
        assert!(stats.evictions > 0, "{stats:?}");
    }

    #[tokio::test]
    async fn ttl_expires_entries() {
        let ttl = Duration::from_millis(50);
        let cache = PredictionCache::new(CacheConfig { ttl: Some(ttl), ..Default::default() });
        cache.get_or_compute(key("m", "x"), compute(1.0)).await.unwrap();
        tokio::time::sleep(ttl * 3).await;
        let (_, cached) = cache.get_or_compute(key("m", "x"), compute(1.0)).await.unwrap();
        assert!(!cached);
    }

    #[tokio::test]
    async fn concurrent_misses_compute_once() {
        let cache = PredictionCache::new(CacheConfig::default());
        let runs = Arc::new(AtomicU64::new(0));
        let tasks = (0..16).map(|_| {
            let (cache, runs) = (cache.clone(), Arc::clone(&runs));
            tokio::spawn(async move {
                cache
                    .get_or_compute(key("m", "same"), async move {
                        runs.fetch_add(1, Ordering::SeqCst);
                        tokio::time::sleep(Duration::from_millis(30)).await;
                        compute(1.0).await
                    })
                    .await
                    .unwrap()
                    .1
            })
        });
        let flags = futures::future::join_all(tasks).await;
        assert_eq!(runs.load(Ordering::SeqCst), 1);
        assert_eq!(flags.into_iter().filter(|f| !f.as_ref().unwrap()).count(), 1);
    }
}

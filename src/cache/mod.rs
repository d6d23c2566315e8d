//! The prediction cache: logits memoized by (model fingerprint, exact text), in up to
//! three tiers.
//!
//! - L1 memory (moka): always on, bounded in bytes, optional TTL/TTI.
//! - L2 disk ([`disk`], redb): optional (`--cache-dir`), survives restarts.
//! - L3 Redis ([`redis`]): optional (`--redis-url`), shared by every replica.
//!
//! A lookup reads L1 → L2 → L3 → model; a hit in a lower tier fills the tiers above it,
//! and a computed result is written to every enabled tier, the lower ones in the
//! background so responses never wait for disk or network. Identical concurrent
//! misses run once (single-flight, through moka's entry API).
//!
//! Values are logits, not scores: everything computed from logits (softmax/sigmoid,
//! ordering) is cheap and done per response, so no request option that only changes
//! post-processing needs to be in the key. The key carries the model's fingerprint, so
//! a model reloaded with other weights never reads entries of the old ones.

pub mod codec;
pub mod disk;
pub mod redis;

use std::sync::atomic::{AtomicU64, AtomicU8, Ordering};
use std::sync::Arc;
use std::time::Duration;

use moka::future::Cache;
use moka::notification::RemovalCause;
use serde::Serialize;

use crate::batch::Logits;
use disk::{DiskConfig, DiskTier};
use redis::{RedisConfig, RedisTier};

/// Bounds and tiers of the cache.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Most bytes held in memory (keys + values + bookkeeping estimate); entries are
    /// evicted past it by TinyLFU.
    pub capacity_bytes: u64,
    /// Time to live: an entry expires this long after it was written (every tier).
    pub ttl: Option<Duration>,
    /// Time to idle: an entry expires this long after it was last read (memory only).
    pub tti: Option<Duration>,
    /// The disk tier, if enabled.
    pub disk: Option<DiskConfig>,
    /// The Redis tier, if enabled.
    pub redis: Option<RedisConfig>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self { capacity_bytes: 256 * 1024 * 1024, ttl: None, tti: None, disk: None, redis: None }
    }
}

/// What identifies one cached prediction.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The model's configured name (for per-model clearing).
    pub model: Arc<str>,
    /// The loaded model's fingerprint (name + content hash of its files).
    pub fingerprint: Arc<str>,
    /// The exact input text.
    pub text: Arc<str>,
}

impl CacheKey {
    /// Estimated bytes one memory entry holds: key strings, logits and moka's bookkeeping.
    fn weight(&self, logits: &Logits) -> u32 {
        const OVERHEAD: usize = 96;
        let bytes = self.text.len() + self.model.len() + self.fingerprint.len() + logits.len() * 4 + OVERHEAD;
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }
}

/// Per-tier counters.
#[derive(Debug, Default)]
pub struct TierCounters {
    hits: AtomicU64,
    misses: AtomicU64,
    errors: AtomicU64,
    writes: AtomicU64,
    evictions: AtomicU64,
}

impl TierCounters {
    fn snapshot(&self, tier: &'static str, up: bool) -> TierStats {
        TierStats {
            tier,
            up,
            hits: self.hits.load(Ordering::Relaxed),
            misses: self.misses.load(Ordering::Relaxed),
            errors: self.errors.load(Ordering::Relaxed),
            writes: self.writes.load(Ordering::Relaxed),
            evictions: self.evictions.load(Ordering::Relaxed),
            entries: None,
            bytes: None,
            capacity_bytes: None,
            location: None,
            error: None,
        }
    }

    fn count(&self, hit: bool) {
        if hit { &self.hits } else { &self.misses }.fetch_add(1, Ordering::Relaxed);
    }
}

/// One tier's state, as `GET /cache` reports it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TierStats {
    /// `memory`, `disk` or `redis`.
    #[schema(value_type = String)]
    pub tier: &'static str,
    /// Whether the tier is serving (false: disabled after an error, or unreachable).
    pub up: bool,
    /// Lookups answered by this tier.
    pub hits: u64,
    /// Lookups this tier could not answer.
    pub misses: u64,
    /// Failed reads/writes, undecodable values, dropped writes.
    pub errors: u64,
    /// Entries written.
    pub writes: u64,
    /// Entries evicted for size.
    pub evictions: u64,
    /// Entries held, where the tier can tell.
    pub entries: Option<u64>,
    /// Bytes held, where the tier can tell.
    pub bytes: Option<u64>,
    /// Byte bound, where the tier has one.
    pub capacity_bytes: Option<u64>,
    /// File path or URL (password redacted).
    pub location: Option<String>,
    /// Why the tier is down.
    pub error: Option<String>,
}

#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    expirations: AtomicU64,
}

/// Counters and sizes, as `GET /cache` reports them. The top-level figures describe
/// the whole cache (hits: answered without running the model) and its memory tier.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct CacheStats {
    /// Entries in memory.
    pub entries: u64,
    /// Bytes in memory (weigher estimate).
    pub bytes: u64,
    /// Most bytes in memory before eviction.
    pub capacity_bytes: u64,
    /// Lookups answered by any tier (including waits on an identical in-flight miss).
    pub hits: u64,
    /// Lookups that ran the model.
    pub misses: u64,
    /// `hits / (hits + misses)`, 0 when there were no lookups.
    pub hit_rate: f64,
    /// Memory entries evicted for size.
    pub evictions: u64,
    /// Memory entries dropped by TTL/TTI.
    pub expirations: u64,
    /// Time to live in seconds, if set.
    pub ttl_secs: Option<f64>,
    /// Time to idle in seconds, if set.
    pub tti_secs: Option<f64>,
    /// Every tier, memory first.
    pub tiers: Vec<TierStats>,
}

/// The outcome of clearing one tier.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TierClear {
    /// `memory`, `disk` or `redis`.
    #[schema(value_type = String)]
    pub tier: &'static str,
    /// Whether the tier was cleared.
    pub ok: bool,
    /// Entries removed, where the tier can tell.
    pub removed: Option<u64>,
    /// Why clearing failed.
    pub error: Option<String>,
}

/// Where a value came from (for the `cached` flag and per-tier counters).
const FROM_MODEL: u8 = 0;
const FROM_LOWER: u8 = 1;

/// The tiers below memory.
struct Lower {
    disk: Option<DiskTier>,
    /// Why the configured disk tier is disabled.
    disk_error: Option<String>,
    redis: Option<RedisTier>,
    ttl: Option<Duration>,
}

impl Lower {
    /// L2 then L3; a Redis hit is copied to disk with its original expiry.
    async fn read(&self, stored: &str) -> Option<Logits> {
        let now = codec::now_ms();
        if let Some(disk) = &self.disk {
            if let Some(bytes) = disk.get(stored).await {
                match codec::decode(&bytes, now) {
                    Ok(logits) => {
                        disk.counters().count(true);
                        return Some(logits);
                    }
                    Err(codec::DecodeError::Corrupt) => {
                        disk.counters().errors.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(codec::DecodeError::Expired) => {}
                }
            }
            disk.counters().count(false);
        }
        if let Some(redis) = self.redis.as_ref().filter(|r| r.is_up()) {
            if let Some(bytes) = redis.get(stored).await {
                match codec::decode(&bytes, now) {
                    Ok(logits) => {
                        redis.counters().count(true);
                        if let Some(disk) = &self.disk {
                            disk.put(stored.to_string(), bytes);
                        }
                        return Some(logits);
                    }
                    Err(codec::DecodeError::Corrupt) => {
                        redis.counters().errors.fetch_add(1, Ordering::Relaxed);
                    }
                    Err(codec::DecodeError::Expired) => {}
                }
            }
            redis.counters().count(false);
        }
        None
    }

    /// Write-behind to every lower tier.
    fn write(&self, stored: &str, logits: &[f32]) {
        if self.disk.is_none() && self.redis.is_none() {
            return;
        }
        let expires_at = self.ttl.map_or(0, |ttl| codec::now_ms() + ttl.as_millis() as u64);
        let bytes = codec::encode(logits, expires_at);
        if let Some(redis) = &self.redis {
            redis.put(stored, bytes.clone(), self.ttl);
        }
        if let Some(disk) = &self.disk {
            disk.put(stored.to_string(), bytes);
        }
    }
}

/// A cheap-to-clone handle to the process-wide prediction cache.
#[derive(Clone)]
pub struct PredictionCache {
    memory: Cache<CacheKey, Logits>,
    memory_counters: Arc<TierCounters>,
    counters: Arc<Counters>,
    lower: Arc<Lower>,
    config: Arc<CacheConfig>,
}

impl PredictionCache {
    /// Builds the cache and opens its tiers. A disk tier that cannot open is disabled
    /// (logged, reported by `stats`); a Redis tier connects in the background. Must be
    /// called inside a tokio runtime when Redis is configured. Blocking (opens files).
    pub fn new(config: CacheConfig) -> Self {
        let memory_counters = Arc::new(TierCounters::default());
        let counters = Arc::new(Counters::default());
        let (evictions, expirations) = (Arc::clone(&memory_counters), Arc::clone(&counters));
        let mut builder = Cache::builder()
            .max_capacity(config.capacity_bytes)
            .weigher(|key: &CacheKey, value: &Logits| key.weight(value))
            .support_invalidation_closures()
            .eviction_listener(move |_key, _value, cause| match cause {
                RemovalCause::Size => {
                    evictions.evictions.fetch_add(1, Ordering::Relaxed);
                }
                RemovalCause::Expired => {
                    expirations.expirations.fetch_add(1, Ordering::Relaxed);
                }
                RemovalCause::Explicit | RemovalCause::Replaced => {}
            });
        if let Some(ttl) = config.ttl {
            builder = builder.time_to_live(ttl);
        }
        if let Some(tti) = config.tti {
            builder = builder.time_to_idle(tti);
        }
        let (disk, disk_error) = match &config.disk {
            None => (None, None),
            Some(disk_config) => match DiskTier::open(disk_config) {
                Ok(tier) => {
                    tracing::info!(dir = %disk_config.dir.display(), "disk cache tier enabled");
                    (Some(tier), None)
                }
                Err(e) => {
                    tracing::error!(dir = %disk_config.dir.display(), error = %e, "disk cache tier disabled");
                    (None, Some(e))
                }
            },
        };
        let redis = config.redis.clone().and_then(|redis_config| match RedisTier::start(redis_config) {
            Ok(tier) => Some(tier),
            Err(e) => {
                tracing::error!(error = %e, "redis cache tier disabled");
                None
            }
        });
        let lower = Arc::new(Lower { disk, disk_error, redis, ttl: config.ttl });
        Self { memory: builder.build(), memory_counters, counters, lower, config: Arc::new(config) }
    }

    /// Returns the cached logits for `key` from the first tier that has them, or runs
    /// `compute` and caches its result in every tier. Concurrent calls for the same key
    /// run at most one lookup chain (single-flight); the others wait for it. The flag is
    /// `true` when the value did not come from this call's `compute`. Errors are not
    /// cached.
    ///
    /// Errors: `compute`'s error, shared by every waiter.
    pub async fn get_or_compute<F, E>(&self, key: CacheKey, compute: F) -> Result<(Logits, bool), Arc<E>>
    where
        F: std::future::Future<Output = Result<Logits, E>>,
        E: Send + Sync + 'static,
    {
        let model = Arc::clone(&key.model);
        let origin = Arc::new(AtomicU8::new(FROM_LOWER));
        let init = {
            let (origin, lower, key) = (Arc::clone(&origin), Arc::clone(&self.lower), key.clone());
            async move {
                let stored = codec::stored_key(&key);
                if let Some(logits) = lower.read(&stored).await {
                    return Ok(logits);
                }
                let logits = compute.await?;
                origin.store(FROM_MODEL, Ordering::Relaxed);
                lower.write(&stored, &logits);
                Ok(logits)
            }
        };
        let entry = self.memory.entry(key).or_try_insert_with(init).await?;
        self.memory_counters.count(!entry.is_fresh());
        let cached = !entry.is_fresh() || origin.load(Ordering::Relaxed) != FROM_MODEL;
        let (counter, metric) = if cached {
            (&self.counters.hits, "sentiserve_cache_hits_total")
        } else {
            (&self.counters.misses, "sentiserve_cache_misses_total")
        };
        counter.fetch_add(1, Ordering::Relaxed);
        metrics::counter!(metric, "model" => model.to_string()).increment(1);
        Ok((entry.into_value(), cached))
    }

    /// Drops every entry, or one model's (all its fingerprints), from every tier.
    /// Redis loses only this server's namespace. A tier that fails says so.
    pub async fn clear(&self, model: Option<&str>) -> Vec<TierClear> {
        match model {
            Some(model) => {
                let model: Arc<str> = Arc::from(model);
                // Cannot fail: the cache was built with `support_invalidation_closures`.
                let _ = self.memory.invalidate_entries_if(move |key, _| key.model == model);
            }
            None => self.memory.invalidate_all(),
        }
        let mut report = vec![TierClear { tier: "memory", ok: true, removed: None, error: None }];
        let prefix = model.map(codec::model_prefix);
        let outcome = |tier, result: Result<u64, String>| match result {
            Ok(removed) => TierClear { tier, ok: true, removed: Some(removed), error: None },
            Err(error) => TierClear { tier, ok: false, removed: None, error: Some(error) },
        };
        if let Some(disk) = &self.lower.disk {
            report.push(outcome("disk", disk.clear(prefix.clone()).await));
        }
        if let Some(redis) = &self.lower.redis {
            report.push(outcome("redis", redis.clear(prefix.as_deref()).await));
        }
        report
    }

    /// Waits until every queued disk write is committed (used at shutdown).
    pub async fn flush(&self) {
        if let Some(disk) = &self.lower.disk {
            disk.flush().await;
        }
    }

    /// Current sizes and counters (runs pending maintenance first, so counts are exact).
    pub async fn stats(&self) -> CacheStats {
        self.memory.run_pending_tasks().await;
        let hits = self.counters.hits.load(Ordering::Relaxed);
        let misses = self.counters.misses.load(Ordering::Relaxed);
        let lookups = hits + misses;
        let mut memory = self.memory_counters.snapshot("memory", true);
        memory.entries = Some(self.memory.entry_count());
        memory.bytes = Some(self.memory.weighted_size());
        memory.capacity_bytes = Some(self.config.capacity_bytes);
        let mut tiers = vec![memory.clone()];
        match (&self.lower.disk, &self.lower.disk_error) {
            (Some(disk), _) => tiers.push(disk.stats().await),
            (None, Some(error)) => {
                let mut stats = TierCounters::default().snapshot("disk", false);
                stats.location = self.config.disk.as_ref().map(|d| d.dir.display().to_string());
                stats.error = Some(error.clone());
                tiers.push(stats);
            }
            (None, None) => {}
        }
        if let Some(redis) = &self.lower.redis {
            tiers.push(redis.stats());
        }
        CacheStats {
            entries: memory.entries.unwrap_or(0),
            bytes: memory.bytes.unwrap_or(0),
            capacity_bytes: self.config.capacity_bytes,
            hits,
            misses,
            hit_rate: if lookups == 0 { 0.0 } else { hits as f64 / lookups as f64 },
            evictions: memory.evictions,
            expirations: self.counters.expirations.load(Ordering::Relaxed),
            ttl_secs: self.config.ttl.map(|d| d.as_secs_f64()),
            tti_secs: self.config.tti.map(|d| d.as_secs_f64()),
            tiers,
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
        cache.clear(Some("a")).await;
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

//! Counters and reports of the cache and its tiers, as `GET /cache` and
//! `DELETE /cache` return them.

use std::sync::atomic::{AtomicU64, Ordering};

use serde::Serialize;

/// Per-tier counters, updated lock-free on the request path.
#[derive(Debug, Default)]
pub struct TierCounters {
    /// Lookups answered by this tier.
    pub hits: AtomicU64,
    /// Lookups this tier could not answer.
    pub misses: AtomicU64,
    /// Failed reads/writes, undecodable values, dropped writes.
    pub errors: AtomicU64,
    /// Entries written.
    pub writes: AtomicU64,
    /// Entries evicted for size.
    pub evictions: AtomicU64,
}

impl TierCounters {
    /// The counters as a report for `tier`, without sizes.
    pub fn snapshot(&self, tier: &'static str, up: bool) -> TierStats {
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

    /// Counts one lookup as a hit or a miss.
    pub fn count(&self, hit: bool) {
        if hit { &self.hits } else { &self.misses }.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts one entry written.
    pub fn wrote(&self) {
        self.writes.fetch_add(1, Ordering::Relaxed);
    }

    /// Counts `n` errors.
    pub fn error(&self, n: u64) {
        self.errors.fetch_add(n, Ordering::Relaxed);
    }
}

/// One tier's state, as `GET /cache` reports it.
#[derive(Debug, Clone, Serialize)]
pub struct TierStats {
    /// `memory`, `disk` or `redis`.
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

/// Counters and sizes, as `GET /cache` reports them. The top-level figures describe
/// the whole cache (hits: answered without running the model) and its memory tier.
#[derive(Debug, Clone, Serialize)]
pub struct CacheStats {
    /// Entries in memory.
    pub entries: u64,
    /// Bytes in memory (weigher estimate).
    pub bytes: u64,
    /// Most bytes in memory before eviction.
    pub capacity_bytes: u64,
    /// Lookups answered by any tier (including waits on an identical in-flight miss).
    pub hits: u64,
    /// Of `hits`, those answered by another text with the same token ids (case for an
    /// uncased model, spacing, a tail past the truncation limit).
    pub token_hits: u64,
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
#[derive(Debug, Clone, Serialize)]
pub struct TierClear {
    /// `memory`, `disk` or `redis`.
    pub tier: &'static str,
    /// Whether the tier was cleared.
    pub ok: bool,
    /// Entries removed, where the tier can tell.
    pub removed: Option<u64>,
    /// Why clearing failed.
    pub error: Option<String>,
}

/// The Prometheus counters of one model, looked up once per model rather than once
/// per lookup (building a labelled key allocates and hashes).
#[derive(Clone)]
pub struct ModelCounters {
    /// `sentiserve_cache_hits_total{model}`.
    pub hits: metrics::Counter,
    /// `sentiserve_cache_misses_total{model}`.
    pub misses: metrics::Counter,
    /// `sentiserve_cache_token_hits_total{model}`.
    pub token_hits: metrics::Counter,
}

/// [`ModelCounters`] by model name.
#[derive(Default)]
pub struct ModelMetrics(std::sync::RwLock<std::collections::HashMap<std::sync::Arc<str>, ModelCounters>>);

impl std::fmt::Debug for ModelMetrics {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("ModelMetrics")
    }
}

impl ModelMetrics {
    /// Runs `f` on `model`'s counters, registering them on first use. The counters are
    /// borrowed, not cloned: a clone is three reference-count updates on cache lines
    /// every core shares, per lookup.
    pub fn with<R>(&self, model: &std::sync::Arc<str>, f: impl FnOnce(&ModelCounters) -> R) -> R {
        if let Some(counters) = self.0.read().unwrap_or_else(std::sync::PoisonError::into_inner).get(&**model) {
            return f(counters);
        }
        let label = model.to_string();
        let counters = ModelCounters {
            hits: metrics::counter!("sentiserve_cache_hits_total", "model" => label.clone()),
            misses: metrics::counter!("sentiserve_cache_misses_total", "model" => label.clone()),
            token_hits: metrics::counter!("sentiserve_cache_token_hits_total", "model" => label),
        };
        let mut map = self.0.write().unwrap_or_else(std::sync::PoisonError::into_inner);
        f(map.entry(std::sync::Arc::clone(model)).or_insert(counters))
    }
}

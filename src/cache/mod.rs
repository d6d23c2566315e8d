//! The prediction cache: logits memoized by (model identity, exact input), in up to
//! three tiers.
//!
//! - L1 memory ([`memory`], moka): always on, bounded in bytes, optional TTL/TTI.
//! - L2 disk ([`disk`], redb): optional (`--cache-dir`), survives restarts.
//! - L3 Redis ([`redis`]): optional (`--redis-url`), shared by every replica.
//!
//! A lookup reads L1 → the lower tiers in order → model; a hit in a lower tier fills
//! the tiers above it, and a computed result is written to every tier, the lower ones
//! in the background so responses never wait for disk or network. Identical
//! concurrent misses run once (single-flight, through moka's entry API). Tiers below
//! memory implement [`Tier`].
//!
//! An input is looked up by its exact text, then by the token ids it tokenizes to
//! ([`lookup`]): two texts the model cannot tell apart share an answer.
//!
//! Values are logits (and whether the input was truncated), not scores: everything
//! computed from logits (softmax/sigmoid, ordering, `top_k`) is cheap and done per
//! response, so no request option that only changes post-processing is in the key; a
//! text pair is part of the input, so it is. The key carries the model's [`Identity`] (its
//! files' content and every setting that changes logits), so a model reloaded with
//! other weights, or configured with another dtype or `max_tokens`, never reads
//! entries of the old ones. Keys in
//! the lower tiers also carry the cache's [`generation`], so a clear on one replica
//! invalidates every replica's entries (see that module).

mod build;
pub mod clock;
pub mod codec;
pub mod config;
pub mod disk;
pub mod generation;
pub mod health;
pub mod identity;
pub mod key;
pub mod lookup;
pub mod memory;
pub mod redis;
pub mod stats;
pub mod tier;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use generation::Generations;

pub use config::CacheConfig;
pub use identity::Identity;
pub use key::{CacheKey, KeyInput, TokenDigest};
pub use lookup::{Source, Tokenized};
pub use stats::{CacheStats, TierClear, TierCounters, TierStats};
pub use tier::{Tier, TierError};

use crate::model::Prediction;
use memory::{MemoryTier, Stamped};

/// What a request lets the cache do (its `Cache-Control` directive).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum CachePolicy {
    /// Read through the tiers; cache a computed result (the default).
    #[default]
    Use,
    /// `no-cache`: recompute, then replace the entry in every tier.
    Refresh,
    /// `no-store`: recompute and write nothing.
    Bypass,
}

/// Whole-cache counters: a hit is any lookup that did not run the model.
#[derive(Debug, Default)]
struct Counters {
    hits: AtomicU64,
    misses: AtomicU64,
    /// Of `hits`, those found by the input's token ids ([`lookup`]).
    token_hits: AtomicU64,
    /// The same, per model, for Prometheus.
    models: stats::ModelMetrics,
}

/// The tiers below memory, in read order, and the generations their keys carry.
struct Lower {
    tiers: Vec<Box<dyn Tier>>,
    generations: Arc<Generations>,
}

impl Lower {
    /// The key of `key` in these tiers, under the current generation.
    fn stored_key(&self, key: &CacheKey) -> String {
        codec::stored_key(key, &self.generations.tag(&key.model))
    }

    /// Reads the tiers in order; a hit is copied into the (up) tiers above it, with
    /// the time it has left to live, and comes back with its expiry. Nothing is read
    /// while the generations are unknown.
    async fn read(&self, stored: &str, num_labels: usize) -> Option<Stamped> {
        if !self.generations.known() {
            return None;
        }
        let now = codec::now_ms();
        for (level, tier) in self.tiers.iter().enumerate() {
            if !tier.is_up() {
                continue;
            }
            let counters = tier.counters();
            match tier.get(stored).await {
                Ok(Some(bytes)) => match codec::decode_for(&bytes, now, num_labels) {
                    Ok(prediction) => {
                        counters.count(true);
                        let ttl = codec::remaining_ttl(&bytes, now);
                        for above in self.tiers[..level].iter().filter(|t| t.is_up()) {
                            above.put(stored, bytes.clone(), ttl);
                        }
                        return Some(Stamped { prediction, expires_at_ms: codec::expires_at(&bytes) });
                    }
                    Err(codec::DecodeError::Corrupt | codec::DecodeError::WrongLabelCount { .. }) => counters.error(1),
                    Err(codec::DecodeError::Expired) => {}
                },
                Ok(None) => {}
                Err(_) => counters.error(1),
            }
            counters.count(false);
        }
        None
    }

    /// Write-behind to every lower tier that is up, expiring when `value` does.
    fn write(&self, stored: &str, value: &Stamped) {
        if self.tiers.is_empty() {
            return;
        }
        let bytes = codec::encode(&value.prediction, value.expires_at_ms);
        let ttl = value.remaining();
        for tier in self.tiers.iter().filter(|t| t.is_up()) {
            tier.put(stored, bytes.clone(), ttl);
        }
    }
}

/// A cheap-to-clone handle to the process-wide prediction cache.
#[derive(Clone)]
pub struct PredictionCache {
    memory: Arc<MemoryTier>,
    counters: Arc<Counters>,
    lower: Arc<Lower>,
    config: Arc<CacheConfig>,
}

impl PredictionCache {
    /// Builds the cache and opens its tiers. A tier that cannot start is disabled
    /// (logged, reported down by `stats`); a Redis tier connects in the background. Must be
    /// called inside a tokio runtime when Redis is configured. Blocking (opens files).
    pub fn new(config: CacheConfig) -> Self {
        let generations = Arc::new(Generations::new(config.redis.is_some()));
        let tiers = build::lower_tiers(&config, &generations);
        let cache = Self::with_tiers_and_generations(config, tiers, generations);
        if cache.config.redis.is_some() {
            cache.spawn_invalidation();
        }
        cache
    }

    /// Builds the cache over already-opened lower tiers (in read order), with no
    /// generations shared through Redis.
    pub fn with_tiers(config: CacheConfig, tiers: Vec<Box<dyn Tier>>) -> Self {
        Self::with_tiers_and_generations(config, tiers, Arc::new(Generations::new(false)))
    }

    fn with_tiers_and_generations(
        config: CacheConfig,
        tiers: Vec<Box<dyn Tier>>,
        generations: Arc<Generations>,
    ) -> Self {
        let config = Arc::new(config);
        let lower = Arc::new(Lower { tiers, generations });
        Self { memory: Arc::new(MemoryTier::new(&config)), counters: Arc::new(Counters::default()), lower, config }
    }

    /// Drops, from memory and the local lower tiers, every scope another replica
    /// cleared (announced by the generation counters), until the cache is dropped.
    fn spawn_invalidation(&self) {
        let mut changes = self.lower.generations.subscribe();
        let (memory, lower) = (Arc::downgrade(&self.memory), Arc::downgrade(&self.lower));
        tokio::spawn(async move {
            loop {
                let scope = match changes.recv().await {
                    Ok(scope) => scope,
                    Err(tokio::sync::broadcast::error::RecvError::Lagged(_)) => None,
                    Err(tokio::sync::broadcast::error::RecvError::Closed) => return,
                };
                let (Some(memory), Some(lower)) = (memory.upgrade(), lower.upgrade()) else { return };
                memory.clear(scope.as_deref());
                for tier in lower.tiers.iter().filter(|t| !t.is_shared()) {
                    let _ = tier.clear(scope.as_deref()).await;
                }
                tracing::info!(cleared = scope.as_deref().unwrap_or("all"), "cache cleared by another replica");
            }
        });
    }

    /// Returns the cached prediction for `key` from the first tier that has them, or
    /// runs `compute` and caches its result in every tier. Concurrent calls for the
    /// same key run at most one lookup chain (single-flight); the others wait for it.
    /// The flag is `true` when the value did not come from this call's `compute`.
    /// Errors are not cached.
    ///
    /// Errors: `compute`'s error, shared by every waiter.
    pub async fn get_or_compute<F, E>(&self, key: CacheKey, compute: F) -> Result<(Prediction, bool), Arc<E>>
    where
        F: std::future::Future<Output = Result<Prediction, E>>,
        E: Send + Sync + 'static,
    {
        let model = Arc::clone(&key.model);
        // Set when this call's own `compute` produced the value.
        let computed = Arc::new(AtomicBool::new(false));
        let init = {
            let (computed, lower, key) = (Arc::clone(&computed), Arc::clone(&self.lower), key.clone());
            let ttl = self.config.ttl_for(&key.model);
            async move {
                let stored = lower.stored_key(&key);
                if let Some(value) = lower.read(&stored, key.num_labels).await {
                    return Ok(value);
                }
                let value = Stamped::new(compute.await?, ttl);
                computed.store(true, Ordering::Relaxed);
                lower.write(&stored, &value);
                Ok(value)
            }
        };
        let (value, inserted) = self.memory.get_or_try_insert_with(key, init).await?;
        self.memory.counters.count(!inserted);
        if inserted {
            self.memory.counters.wrote();
        }
        let cached = !inserted || !computed.load(Ordering::Relaxed);
        self.count(&model, cached);
        Ok((value.prediction, cached))
    }

    /// The memory tier's values of every key, when all of them are there (each counted
    /// as a hit); `None`, counting nothing, when any is missing. The hit path of
    /// [`crate::service::Service::analyze`]: no task, no lower tier, no single-flight
    /// entry.
    pub async fn memory_hits(&self, keys: &[CacheKey]) -> Option<Vec<Prediction>> {
        let mut values = Vec::with_capacity(keys.len());
        for key in keys {
            values.push(self.memory.get(key).await?.prediction);
        }
        for key in keys {
            self.memory.counters.count(true);
            self.count(&key.model, true);
        }
        Some(values)
    }

    pub(crate) fn count(&self, model: &Arc<str>, cached: bool) {
        if cached {
            self.counters.hits.fetch_add(1, Ordering::Relaxed);
            self.counters.models.with(model, |c| c.hits.increment(1));
        } else {
            self.counters.misses.fetch_add(1, Ordering::Relaxed);
            self.counters.models.with(model, |c| c.misses.increment(1));
        }
    }

    /// Drops every entry, or one model's (all its identities), from every tier.
    /// Redis loses only this server's namespace. A tier that fails says so.
    pub async fn clear(&self, model: Option<&str>) -> Vec<TierClear> {
        self.memory.clear(model);
        let mut report = vec![TierClear { tier: "memory", ok: true, removed: None, error: None }];
        for tier in &self.lower.tiers {
            report.push(match tier.clear(model).await {
                Ok(removed) => TierClear { tier: tier.name(), ok: true, removed, error: None },
                Err(e) => TierClear { tier: tier.name(), ok: false, removed: None, error: Some(e.to_string()) },
            });
        }
        report
    }

    /// Waits until every queued lower-tier write is stored (used at shutdown).
    pub async fn flush(&self) {
        for tier in &self.lower.tiers {
            tier.flush().await;
        }
    }

    /// Current sizes and counters (runs pending maintenance first, so counts are exact).
    pub async fn stats(&self) -> CacheStats {
        let memory = self.memory.stats().await;
        let hits = self.counters.hits.load(Ordering::Relaxed);
        let misses = self.counters.misses.load(Ordering::Relaxed);
        let lookups = hits + misses;
        let mut tiers = vec![memory.clone()];
        for tier in &self.lower.tiers {
            tiers.push(tier.stats().await);
        }
        CacheStats {
            entries: memory.entries.unwrap_or(0),
            bytes: memory.bytes.unwrap_or(0),
            capacity_bytes: self.config.capacity_bytes,
            hits,
            token_hits: self.counters.token_hits.load(Ordering::Relaxed),
            misses,
            hit_rate: if lookups == 0 { 0.0 } else { hits as f64 / lookups as f64 },
            evictions: memory.evictions,
            expirations: self.memory.expirations.load(Ordering::Relaxed),
            ttl_secs: self.config.ttl.map(|d| d.as_secs_f64()),
            tti_secs: self.config.tti.map(|d| d.as_secs_f64()),
            tiers,
        }
    }
}

#[cfg(test)]
mod tests;

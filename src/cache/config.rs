//! Bounds and tiers of the prediction cache.

use std::collections::HashMap;
use std::time::Duration;

use super::disk::DiskConfig;
use super::redis::RedisConfig;
use crate::defaults;

/// Bounds and tiers of the cache.
#[derive(Debug, Clone)]
pub struct CacheConfig {
    /// Most bytes held in memory (keys + values + bookkeeping estimate); entries are
    /// evicted past it by TinyLFU.
    pub capacity_bytes: u64,
    /// Time to live: an entry expires this long after it was written (every tier).
    pub ttl: Option<Duration>,
    /// Per-model time to live, over `ttl` ([`crate::config::ServerConfig::cache_config`]
    /// fills it from the manifest's `cache_ttl_secs`).
    pub model_ttl: HashMap<String, Duration>,
    /// Time to idle: an entry expires this long after it was last read (memory only).
    pub tti: Option<Duration>,
    /// The disk tier, if enabled.
    pub disk: Option<DiskConfig>,
    /// The Redis tier, if enabled.
    pub redis: Option<RedisConfig>,
}

impl Default for CacheConfig {
    fn default() -> Self {
        Self {
            capacity_bytes: defaults::CACHE_MAX_BYTES,
            ttl: None,
            model_ttl: HashMap::new(),
            tti: None,
            disk: None,
            redis: None,
        }
    }
}

impl CacheConfig {
    /// The time to live of `model`'s entries: its own, else the cache's.
    pub fn ttl_for(&self, model: &str) -> Option<Duration> {
        self.model_ttl.get(model).copied().or(self.ttl)
    }
}

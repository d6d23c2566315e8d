//! Bounds and tiers of the prediction cache.

use std::time::Duration;

use super::disk::DiskConfig;
use super::redis::RedisConfig;
use crate::config::defaults;

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
        Self { capacity_bytes: defaults::CACHE_MAX_BYTES, ttl: None, tti: None, disk: None, redis: None }
    }
}

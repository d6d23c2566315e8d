//! The interface of a cache tier below memory (disk, Redis): stored keys and encoded
//! values in, bytes out. The front ([`super::PredictionCache`]) reads the tiers in
//! order and back-fills the ones above a hit, so adding a tier is one file plus one
//! line where the tiers are built.

use std::time::Duration;

use futures::future::BoxFuture;

use super::stats::{TierCounters, TierStats};

/// Why a tier operation failed.
#[derive(Debug, thiserror::Error)]
pub enum TierError {
    /// The tier's storage failed (its own error, e.g. a disk or Redis error).
    #[error("{source}")]
    Backend {
        /// The tier's name.
        tier: &'static str,
        /// The tier's error.
        source: Box<dyn std::error::Error + Send + Sync>,
    },
    /// The tier is not serving.
    #[error("the {tier} tier is down: {reason}")]
    Down {
        /// The tier's name.
        tier: &'static str,
        /// Why.
        reason: String,
    },
}

impl TierError {
    /// A failure of `tier`'s storage.
    pub fn backend(tier: &'static str, source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self::Backend { tier, source: source.into() }
    }

    /// The name of the tier that failed.
    pub fn tier(&self) -> &'static str {
        match self {
            Self::Backend { tier, .. } | Self::Down { tier, .. } => tier,
        }
    }
}

/// A cache tier below memory. Keys are [`super::codec::stored_key`]s; values are
/// [`super::codec::encode`]d records that carry their own expiry.
pub trait Tier: Send + Sync {
    /// `disk`, `redis`, …: the name in `GET /cache` and logs.
    fn name(&self) -> &'static str;

    /// Whether the tier is serving; a tier that is down is skipped (no latency).
    fn is_up(&self) -> bool;

    /// Whether every replica shares this tier (Redis): a clear another replica made
    /// has already reached it.
    fn is_shared(&self) -> bool {
        false
    }

    /// The tier's counters (the front counts hits, misses and read errors here).
    fn counters(&self) -> &TierCounters;

    /// The encoded value of `key`, `None` on a miss.
    ///
    /// Errors: [`TierError`]; the front counts it and treats it as a miss.
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, TierError>>;

    /// Queues a write (write-behind: never blocks the caller, never fails it); `ttl` is
    /// the time the value has left to live, for tiers that expire keys themselves.
    fn put(&self, key: &str, value: Vec<u8>, ttl: Option<Duration>);

    /// Deletes every entry, or one model's (`model`: its configured name); returns
    /// how many, where the tier can tell.
    ///
    /// Errors: [`TierError`]; some entries may remain.
    fn clear<'a>(&'a self, model: Option<&'a str>) -> BoxFuture<'a, Result<Option<u64>, TierError>>;

    /// Waits until every write queued so far is stored (used at shutdown).
    fn flush(&self) -> BoxFuture<'_, ()>;

    /// Counters, sizes where known, location, and why the tier is down.
    fn stats(&self) -> BoxFuture<'_, TierStats>;
}

/// A configured tier that could not start: reported as down with the reason, never
/// read or written.
pub struct Unavailable {
    name: &'static str,
    location: String,
    reason: String,
    counters: TierCounters,
}

impl Unavailable {
    /// A tier `name` at `location` that is down because of `reason`.
    pub fn new(name: &'static str, location: String, reason: String) -> Self {
        Self { name, location, reason, counters: TierCounters::default() }
    }
}

impl Tier for Unavailable {
    fn name(&self) -> &'static str {
        self.name
    }

    fn is_up(&self) -> bool {
        false
    }

    fn counters(&self) -> &TierCounters {
        &self.counters
    }

    fn get<'a>(&'a self, _key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, TierError>> {
        Box::pin(async move { Err(TierError::Down { tier: self.name, reason: self.reason.clone() }) })
    }

    fn put(&self, _key: &str, _value: Vec<u8>, _ttl: Option<Duration>) {}

    fn clear<'a>(&'a self, _model: Option<&'a str>) -> BoxFuture<'a, Result<Option<u64>, TierError>> {
        Box::pin(async move { Err(TierError::Down { tier: self.name, reason: self.reason.clone() }) })
    }

    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    fn stats(&self) -> BoxFuture<'_, TierStats> {
        Box::pin(async move {
            let mut stats = self.counters.snapshot(self.name, false);
            stats.location = Some(self.location.clone());
            stats.error = Some(self.reason.clone());
            stats
        })
    }
}

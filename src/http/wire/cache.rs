//! What `GET /cache` and `DELETE /cache` answer.

use serde::Serialize;

use crate::{cache, service};

/// One tier's state.
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

impl From<cache::TierStats> for TierStats {
    fn from(stats: cache::TierStats) -> Self {
        let cache::TierStats {
            tier,
            up,
            hits,
            misses,
            errors,
            writes,
            evictions,
            entries,
            bytes,
            capacity_bytes,
            location,
            error,
        } = stats;
        Self { tier, up, hits, misses, errors, writes, evictions, entries, bytes, capacity_bytes, location, error }
    }
}

/// Counters and sizes. The top-level figures describe the whole cache (hits: answered
/// without running the model; misses: ran the model, `no-cache` and `no-store`
/// requests included) and its memory tier's size; each tier counts its own lookups.
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

impl From<cache::CacheStats> for CacheStats {
    fn from(stats: cache::CacheStats) -> Self {
        let cache::CacheStats {
            entries,
            bytes,
            capacity_bytes,
            hits,
            token_hits,
            misses,
            hit_rate,
            evictions,
            expirations,
            ttl_secs,
            tti_secs,
            tiers,
        } = stats;
        Self {
            entries,
            bytes,
            capacity_bytes,
            hits,
            token_hits,
            misses,
            hit_rate,
            evictions,
            expirations,
            ttl_secs,
            tti_secs,
            tiers: tiers.into_iter().map(Into::into).collect(),
        }
    }
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

impl From<cache::TierClear> for TierClear {
    fn from(cache::TierClear { tier, ok, removed, error }: cache::TierClear) -> Self {
        Self { tier, ok, removed, error }
    }
}

/// The body of `DELETE /cache`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClearReport {
    /// `"all"` or the model's name.
    pub cleared: String,
    /// What happened in each tier (a tier that is down says so).
    pub tiers: Vec<TierClear>,
    /// Stats after clearing.
    pub cache: CacheStats,
}

impl From<service::ClearReport> for ClearReport {
    fn from(service::ClearReport { cleared, tiers, cache }: service::ClearReport) -> Self {
        Self { cleared, tiers: tiers.into_iter().map(Into::into).collect(), cache: cache.into() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tier(name: &'static str, up: bool) -> cache::TierStats {
        cache::TierStats {
            tier: name,
            up,
            hits: 1,
            misses: 2,
            errors: 3,
            writes: 4,
            evictions: 5,
            entries: up.then_some(6),
            bytes: up.then_some(7),
            capacity_bytes: up.then_some(8),
            location: up.then(|| "redis://***@host/0".into()),
            error: (!up).then(|| "connection refused".into()),
        }
    }

    #[test]
    fn a_clear_report_serializes_as_the_service_reports_it() {
        let stats = cache::CacheStats {
            entries: 1,
            bytes: 2,
            capacity_bytes: 3,
            hits: 4,
            token_hits: 1,
            misses: 5,
            hit_rate: 0.44,
            evictions: 6,
            expirations: 7,
            ttl_secs: Some(60.0),
            tti_secs: None,
            tiers: vec![tier("memory", true), tier("redis", false)],
        };
        let tiers = vec![
            cache::TierClear { tier: "memory", ok: true, removed: Some(3), error: None },
            cache::TierClear { tier: "redis", ok: false, removed: None, error: Some("down".into()) },
        ];
        let report = service::ClearReport { cleared: "all".into(), tiers, cache: stats };
        let expected = serde_json::to_value(&report).unwrap();
        assert_eq!(serde_json::to_value(ClearReport::from(report)).unwrap(), expected);
    }
}

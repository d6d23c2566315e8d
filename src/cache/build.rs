//! Opening the configured tiers below memory, in read order. Every configured tier is
//! in the list: one that cannot start (a disk directory that cannot hold the file, a
//! Redis URL or namespace that does not parse) is there as
//! [`Unavailable`](super::tier::Unavailable), so `GET /cache` shows it down with the
//! reason, whichever tier it is. Adding a tier is one file plus one block here.

use std::sync::Arc;

use super::disk::DiskTier;
use super::generation::Generations;
use super::redis::{redact, RedisTier};
use super::tier::{Tier, Unavailable};
use super::CacheConfig;

/// Opens the configured lower tiers in read order: disk, then Redis. A tier that
/// cannot start stays in the list as down, with the reason (and one log line).
pub(super) fn lower_tiers(config: &CacheConfig, generations: &Arc<Generations>) -> Vec<Box<dyn Tier>> {
    let mut tiers: Vec<Box<dyn Tier>> = Vec::new();
    if let Some(disk) = &config.disk {
        let location = disk.dir.display().to_string();
        tiers.push(match DiskTier::open(disk) {
            Ok(tier) => {
                tracing::info!(dir = %location, "disk cache tier enabled");
                Box::new(tier)
            }
            Err(e) => unavailable("disk", location, &e),
        });
    }
    if let Some(redis) = &config.redis {
        tiers.push(match RedisTier::start(redis.clone(), Arc::clone(generations)) {
            Ok(tier) => Box::new(tier),
            Err(e) => unavailable("redis", redact(&redis.url), &e),
        });
    }
    tiers
}

/// A tier that could not start, logged once.
fn unavailable(tier: &'static str, location: String, error: &dyn std::error::Error) -> Box<dyn Tier> {
    tracing::error!(location = %location, error = %error, "{tier} cache tier disabled");
    Box::new(Unavailable::new(tier, location, error.to_string()))
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::cache::disk::DiskConfig;
    use crate::cache::redis::RedisConfig;

    fn redis(url: &str, namespace: &str) -> RedisConfig {
        RedisConfig {
            url: url.into(),
            namespace: namespace.into(),
            connect_timeout: Duration::from_millis(100),
            command_timeout: Duration::from_millis(100),
            tls: Default::default(),
            password_file: None,
        }
    }

    #[tokio::test]
    async fn a_tier_that_cannot_start_is_listed_down_with_its_reason() {
        let file = tempfile::NamedTempFile::new().unwrap();
        let config = CacheConfig {
            disk: Some(DiskConfig { dir: file.path().join("under-a-file"), capacity_bytes: 1 << 20 }),
            redis: Some(redis("redis://user:secret@[not a host", "sentiserve")),
            ..CacheConfig::default()
        };
        let tiers = lower_tiers(&config, &Arc::new(Generations::new(true)));
        let names: Vec<_> = tiers.iter().map(|t| t.name()).collect();
        assert_eq!(names, ["disk", "redis"]);
        for tier in &tiers {
            let stats = tier.stats().await;
            assert!(!tier.is_up() && !stats.up, "{stats:?}");
            assert!(stats.error.as_deref().is_some_and(|e| !e.is_empty()), "{stats:?}");
            assert!(stats.location.is_some(), "{stats:?}");
        }
        let redis = tiers[1].stats().await;
        assert!(redis.error.unwrap().contains("invalid redis url"));
        assert!(!redis.location.unwrap().contains("secret"), "the password is redacted");
        assert!(tiers[1].get("k").await.is_err(), "a tier that never started answers Down");
    }

    #[tokio::test]
    async fn a_bad_redis_namespace_is_listed_down_too() {
        let config = CacheConfig { redis: Some(redis("redis://127.0.0.1:1", "no spaces")), ..CacheConfig::default() };
        let tiers = lower_tiers(&config, &Arc::new(Generations::new(true)));
        let stats = tiers[0].stats().await;
        assert_eq!((stats.tier, stats.up), ("redis", false));
        assert!(stats.error.unwrap().contains("namespace"));
    }
}

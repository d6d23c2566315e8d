//! L3: a Redis (or Valkey) tier shared by every replica: one server, Redis Cluster or
//! a master behind Sentinel, over TLS or not ([`target`], [`link`]).
//!
//! One multiplexed connection (a cluster: one per primary) is kept by a supervisor task, which connects in the
//! background (the server starts whether or not Redis is there), pings while
//! connected and marks the tier up or down. While the tier is down, lookups and
//! writes skip Redis entirely, so an outage adds no latency; while up, every command
//! has a timeout (`--redis-timeout-ms`), so a hung Redis adds at most that. Keys live
//! under `{namespace}:`, and clearing deletes only those (SCAN + UNLINK, on every
//! primary of a cluster), never the whole database.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::{Arc, RwLock};
use std::time::Duration;

use futures::future::BoxFuture;

mod clear;
mod cluster;
mod error;
mod keys;
mod link;
mod supervise;
pub mod target;

pub use error::RedisTierError;
pub use keys::{entry_key, entry_pattern};
use link::{Connector, Link};
use supervise::supervise;
pub use target::{Target, Topology};

use super::codec;
pub use super::config::{redact, RedisConfig, RedisTls};
use super::generation::{self, Generations};
use super::health::{Backoff, Health};
use super::stats::{TierCounters, TierStats};
use super::tier::{Tier, TierError};

/// The name of this tier in `GET /cache`, logs and errors.
const TIER: &str = "redis";
/// Pauses between connection attempts while Redis is unreachable: 100 ms, doubled up
/// to 1 s.
const RECONNECT: Backoff = Backoff { first: Duration::from_millis(100), max: Duration::from_secs(1) };
/// Pause between health pings while connected.
const PING_INTERVAL: Duration = Duration::from_millis(500);
/// Shortest time a ping may take before the tier counts as down.
const MIN_PING_TIMEOUT: Duration = Duration::from_millis(100);
/// Longest delay the connection manager waits between its own reconnect attempts.
const MANAGER_MAX_DELAY: Duration = Duration::from_millis(500);
/// Keys asked for per `SCAN` call when clearing.
const SCAN_COUNT: usize = 1000;

/// What the handle, the supervisor and background writes share.
struct Shared {
    connection: RwLock<Option<Link>>,
    /// Redis Cluster: a command failing for one key is that key's error, not an
    /// outage (the ping decides up or down).
    cluster: bool,
    /// Up (the last command or ping succeeded) or down, why, and the reconnect pause.
    health: Health,
    counters: TierCounters,
    config: RedisConfig,
    /// The URL without its password, for `/cache` and logs.
    display_url: String,
    /// The cluster's cache generations, polled with each ping.
    generations: Arc<Generations>,
}

/// Handle to the Redis tier; dropping it stops the supervisor.
pub struct RedisTier {
    shared: Arc<Shared>,
    supervisor: tokio::task::JoinHandle<()>,
}

impl Drop for RedisTier {
    fn drop(&mut self) {
        self.supervisor.abort();
    }
}

impl Shared {
    fn connection(&self) -> Option<Link> {
        if !self.health.is_up() {
            return None;
        }
        self.connection.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn full_key(&self, key: &str) -> Vec<u8> {
        entry_key(&self.config.namespace, key)
    }

    /// The hash holding the generation counters.
    fn generations_key(&self) -> String {
        format!("{}:generations", self.config.namespace)
    }

    /// Reads the generation counters on `connection` (and writes back any Redis lost).
    ///
    /// Errors: the client's error, or a timeout.
    async fn sync_generations(&self, connection: &mut Link) -> Result<(), String> {
        let timeout = self.config.command_timeout.max(MIN_PING_TIMEOUT);
        let key = self.generations_key();
        let mut read = redis::cmd("HGETALL");
        read.arg(&key);
        let remote = match tokio::time::timeout(timeout, read.query_async::<HashMap<String, u64>>(connection)).await {
            Ok(Ok(remote)) => remote,
            Ok(Err(e)) => return Err(e.to_string()),
            Err(_) => return Err("HGETALL timed out".into()),
        };
        for (field, value) in self.generations.observe(&remote) {
            let mut write = redis::cmd("HSET");
            write.arg(&key).arg(&field).arg(value);
            match tokio::time::timeout(timeout, write.query_async::<()>(connection)).await {
                Ok(Ok(())) => {}
                Ok(Err(e)) => return Err(e.to_string()),
                Err(_) => return Err("HSET timed out".into()),
            }
        }
        Ok(())
    }

    /// Why the tier is down (`not connected` while it is up but has no connection).
    fn last_error(&self) -> String {
        self.health.reason().unwrap_or_else(|| "not connected".into())
    }

    /// Runs a pipeline in one round trip with the command timeout; marks the tier down
    /// on failure, as [`Shared::run`].
    ///
    /// Errors: as [`Shared::run`].
    async fn run_pipe<T: redis::FromRedisValue>(
        &self,
        command: &'static str,
        pipe: &redis::Pipeline,
    ) -> Result<T, RedisTierError> {
        let mut connection = self.connection().ok_or_else(|| RedisTierError::Down(self.last_error()))?;
        self.bounded(command, pipe.query_async::<T>(&mut connection)).await
    }

    /// Awaits `query` (one command or a pipeline) for at most the command timeout;
    /// a failure is judged by [`Shared::failed`], a timeout takes the tier down.
    ///
    /// Errors: `Command` or `Timeout`.
    async fn bounded<T>(
        &self,
        command: &'static str,
        query: impl std::future::Future<Output = redis::RedisResult<T>>,
    ) -> Result<T, RedisTierError> {
        let timeout = self.config.command_timeout;
        match tokio::time::timeout(timeout, query).await {
            Ok(Ok(value)) => Ok(value),
            Ok(Err(source)) => Err(self.failed(command, source)),
            Err(_) => {
                let error = RedisTierError::Timeout { command, timeout };
                if !self.cluster {
                    self.health.mark_down(error.to_string());
                }
                Err(error)
            }
        }
    }

    /// The error of `command`. Redis refusing this one command (a key of another
    /// type, a write past `maxmemory`) is an error for this key, a miss or a dropped
    /// write, and reads of other keys go on; anything else is an outage (the tier
    /// goes down). In a cluster every failure is the key's own: the ping decides.
    fn failed(&self, command: &'static str, source: redis::RedisError) -> RedisTierError {
        let refused_one = self.cluster || refuses_one_command(&source);
        let error = RedisTierError::Command { command, source };
        if !refused_one {
            self.health.mark_down(error.to_string());
        }
        error
    }

    /// Runs one command with the command timeout; marks the tier down on failure.
    ///
    /// Errors: [`RedisTierError::Down`] while disconnected, `Command` or `Timeout`.
    async fn run<T: redis::FromRedisValue>(
        &self,
        command: &'static str,
        cmd: &redis::Cmd,
    ) -> Result<T, RedisTierError> {
        let mut connection = self.connection().ok_or_else(|| RedisTierError::Down(self.last_error()))?;
        self.bounded(command, cmd.query_async::<T>(&mut connection)).await
    }
}

/// Whether `error` is Redis's answer to one command about its data (`WRONGTYPE`,
/// `OOM`, …) rather than a sign that Redis is unusable (connection, authentication,
/// permissions, loading, a cluster or replica in trouble).
fn refuses_one_command(error: &redis::RedisError) -> bool {
    matches!(error.code(), Some("WRONGTYPE" | "OOM" | "ERR" | "EXECABORT"))
        && !error.is_io_error()
        && !error.is_unrecoverable_error()
}

impl RedisTier {
    /// Validates the URL, reads the password and certificate files, and starts the
    /// supervisor (which connects in the background). Must be called inside a tokio
    /// runtime.
    ///
    /// Errors: [`RedisTierError::Namespace`], or those of [`Target::parse`], or
    /// [`RedisTierError::Url`] for settings the client refuses.
    pub fn start(config: RedisConfig, generations: Arc<Generations>) -> Result<Self, RedisTierError> {
        if config.namespace.is_empty()
            || !config.namespace.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(RedisTierError::Namespace(config.namespace));
        }
        let target = Target::parse(&config)?;
        let cluster = target.topology == Topology::Cluster;
        let connector =
            Connector::new(target).map_err(|source| RedisTierError::Url { url: redact(&config.url), source })?;
        let display_url = redact(&config.url);
        let shared = Arc::new(Shared {
            connection: RwLock::new(None),
            cluster,
            health: Health::down(TIER, display_url.clone(), RECONNECT, "connecting"),
            counters: TierCounters::default(),
            display_url,
            config,
            generations,
        });
        let supervisor = tokio::spawn(supervise(Arc::clone(&shared), connector));
        Ok(Self { shared, supervisor })
    }
}

impl Tier for RedisTier {
    fn name(&self) -> &'static str {
        TIER
    }

    /// Whether the last command or ping succeeded.
    fn is_up(&self) -> bool {
        self.shared.health.is_up()
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn counters(&self) -> &TierCounters {
        &self.shared.counters
    }

    /// `GET` and `PTTL` in one round trip; the compact value comes back in the
    /// canonical form with the key's expiry (one Redis could not decode is returned
    /// as it is, and the codec refuses it).
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, TierError>> {
        Box::pin(async move {
            let full = self.shared.full_key(key);
            let mut pipe = redis::pipe();
            // Each command's own error comes back in its place (a key of another type
            // refuses GET and PTTL alike): a miss for this key, not an outage.
            pipe.cmd("GET").arg(&full).cmd("PTTL").arg(&full).ignore_errors();
            let backend = |e| TierError::backend(TIER, e);
            let replies = self.shared.run_pipe::<Vec<redis::RedisResult<redis::Value>>>("GET", &pipe).await;
            let mut replies = replies.map_err(backend)?.into_iter();
            let mut reply = |command| match replies.next() {
                Some(Ok(value)) => Ok(value),
                Some(Err(source)) => Err(backend(self.shared.failed(command, source))),
                None => Err(backend(
                    self.shared
                        .failed(command, redis::RedisError::from((redis::ErrorKind::UnexpectedReturnType, "no reply"))),
                )),
            };
            let (value, ttl) = (reply("GET")?, reply("PTTL")?);
            let convert =
                |e: redis::ParsingError| backend(RedisTierError::Command { command: "GET", source: e.into() });
            let value: Option<Vec<u8>> = redis::from_redis_value(value).map_err(convert)?;
            let ttl_ms: i64 = redis::from_redis_value(ttl).map_err(convert)?;
            let expires_at = if ttl_ms > 0 { codec::now_ms() + ttl_ms as u64 } else { 0 };
            Ok(value.map(|bytes| codec::from_compact(&bytes, expires_at).unwrap_or(bytes)))
        })
    }

    /// Writes the compact value in the background (never delays the caller), with
    /// `PX ttl` if given.
    fn put(&self, key: &str, value: Vec<u8>, ttl: Option<Duration>) {
        if !self.is_up() {
            return;
        }
        let Some(value) = codec::compact(&value) else {
            self.shared.counters.error(1);
            return;
        };
        let shared = Arc::clone(&self.shared);
        let mut cmd = redis::cmd("SET");
        cmd.arg(shared.full_key(key)).arg(value);
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(ttl.as_millis().max(1) as u64);
        }
        tokio::spawn(async move {
            match shared.run::<()>("SET", &cmd).await {
                Ok(()) => {
                    shared.counters.writes.fetch_add(1, Ordering::Relaxed);
                }
                Err(_) => shared.counters.error(1),
            }
        });
    }

    /// Invalidates the scope on every replica (`HINCRBY` of its generation counter:
    /// O(1), and every replica drops it locally within a ping), then frees Redis of
    /// the scope's keys (all, or one model's) by `SCAN` + `UNLINK`.
    fn clear<'a>(&'a self, model: Option<&'a str>) -> BoxFuture<'a, Result<Option<u64>, TierError>> {
        Box::pin(async move { self.clear_scope(model).await.map(Some).map_err(|e| TierError::backend(TIER, e)) })
    }

    /// Writes are fire-and-forget; nothing to wait for.
    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    /// Counters and up/down; Redis cannot cheaply count one namespace, so no sizes.
    fn stats(&self) -> BoxFuture<'_, TierStats> {
        Box::pin(async move {
            let mut stats = self.shared.counters.snapshot(TIER, self.is_up());
            stats.location = Some(self.shared.display_url.clone());
            if !stats.up {
                stats.error = Some(self.shared.last_error());
            }
            stats
        })
    }
}

//! L3: a Redis (or Valkey) tier shared by every replica.
//!
//! One multiplexed connection (the `redis` crate's `ConnectionManager`) is kept by a
//! supervisor task, which connects in the background (the server starts whether or
//! not Redis is there), pings while connected and marks the tier up or down. While
//! the tier is down, lookups and writes skip Redis entirely, so an outage adds no
//! latency; while up, every command has a timeout (`--redis-timeout-ms`), so a hung
//! Redis adds at most that. Keys live under `{namespace}:`, and clearing deletes
//! only those (SCAN + UNLINK), never the whole database.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};

use super::{TierCounters, TierStats};

/// Connection settings.
#[derive(Debug, Clone)]
pub struct RedisConfig {
    /// `redis://[user:password@]host:port[/db]` (or `rediss://` where TLS is built in).
    pub url: String,
    /// Prefix of every key this server writes; letters, digits, `-`, `_`, `.`.
    pub namespace: String,
    /// Most time to establish a connection.
    pub connect_timeout: Duration,
    /// Most time one command may take before it counts as an error.
    pub command_timeout: Duration,
}

struct Shared {
    connection: RwLock<Option<ConnectionManager>>,
    up: AtomicBool,
    counters: TierCounters,
    config: RedisConfig,
    /// The URL without its password, for `/cache` and logs.
    display_url: String,
    last_error: RwLock<Option<String>>,
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

/// Replaces the password of a URL with `***`.
fn redact(url: &str) -> String {
    match (url.find("://"), url.rfind('@')) {
        (Some(scheme), Some(at)) if at > scheme => {
            let userinfo = &url[scheme + 3..at];
            let user = userinfo.split(':').next().unwrap_or("");
            format!("{}{}:***{}", &url[..scheme + 3], user, &url[at..])
        }
        _ => url.to_string(),
    }
}

impl Shared {
    fn mark(&self, up: bool, error: Option<String>) {
        let was = self.up.swap(up, Ordering::SeqCst);
        if up && !was {
            tracing::info!(url = %self.display_url, "redis cache tier is up");
        } else if !up && was {
            tracing::warn!(
                url = %self.display_url,
                error = error.as_deref().unwrap_or("unknown"),
                "redis cache tier is down; serving without it and reconnecting in the background"
            );
        }
        if let Some(e) = error {
            *self.last_error.write().unwrap_or_else(|p| p.into_inner()) = Some(e);
        }
    }

    fn connection(&self) -> Option<ConnectionManager> {
        if !self.up.load(Ordering::Relaxed) {
            return None;
        }
        self.connection.read().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn full_key(&self, key: &str) -> String {
        format!("{}:{key}", self.config.namespace)
    }

    /// Runs one command with the command timeout; marks the tier down on failure.
    async fn run<T: redis::FromRedisValue>(&self, cmd: &redis::Cmd) -> Option<T> {
        let mut connection = self.connection()?;
        match tokio::time::timeout(self.config.command_timeout, cmd.query_async::<T>(&mut connection)).await {
            Ok(Ok(value)) => Some(value),
            Ok(Err(e)) => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                self.mark(false, Some(e.to_string()));
                None
            }
            Err(_) => {
                self.counters.errors.fetch_add(1, Ordering::Relaxed);
                self.mark(false, Some(format!("command timed out after {:?}", self.config.command_timeout)));
                None
            }
        }
    }
}

impl RedisTier {
    /// Validates the URL and starts the supervisor (which connects in the background).
    /// Must be called inside a tokio runtime.
    ///
    /// Errors: a malformed URL or namespace.
    pub fn start(config: RedisConfig) -> Result<Self, String> {
        if config.namespace.is_empty()
            || !config.namespace.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
        {
            return Err(format!("invalid redis namespace `{}`", config.namespace));
        }
        let client = redis::Client::open(config.url.as_str())
            .map_err(|e| format!("invalid redis url {}: {e}", redact(&config.url)))?;
        let shared = Arc::new(Shared {
            connection: RwLock::new(None),
            up: AtomicBool::new(false),
            counters: TierCounters::default(),
            display_url: redact(&config.url),
            config,
            last_error: RwLock::new(Some("connecting".into())),
        });
        let supervisor = tokio::spawn(supervise(Arc::clone(&shared), client));
        Ok(Self { shared, supervisor })
    }

    /// This tier's counters.
    pub fn counters(&self) -> &TierCounters {
        &self.shared.counters
    }

    /// Whether the last command or ping succeeded.
    pub fn is_up(&self) -> bool {
        self.shared.up.load(Ordering::Relaxed)
    }

    /// Reads the encoded value of `key`; `None` on a miss, an error or while down.
    pub async fn get(&self, key: &str) -> Option<Vec<u8>> {
        self.shared.run::<Option<Vec<u8>>>(redis::cmd("GET").arg(self.shared.full_key(key))).await.flatten()
    }

    /// Writes in the background (never delays the caller), with a TTL in ms if given.
    pub fn put(&self, key: &str, value: Vec<u8>, ttl: Option<Duration>) {
        if !self.is_up() {
            return;
        }
        let shared = Arc::clone(&self.shared);
        let mut cmd = redis::cmd("SET");
        cmd.arg(shared.full_key(key)).arg(value);
        if let Some(ttl) = ttl {
            cmd.arg("PX").arg(ttl.as_millis().max(1) as u64);
        }
        tokio::spawn(async move {
            if shared.run::<()>(&cmd).await.is_some() {
                shared.counters.writes.fetch_add(1, Ordering::Relaxed);
            }
        });
    }

    /// Deletes this server's keys (all, or those of one model prefix); returns how many.
    ///
    /// Errors: Redis is down or a command failed; some keys may remain.
    pub async fn clear(&self, prefix: Option<&str>) -> Result<u64, String> {
        let pattern = format!("{}:{}*", self.shared.config.namespace, prefix.unwrap_or(""));
        let mut cursor: u64 = 0;
        let mut removed = 0u64;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(1000);
            let (next, keys): (u64, Vec<String>) =
                self.shared.run(&scan).await.ok_or_else(|| self.unavailable("SCAN"))?;
            if !keys.is_empty() {
                let mut unlink = redis::cmd("UNLINK");
                unlink.arg(&keys);
                removed += self.shared.run::<u64>(&unlink).await.ok_or_else(|| self.unavailable("UNLINK"))?;
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    fn unavailable(&self, what: &str) -> String {
        let last = self.shared.last_error.read().unwrap_or_else(|p| p.into_inner()).clone();
        format!("redis {what} failed: {}", last.unwrap_or_else(|| "tier is down".into()))
    }

    /// Counters and up/down; Redis cannot cheaply count one namespace, so no sizes.
    pub fn stats(&self) -> TierStats {
        let mut stats = self.shared.counters.snapshot("redis", self.is_up());
        stats.location = Some(self.shared.display_url.clone());
        if !stats.up {
            stats.error = self.shared.last_error.read().unwrap_or_else(|p| p.into_inner()).clone();
        }
        stats
    }
}

/// Keeps a connection: connects with backoff while there is none, pings while there is.
async fn supervise(shared: Arc<Shared>, client: redis::Client) {
    let config = ConnectionManagerConfig::new()
        .set_connection_timeout(Some(shared.config.connect_timeout))
        .set_response_timeout(Some(shared.config.command_timeout))
        .set_number_of_retries(1)
        .set_max_delay(Duration::from_millis(500));
    let mut backoff = Duration::from_millis(100);
    loop {
        let existing = shared.connection.read().unwrap_or_else(|p| p.into_inner()).clone();
        match existing {
            None => {
                let attempt = tokio::time::timeout(
                    shared.config.connect_timeout * 2,
                    ConnectionManager::new_with_config(client.clone(), config.clone()),
                )
                .await;
                match attempt {
                    Ok(Ok(connection)) => {
                        *shared.connection.write().unwrap_or_else(|p| p.into_inner()) = Some(connection);
                        shared.mark(true, None);
                        backoff = Duration::from_millis(100);
                    }
                    Ok(Err(e)) => shared.mark(false, Some(e.to_string())),
                    Err(_) => shared.mark(false, Some("connect timed out".into())),
                }
            }
            Some(mut connection) => {
                let ping = tokio::time::timeout(
                    shared.config.command_timeout.max(Duration::from_millis(100)),
                    redis::cmd("PING").query_async::<String>(&mut connection),
                )
                .await;
                match ping {
                    Ok(Ok(_)) => {
                        shared.mark(true, None);
                        backoff = Duration::from_millis(100);
                    }
                    Ok(Err(e)) => shared.mark(false, Some(e.to_string())),
                    Err(_) => shared.mark(false, Some("ping timed out".into())),
                }
            }
        }
        let pause = if shared.up.load(Ordering::Relaxed) { Duration::from_millis(500) } else { backoff };
        backoff = (backoff * 2).min(Duration::from_secs(1));
        tokio::time::sleep(pause).await;
    }
}

#[cfg(test)]
mod tests {
    use super::redact;

    #[test]
    fn passwords_never_reach_logs() {
        assert_eq!(redact("redis://user:secret@host:6379/0"), "redis://user:***@host:6379/0");
        assert_eq!(redact("redis://:secret@host"), "redis://:***@host");
        assert_eq!(redact("redis://host:6379"), "redis://host:6379");
    }
}

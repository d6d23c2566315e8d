//! Why the Redis tier cannot start, or a command failed.

use std::time::Duration;

/// Why the Redis tier cannot start, or a command failed.
#[derive(Debug, thiserror::Error)]
pub enum RedisTierError {
    /// `--redis-namespace` has characters other than letters, digits, `-`, `_`, `.`.
    #[error("invalid redis namespace `{0}`")]
    Namespace(String),
    /// `--redis-url` does not parse.
    #[error("invalid redis url {url}: {source}")]
    Url {
        /// The URL, password redacted.
        url: String,
        /// The client's error.
        source: redis::RedisError,
    },
    /// A command failed.
    #[error("redis {command} failed: {source}")]
    Command {
        /// `GET`, `SET`, `SCAN`, …
        command: &'static str,
        /// The client's error.
        source: redis::RedisError,
    },
    /// A command took longer than `--redis-timeout-ms`.
    #[error("redis {command} timed out after {timeout:?}")]
    Timeout {
        /// `GET`, `SET`, `SCAN`, …
        command: &'static str,
        /// The command timeout.
        timeout: Duration,
    },
    /// The tier is down (not connected).
    #[error("redis is unreachable: {0}")]
    Down(String),
}

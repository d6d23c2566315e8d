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
    /// `--redis-url` is not in one of the supported forms.
    #[error("invalid redis url {url}: {reason}")]
    BadUrl {
        /// The URL, password redacted.
        url: String,
        /// What is wrong with it.
        reason: String,
    },
    /// A password or certificate file cannot be read.
    #[error("cannot read {what} {path}: {source}")]
    File {
        /// The flag that names the file.
        what: &'static str,
        /// The file.
        path: std::path::PathBuf,
        /// The I/O error.
        source: std::io::Error,
    },
    /// The password cannot be used (never the password itself).
    #[error("redis password refused: {0}")]
    Password(&'static str),
    /// Certificate files were given for a URL without TLS.
    #[error("--redis-ca-cert, --redis-client-cert and --redis-client-key need a rediss:// URL")]
    TlsNeedsRediss,
    /// The certificate files do not go together.
    #[error("redis TLS files: {0}")]
    TlsFiles(&'static str),
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

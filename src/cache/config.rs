//! Bounds and tiers of the prediction cache.

use std::collections::HashMap;
use std::time::Duration;

use super::disk::DiskConfig;
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
    /// Whether a text that misses is looked up again by its token ids
    /// ([`super::lookup`]); on by default.
    pub token_keys: bool,
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
            token_keys: true,
        }
    }
}

impl CacheConfig {
    /// The time to live of `model`'s entries: its own, else the cache's.
    pub fn ttl_for(&self, model: &str) -> Option<Duration> {
        self.model_ttl.get(model).copied().or(self.ttl)
    }
}

/// Connection settings.
#[derive(Clone)]
pub struct RedisConfig {
    /// Where Redis is, in one of the forms of [`super::redis::Target::parse`]:
    /// `redis://` (standalone), `rediss://` (over TLS), `redis+cluster://` or
    /// `redis+sentinel://` (each also with `rediss+`).
    pub url: String,
    /// Prefix of every key this server writes; letters, digits, `-`, `_`, `.`.
    pub namespace: String,
    /// Most time to establish a connection.
    pub connect_timeout: Duration,
    /// Most time one command may take before it counts as an error.
    pub command_timeout: Duration,
    /// Certificates for a `rediss` URL.
    pub tls: RedisTls,
    /// A file holding the password (its first line), so none sits in the URL, `ps` or
    /// a manifest. Refused when empty, or when the URL has a password too.
    pub password_file: Option<std::path::PathBuf>,
}

/// Certificate files for TLS to Redis (PEM). Without a CA, the system's roots.
#[derive(Debug, Clone, Default)]
pub struct RedisTls {
    /// The CA that signed the server's certificate (a private CA).
    pub ca_cert: Option<std::path::PathBuf>,
    /// This client's certificate, for mutual TLS (with `client_key`).
    pub client_cert: Option<std::path::PathBuf>,
    /// The key of `client_cert` (PKCS#8, PKCS#1 or SEC1 PEM).
    pub client_key: Option<std::path::PathBuf>,
}

impl std::fmt::Debug for RedisConfig {
    /// Shows the URL with its password replaced ([`redact`]), so no log line or panic
    /// message can carry it.
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("RedisConfig")
            .field("url", &redact(&self.url))
            .field("namespace", &self.namespace)
            .field("connect_timeout", &self.connect_timeout)
            .field("command_timeout", &self.command_timeout)
            .field("tls", &self.tls)
            .field("password_file", &self.password_file)
            .finish()
    }
}

/// `url` with the password of its user information (`scheme://user:PASSWORD@host`)
/// replaced by `***`; a URL without one is returned as is.
pub fn redact(url: &str) -> String {
    let Some(scheme_end) = url.find("://").map(|i| i + 3) else { return url.to_string() };
    let authority_end = url[scheme_end..].find(['/', '?', '#']).map_or(url.len(), |i| scheme_end + i);
    let Some(at) = url[scheme_end..authority_end].rfind('@').map(|i| scheme_end + i) else {
        return url.to_string();
    };
    let userinfo = &url[scheme_end..at];
    let user = userinfo.split_once(':').map_or(userinfo, |(user, _)| user);
    // Without a colon the user information may still be a password to some clients.
    let shown = if userinfo.contains(':') { format!("{user}:***") } else { "***".to_string() };
    format!("{}{shown}{}", &url[..scheme_end], &url[at..])
}

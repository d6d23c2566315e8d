//! What the server runs with, from any front end (CLI, tests, embedding).

use std::time::Duration;

use super::manifest::{Catalog, ConfigError};
use super::secret::Secret;
use crate::batch::BatchConfig;
use crate::cache::CacheConfig;
use crate::defaults;
use crate::model::DeviceSpec;
use crate::registry::RegistryBounds;

/// Request limits of the HTTP API.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body, bytes (413 above).
    pub max_body_bytes: usize,
    /// Most texts in one `POST /analyze` (413 above).
    pub max_texts: usize,
    /// A request's deadline unless it sends `X-Request-Timeout-Ms` (`None`: none).
    pub request_timeout: Option<Duration>,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_body_bytes: defaults::MAX_BODY_BYTES, max_texts: defaults::MAX_TEXTS, request_timeout: None }
    }
}

/// How client connections are accepted, read and drained.
#[derive(Debug, Clone)]
pub struct ConnectionLimits {
    /// Most time to receive a request's headers (idle keep-alive connections included,
    /// and clients that read nothing of an answer for as long).
    pub header_read_timeout: Duration,
    /// Most time to receive a request's whole body, from its first read.
    pub body_read_timeout: Duration,
    /// Most open connections.
    pub max_connections: usize,
    /// Largest request head, bytes (431 above).
    pub max_header_bytes: usize,
    /// How long a shutdown waits for open requests before exiting.
    pub shutdown_grace: Duration,
}

impl Default for ConnectionLimits {
    fn default() -> Self {
        Self {
            header_read_timeout: Duration::from_millis(defaults::HEADER_READ_TIMEOUT_MS),
            body_read_timeout: Duration::from_millis(defaults::BODY_READ_TIMEOUT_MS),
            max_connections: defaults::MAX_CONNECTIONS,
            max_header_bytes: defaults::MAX_HEADER_BYTES,
            shutdown_grace: Duration::from_secs(defaults::SHUTDOWN_GRACE_SECS),
        }
    }
}

/// API keys and CORS of the HTTP layer.
#[derive(Debug, Clone, Default)]
pub struct HttpConfig {
    /// Protects inference and read routes (`Authorization: Bearer KEY`). Must not be
    /// empty ([`crate::App::new`] refuses it).
    pub api_key: Option<Secret>,
    /// Protects loading/unloading models and clearing the cache. Must not be empty.
    pub admin_key: Option<Secret>,
    /// Origins allowed by CORS (`*` for any); empty: no CORS headers.
    pub cors_origins: Vec<axum::http::HeaderValue>,
}

/// Everything the server needs. Its `Debug` hides the keys and the Redis password.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Configured models and the default.
    pub catalog: Catalog,
    /// Models loaded at startup; readiness waits for them.
    pub preload: Vec<String>,
    /// Where weights live.
    pub device: DeviceSpec,
    /// Dtype of the linear layers unless a model's settings name another.
    pub dtype: crate::model::Dtype,
    /// Prediction-cache bounds and tiers.
    pub cache: CacheConfig,
    /// Dynamic-batching limits (models' manifest settings override them).
    pub batch: BatchConfig,
    /// How many models and bytes may be loaded at once; idle unload.
    pub registry: RegistryBounds,
    /// HTTP request limits.
    pub limits: Limits,
    /// API keys and CORS.
    pub http: HttpConfig,
    /// Connection timeouts, limit and shutdown grace.
    pub connections: ConnectionLimits,
}

impl ServerConfig {
    /// The prediction cache's configuration: [`ServerConfig::cache`] with each model's
    /// own time to live (a manifest's `cache_ttl_secs`) over the cache's, both read
    /// from this configuration, so neither is patched in later.
    pub fn cache_config(&self) -> CacheConfig {
        let mut cache = self.cache.clone();
        cache.model_ttl.extend(
            self.catalog.models.iter().filter_map(|spec| spec.settings.cache_ttl.map(|ttl| (spec.name.clone(), ttl))),
        );
        cache
    }

    /// A configuration with defaults around `catalog`, preloading the default model.
    pub fn new(catalog: Catalog) -> Self {
        Self {
            preload: vec![catalog.default.clone()],
            catalog,
            device: DeviceSpec::Cpu,
            dtype: crate::model::Dtype::F32,
            cache: CacheConfig::default(),
            batch: BatchConfig::default(),
            registry: RegistryBounds::default(),
            limits: Limits::default(),
            http: HttpConfig::default(),
            connections: ConnectionLimits::default(),
        }
    }
}

impl HttpConfig {
    /// Checks that no key is empty or blank (one that could never be presented, which
    /// earlier versions took as "no key").
    ///
    /// Errors: [`ConfigError::EmptyKey`].
    pub fn validate(&self) -> Result<(), ConfigError> {
        for (what, key) in [("api_key", &self.api_key), ("admin_key", &self.admin_key)] {
            if key.as_ref().is_some_and(|k| k.expose().trim().is_empty()) {
                return Err(ConfigError::EmptyKey { what: format!("the configured {what}") });
            }
        }
        Ok(())
    }
}

//! What the server runs with, from any front end (CLI, tests, embedding).

use super::defaults;
use super::manifest::Catalog;
use crate::batch::BatchConfig;
use crate::cache::CacheConfig;
use crate::model::DeviceSpec;

/// Request limits of the HTTP API.
#[derive(Debug, Clone)]
pub struct Limits {
    /// Largest request body, bytes (413 above).
    pub max_body_bytes: usize,
    /// Most texts in one `POST /analyze` (413 above).
    pub max_texts: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self { max_body_bytes: defaults::MAX_BODY_BYTES, max_texts: defaults::MAX_TEXTS }
    }
}

/// API keys and CORS of the HTTP layer.
#[derive(Debug, Clone, Default)]
pub struct HttpConfig {
    /// Protects inference and read routes (`Authorization: Bearer KEY`).
    pub api_key: Option<String>,
    /// Protects loading/unloading models and clearing the cache.
    pub admin_key: Option<String>,
    /// Origins allowed by CORS (`*` for any); empty: no CORS headers.
    pub cors_origins: Vec<axum::http::HeaderValue>,
}

/// Everything the server needs.
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Configured models and the default.
    pub catalog: Catalog,
    /// Models loaded at startup; readiness waits for them.
    pub preload: Vec<String>,
    /// Where weights live.
    pub device: DeviceSpec,
    /// Prediction-cache bounds and tiers.
    pub cache: CacheConfig,
    /// Dynamic-batching limits.
    pub batch: BatchConfig,
    /// HTTP request limits.
    pub limits: Limits,
    /// API keys and CORS.
    pub http: HttpConfig,
}

impl ServerConfig {
    /// A configuration with defaults around `catalog`, preloading the default model.
    pub fn new(catalog: Catalog) -> Self {
        Self {
            preload: vec![catalog.default.clone()],
            catalog,
            device: DeviceSpec::Cpu,
            cache: CacheConfig::default(),
            batch: BatchConfig::default(),
            limits: Limits::default(),
            http: HttpConfig::default(),
        }
    }
}

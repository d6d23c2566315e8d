//! Flags + environment + `models/models.toml` → one [`ServerConfig`].

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Args;
use serde::Deserialize;

use crate::batch::BatchConfig;
use crate::cache::disk::DiskConfig;
use crate::cache::redis::RedisConfig;
use crate::cache::CacheConfig;
use crate::model::{DeviceSpec, ModelError, ModelSource};
use crate::registry::ModelSpec;

/// The manifest shipped with the binary, used when no `models/models.toml` is found.
pub const EMBEDDED_MANIFEST: &str = include_str!("../models/models.toml");
/// Where the manifest is looked for when `--models-file` is not given.
pub const DEFAULT_MANIFEST_PATH: &str = "models/models.toml";

/// A configuration mistake, reported before anything starts.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    /// The manifest cannot be read or parsed.
    #[error("manifest {path}: {message}")]
    Manifest {
        /// The manifest path.
        path: String,
        /// What is wrong.
        message: String,
    },
    /// A `--model` value is malformed.
    #[error("--model `{0}`: expected NAME=SOURCE with NAME made of letters, digits, '-', '_' or '.'")]
    ModelArg(String),
    /// A model source does not parse.
    #[error("model `{name}`: {source}")]
    Source {
        /// The model's name.
        name: String,
        /// The parse error.
        source: ModelError,
    },
    /// A `--cors-origin` is not a valid header value.
    #[error("--cors-origin `{0}` is not a valid origin")]
    CorsOrigin(String),
    /// A name refers to no configured model.
    #[error("{what} `{name}` is not a configured model (configured: {known})")]
    UnknownName {
        /// Which setting named it.
        what: &'static str,
        /// The name.
        name: String,
        /// Configured names.
        known: String,
    },
}

/// Which models exist and which one is the default.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Model manifest (TOML). Default: ./models/models.toml if present, else the
    /// manifest built into the binary.
    #[arg(long, env = "SENTISERVE_MODELS_FILE", value_name = "PATH")]
    pub models_file: Option<PathBuf>,
    /// Add or override a named model: NAME=SOURCE, where SOURCE is a local directory or
    /// a Hub id org/name[@revision]. Repeatable; comma-separated in the environment.
    #[arg(long = "model", env = "SENTISERVE_MODEL", value_name = "NAME=SOURCE", value_delimiter = ',')]
    pub models: Vec<String>,
    /// The model used when a request names none.
    #[arg(long = "default", env = "SENTISERVE_DEFAULT_MODEL", value_name = "NAME")]
    pub default_model: Option<String>,
    /// Device: auto, cpu, cuda, cuda:N or metal (cuda/metal need the Cargo feature).
    #[arg(long, env = "SENTISERVE_DEVICE", default_value = "cpu")]
    pub device: DeviceSpec,
}

/// The configured models.
#[derive(Debug, Clone)]
pub struct Catalog {
    /// Every named model, sorted by name.
    pub models: Vec<ModelSpec>,
    /// The default model's name.
    pub default: String,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct Manifest {
    default: Option<String>,
    #[serde(default)]
    models: BTreeMap<String, ManifestEntry>,
}

#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
struct ManifestEntry {
    source: String,
}

fn valid_name(name: &str) -> bool {
    !name.is_empty() && name.chars().all(|c| c.is_ascii_alphanumeric() || "-_.".contains(c))
}

impl ModelArgs {
    /// Reads the manifest and applies `--model` and `--default`.
    ///
    /// Errors: [`ConfigError`] for an unreadable manifest, a malformed `--model`, a bad
    /// source, or a default that names no model.
    pub fn catalog(&self) -> Result<Catalog, ConfigError> {
        let (text, origin, base) = match &self.models_file {
            Some(path) => (read_manifest(path)?, path.display().to_string(), path.parent().map(Path::to_path_buf)),
            None if Path::new(DEFAULT_MANIFEST_PATH).is_file() => {
                let path = Path::new(DEFAULT_MANIFEST_PATH);
                (read_manifest(path)?, DEFAULT_MANIFEST_PATH.to_string(), path.parent().map(Path::to_path_buf))
            }
            None => (EMBEDDED_MANIFEST.to_string(), "(built-in)".to_string(), None),
        };
        let manifest: Manifest = toml::from_str(&text)
            .map_err(|e| ConfigError::Manifest { path: origin.clone(), message: e.to_string() })?;
        let mut sources: BTreeMap<String, ModelSource> = BTreeMap::new();
        for (name, entry) in manifest.models {
            if !valid_name(&name) {
                return Err(ConfigError::Manifest { path: origin, message: format!("invalid model name `{name}`") });
            }
            let relative = entry.source.starts_with("./") || entry.source.starts_with("../");
            let raw = match (&base, relative) {
                (Some(base), true) => base.join(&entry.source).display().to_string(),
                _ => entry.source.clone(),
            };
            let source =
                ModelSource::parse(&raw).map_err(|source| ConfigError::Source { name: name.clone(), source })?;
            sources.insert(name, source);
        }
        for arg in &self.models {
            let (name, raw) = arg.split_once('=').ok_or_else(|| ConfigError::ModelArg(arg.clone()))?;
            let name = name.trim();
            if !valid_name(name) {
                return Err(ConfigError::ModelArg(arg.clone()));
            }
            let source = ModelSource::parse(raw).map_err(|source| ConfigError::Source { name: name.into(), source })?;
            sources.insert(name.to_string(), source);
        }
        let default = self
            .default_model
            .clone()
            .or(manifest.default)
            .or_else(|| (sources.len() == 1).then(|| sources.keys().next().cloned()).flatten())
            .unwrap_or_else(|| "sentiment".to_string());
        let known = sources.keys().cloned().collect::<Vec<_>>().join(", ");
        if !sources.contains_key(&default) {
            return Err(ConfigError::UnknownName { what: "default model", name: default, known });
        }
        let models = sources.into_iter().map(|(name, source)| ModelSpec { name, source }).collect();
        Ok(Catalog { models, default })
    }
}

fn read_manifest(path: &Path) -> Result<String, ConfigError> {
    std::fs::read_to_string(path)
        .map_err(|e| ConfigError::Manifest { path: path.display().to_string(), message: e.to_string() })
}

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
        Self { max_body_bytes: 2 * 1024 * 1024, max_texts: 1024 }
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

/// Everything the server needs, from any front end (CLI, tests, embedding).
#[derive(Debug, Clone)]
pub struct ServerConfig {
    /// Configured models and the default.
    pub catalog: Catalog,
    /// Models loaded at startup; `/health` is 503 until all are loaded.
    pub preload: Vec<String>,
    /// Where weights live.
    pub device: DeviceSpec,
    /// Prediction-cache bounds.
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

/// `sentiserve serve` flags.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    #[command(flatten)]
    pub models: ModelArgs,
    /// Address to bind. Default: 127.0.0.1 (loopback only) without keys, 0.0.0.0 when
    /// --api-key or --admin-key is set.
    #[arg(long, env = "SENTISERVE_HOST")]
    pub host: Option<String>,
    /// Port to bind.
    #[arg(long, env = "SENTISERVE_PORT", default_value_t = 8080)]
    pub port: u16,
    /// Models to load at startup, comma-separated. Default: the default model;
    /// `none` loads nothing until first use.
    #[arg(long, env = "SENTISERVE_PRELOAD", value_delimiter = ',')]
    pub preload: Vec<String>,
    /// Prediction-cache capacity in bytes.
    #[arg(long, env = "SENTISERVE_CACHE_MAX_BYTES", default_value_t = 256 * 1024 * 1024)]
    pub cache_max_bytes: u64,
    /// Cache time-to-live in seconds (entries expire this long after being written).
    #[arg(long, env = "SENTISERVE_CACHE_TTL_SECS")]
    pub cache_ttl_secs: Option<u64>,
    /// Cache time-to-idle in seconds (entries expire this long after the last read).
    #[arg(long, env = "SENTISERVE_CACHE_TTI_SECS")]
    pub cache_tti_secs: Option<u64>,
    /// Enable the disk cache tier in this directory (survives restarts).
    #[arg(long, env = "SENTISERVE_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Disk cache tier capacity in bytes.
    #[arg(long, env = "SENTISERVE_CACHE_DISK_MAX_BYTES", default_value_t = 1024 * 1024 * 1024)]
    pub cache_disk_max_bytes: u64,
    /// Enable the Redis cache tier shared by replicas: redis://[user:password@]host:port[/db].
    #[arg(long, env = "SENTISERVE_REDIS_URL", value_name = "URL")]
    pub redis_url: Option<String>,
    /// Prefix of every Redis key this server writes (and clears).
    #[arg(long, env = "SENTISERVE_REDIS_NAMESPACE", default_value = "sentiserve")]
    pub redis_namespace: String,
    /// Redis connect timeout, ms.
    #[arg(long, env = "SENTISERVE_REDIS_CONNECT_TIMEOUT_MS", default_value_t = 250)]
    pub redis_connect_timeout_ms: u64,
    /// Redis per-command timeout, ms: the most a slow or hung Redis adds to a request.
    #[arg(long, env = "SENTISERVE_REDIS_TIMEOUT_MS", default_value_t = 50)]
    pub redis_timeout_ms: u64,
    /// Largest request body in bytes.
    #[arg(long, env = "SENTISERVE_MAX_BODY_BYTES", default_value_t = 2 * 1024 * 1024)]
    pub max_body_bytes: usize,
    /// Most texts in one request.
    #[arg(long, env = "SENTISERVE_MAX_TEXTS", default_value_t = 1024)]
    pub max_texts: usize,
    /// Most texts in one forward pass.
    #[arg(long, env = "SENTISERVE_MAX_BATCH_SIZE", default_value_t = 32)]
    pub max_batch_size: usize,
    /// Most padded tokens in one forward pass.
    #[arg(long, env = "SENTISERVE_MAX_BATCH_TOKENS", default_value_t = 8192)]
    pub max_batch_tokens: usize,
    /// How long a batch waits for more texts, µs.
    #[arg(long, env = "SENTISERVE_BATCH_WAIT_US", default_value_t = 0)]
    pub batch_wait_us: u64,
    /// Most texts queued per model before requests get 429.
    #[arg(long, env = "SENTISERVE_QUEUE_CAPACITY", default_value_t = 4096)]
    pub queue_capacity: usize,
    /// Require this key (`Authorization: Bearer KEY`) on inference and read routes.
    #[arg(long, env = "SENTISERVE_API_KEY", hide_env_values = true)]
    pub api_key: Option<String>,
    /// Require this key on model load/unload and cache clearing.
    #[arg(long, env = "SENTISERVE_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<String>,
    /// Allow browser calls from this origin (CORS), e.g. https://app.example.com; `*` for
    /// any. Repeatable; comma-separated in the environment. Off by default.
    #[arg(long, env = "SENTISERVE_CORS_ORIGIN", value_delimiter = ',')]
    pub cors_origin: Vec<String>,
    /// Log format: text or json.
    #[arg(long, env = "SENTISERVE_LOG_FORMAT", default_value = "text")]
    pub log_format: LogFormat,
}

/// How log lines are written.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum LogFormat {
    /// Human-readable lines.
    Text,
    /// One JSON object per line, for log shippers.
    Json,
}

impl ServeArgs {
    /// Whether an API or admin key is configured.
    pub fn has_keys(&self) -> bool {
        [&self.api_key, &self.admin_key].iter().any(|k| k.as_deref().is_some_and(|k| !k.is_empty()))
    }

    /// The address to bind: `--host`, else 0.0.0.0 with keys and 127.0.0.1 without.
    pub fn bind_host(&self) -> String {
        self.host.clone().unwrap_or_else(|| if self.has_keys() { "0.0.0.0".into() } else { "127.0.0.1".into() })
    }

    /// Builds the server configuration.
    ///
    /// Errors: [`ConfigError`] from the catalog, or a preload name that is not
    /// configured.
    pub fn config(&self) -> Result<ServerConfig, ConfigError> {
        let catalog = self.models.catalog()?;
        let preload = match self.preload.as_slice() {
            [] => vec![catalog.default.clone()],
            [none] if none == "none" => Vec::new(),
            names => names.iter().map(|n| n.trim().to_string()).filter(|n| !n.is_empty()).collect(),
        };
        for name in &preload {
            if !catalog.models.iter().any(|m| &m.name == name) {
                let known = catalog.models.iter().map(|m| m.name.as_str()).collect::<Vec<_>>().join(", ");
                return Err(ConfigError::UnknownName { what: "preload model", name: name.clone(), known });
            }
        }
        let secs = |s: Option<u64>| s.filter(|&s| s > 0).map(Duration::from_secs);
        Ok(ServerConfig {
            catalog,
            preload,
            device: self.models.device,
            cache: CacheConfig {
                capacity_bytes: self.cache_max_bytes,
                ttl: secs(self.cache_ttl_secs),
                tti: secs(self.cache_tti_secs),
                disk: self.cache_dir.clone().map(|dir| DiskConfig { dir, capacity_bytes: self.cache_disk_max_bytes }),
                redis: self.redis_url.clone().map(|url| RedisConfig {
                    url,
                    namespace: self.redis_namespace.clone(),
                    connect_timeout: Duration::from_millis(self.redis_connect_timeout_ms.max(1)),
                    command_timeout: Duration::from_millis(self.redis_timeout_ms.max(1)),
                }),
            },
            batch: BatchConfig {
                max_batch_size: self.max_batch_size.max(1),
                max_batch_tokens: self.max_batch_tokens.max(1),
                max_wait: Duration::from_micros(self.batch_wait_us),
                queue_capacity: self.queue_capacity.max(1),
            },
            limits: Limits { max_body_bytes: self.max_body_bytes, max_texts: self.max_texts.max(1) },
            http: HttpConfig {
                api_key: self.api_key.clone().filter(|k| !k.is_empty()),
                admin_key: self.admin_key.clone().filter(|k| !k.is_empty()),
                cors_origins: self
                    .cors_origin
                    .iter()
                    .map(|o| o.trim())
                    .filter(|o| !o.is_empty())
                    .map(|o| axum::http::HeaderValue::from_str(o).map_err(|_| ConfigError::CorsOrigin(o.to_string())))
                    .collect::<Result<_, _>>()?,
            },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(models: &[&str], default: Option<&str>) -> ModelArgs {
        ModelArgs {
            models_file: None,
            models: models.iter().map(|s| s.to_string()).collect(),
            default_model: default.map(String::from),
            device: DeviceSpec::Cpu,
        }
    }

    #[test]
    fn built_in_manifest_defaults_to_the_sst2_distilbert() {
        let manifest: Manifest = toml::from_str(EMBEDDED_MANIFEST).unwrap();
        assert_eq!(manifest.default.as_deref(), Some("sentiment"));
        assert_eq!(manifest.models["sentiment"].source, "distilbert/distilbert-base-uncased-finetuned-sst-2-english");
    }

    #[test]
    fn cli_models_are_added_and_can_become_the_default() {
        let catalog = args(&["mini=/tmp/m"], Some("mini")).catalog().unwrap();
        assert_eq!(catalog.default, "mini");
        assert!(catalog.models.iter().any(|m| m.name == "sentiment"));
        assert!(catalog.models.iter().any(|m| m.name == "mini" && m.source == ModelSource::Local("/tmp/m".into())));
    }

    #[test]
    fn bad_model_args_and_defaults_are_rejected() {
        assert!(matches!(args(&["nosource"], None).catalog(), Err(ConfigError::ModelArg(_))));
        assert!(matches!(args(&["bad name=/x"], None).catalog(), Err(ConfigError::ModelArg(_))));
        assert!(matches!(args(&[], Some("nope")).catalog(), Err(ConfigError::UnknownName { .. })));
    }
}

//! `sentiserve` command-line flags (clap), each with an environment variable, and
//! their conversion into a [`ServerConfig`].

use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use clap::Args;

use super::manifest::{self, Catalog, ConfigError};
use super::runtime::{ConnectionLimits, HttpConfig, Limits, ServerConfig};
use super::secret::Secret;
use crate::batch::BatchConfig;
use crate::cache::disk::DiskConfig;
use crate::cache::redis::{RedisConfig, RedisTls};
use crate::cache::CacheConfig;
use crate::defaults;
use crate::model::DeviceSpec;
use crate::registry::RegistryBounds;

/// Which models exist and which one is the default.
#[derive(Debug, Clone, Args)]
pub struct ModelArgs {
    /// Model manifest (TOML). Default: ./models/models.toml if present, else the
    /// manifest built into the binary.
    #[arg(long, env = "SENTISERVE_MODELS_FILE", value_name = "PATH")]
    pub models_file: Option<PathBuf>,
    /// Add or override a named model: NAME=SOURCE, where SOURCE is a local directory or
    /// a Hub id org/name[@revision]. For a name the manifest configures, SOURCE replaces
    /// its sources (fallbacks included) and its settings stay. Repeatable;
    /// comma-separated in the environment.
    #[arg(long = "model", env = "SENTISERVE_MODEL", value_name = "NAME=SOURCE", value_delimiter = ',')]
    pub models: Vec<String>,
    /// The model used when a request names none.
    #[arg(long = "default", env = "SENTISERVE_DEFAULT_MODEL", value_name = "NAME")]
    pub default_model: Option<String>,
    /// Device: auto, cpu, cuda, cuda:N or metal (cuda/metal need the Cargo feature).
    #[arg(long, env = "SENTISERVE_DEVICE", default_value = "cpu")]
    pub device: DeviceSpec,
    /// Dtype of the linear layers: f32, bf16 (AVX-512 BF16 where the CPU has it) or
    /// int8 (dynamic quantization, VNNI); bf16 and int8 on the CPU only. A model's
    /// manifest `dtype` overrides it.
    #[arg(long, env = "SENTISERVE_DTYPE", default_value = "f32")]
    pub dtype: crate::model::Dtype,
}

impl ModelArgs {
    /// Reads the manifest and applies `--model` and `--default`.
    ///
    /// Errors: [`ConfigError`] (see [`manifest::catalog`]).
    pub fn catalog(&self) -> Result<Catalog, ConfigError> {
        manifest::catalog(self.models_file.as_deref(), &self.models, self.default_model.as_deref())
    }
}

/// The prediction cache's flags, shared by `serve` and `analyze`.
#[derive(Debug, Clone, Args)]
pub struct CacheArgs {
    /// Prediction-cache capacity in bytes.
    #[arg(long, env = "SENTISERVE_CACHE_MAX_BYTES", default_value_t = defaults::CACHE_MAX_BYTES)]
    pub cache_max_bytes: u64,
    /// Cache time-to-live in seconds (entries expire this long after being written).
    #[arg(long, env = "SENTISERVE_CACHE_TTL_SECS")]
    pub cache_ttl_secs: Option<u64>,
    /// Cache time-to-idle in seconds (entries expire this long after the last read).
    #[arg(long, env = "SENTISERVE_CACHE_TTI_SECS")]
    pub cache_tti_secs: Option<u64>,
    /// Look a text that misses up again by its token ids, so texts the model cannot
    /// tell apart (case for an uncased model, spacing, tails past the limit) share one
    /// answer (`false`: exact texts only).
    #[arg(long, env = "SENTISERVE_CACHE_TOKEN_KEYS", default_value_t = true, action = clap::ArgAction::Set, value_name = "BOOL")]
    pub cache_token_keys: bool,
    /// Enable the disk cache tier in this directory (survives restarts).
    #[arg(long, env = "SENTISERVE_CACHE_DIR", value_name = "DIR")]
    pub cache_dir: Option<PathBuf>,
    /// Disk cache tier capacity in bytes.
    #[arg(long, env = "SENTISERVE_CACHE_DISK_MAX_BYTES", default_value_t = defaults::CACHE_DISK_MAX_BYTES)]
    pub cache_disk_max_bytes: u64,
    /// Enable the Redis cache tier shared by replicas: redis://[user:password@]host:port[/db],
    /// rediss://… (TLS), redis+cluster://host1:port1,host2:port2 (Redis Cluster from seed
    /// nodes), redis+sentinel://s1:port,s2:port/MASTER_NAME (Sentinel); rediss+cluster://
    /// and rediss+sentinel:// over TLS.
    #[arg(long, env = "SENTISERVE_REDIS_URL", value_name = "URL")]
    pub redis_url: Option<Secret>,
    /// File holding the Redis password (first line), instead of one in the URL.
    #[arg(long, env = "SENTISERVE_REDIS_PASSWORD_FILE", value_name = "FILE")]
    pub redis_password_file: Option<PathBuf>,
    /// CA certificate (PEM) that signed the Redis server's certificate (rediss URLs;
    /// default: the system's roots).
    #[arg(long, env = "SENTISERVE_REDIS_CA_CERT", value_name = "FILE")]
    pub redis_ca_cert: Option<PathBuf>,
    /// Client certificate (PEM) for mutual TLS with Redis (with --redis-client-key).
    #[arg(long, env = "SENTISERVE_REDIS_CLIENT_CERT", value_name = "FILE", requires = "redis_client_key")]
    pub redis_client_cert: Option<PathBuf>,
    /// Key (PEM) of --redis-client-cert.
    #[arg(long, env = "SENTISERVE_REDIS_CLIENT_KEY", value_name = "FILE", requires = "redis_client_cert")]
    pub redis_client_key: Option<PathBuf>,
    /// Prefix of every Redis key this server writes (and clears).
    #[arg(long, env = "SENTISERVE_REDIS_NAMESPACE", default_value = defaults::REDIS_NAMESPACE)]
    pub redis_namespace: String,
    /// Redis connect timeout, ms.
    #[arg(long, env = "SENTISERVE_REDIS_CONNECT_TIMEOUT_MS", default_value_t = defaults::REDIS_CONNECT_TIMEOUT_MS)]
    pub redis_connect_timeout_ms: u64,
    /// Redis per-command timeout, ms: the most a slow or hung Redis adds to a request.
    #[arg(long, env = "SENTISERVE_REDIS_TIMEOUT_MS", default_value_t = defaults::REDIS_TIMEOUT_MS)]
    pub redis_timeout_ms: u64,
}

impl CacheArgs {
    /// The cache configuration these flags describe (no per-model TTLs: those come
    /// from the manifest, [`ServerConfig::cache_config`]).
    pub fn config(&self) -> CacheConfig {
        let secs = |s: Option<u64>| s.filter(|&s| s > 0).map(Duration::from_secs);
        CacheConfig {
            capacity_bytes: self.cache_max_bytes,
            ttl: secs(self.cache_ttl_secs),
            model_ttl: std::collections::HashMap::new(),
            tti: secs(self.cache_tti_secs),
            token_keys: self.cache_token_keys,
            disk: self.cache_dir.clone().map(|dir| DiskConfig { dir, capacity_bytes: self.cache_disk_max_bytes }),
            redis: self.redis_url.as_ref().map(|url| RedisConfig {
                url: url.expose().to_string(),
                namespace: self.redis_namespace.clone(),
                connect_timeout: Duration::from_millis(self.redis_connect_timeout_ms.max(1)),
                command_timeout: Duration::from_millis(self.redis_timeout_ms.max(1)),
                tls: RedisTls {
                    ca_cert: self.redis_ca_cert.clone(),
                    client_cert: self.redis_client_cert.clone(),
                    client_key: self.redis_client_key.clone(),
                },
                password_file: self.redis_password_file.clone(),
            }),
        }
    }
}

/// `sentiserve serve` flags.
#[derive(Debug, Clone, Args)]
pub struct ServeArgs {
    /// Models, manifest and device.
    #[command(flatten)]
    pub models: ModelArgs,
    /// Address to bind. Default: 127.0.0.1 (loopback only), with keys or without; pass
    /// 0.0.0.0 to serve other machines (a warning is logged when that has no keys).
    #[arg(long, env = "SENTISERVE_HOST")]
    pub host: Option<String>,
    /// Port to bind.
    #[arg(long, env = "SENTISERVE_PORT", default_value_t = defaults::PORT)]
    pub port: u16,
    /// Models to load at startup, comma-separated. Default: the default model;
    /// `none` loads nothing until first use.
    #[arg(long, env = "SENTISERVE_PRELOAD", value_delimiter = ',')]
    pub preload: Vec<String>,
    /// The prediction cache's tiers and keys.
    #[command(flatten)]
    pub cache: CacheArgs,
    /// Largest request body in bytes.
    #[arg(long, env = "SENTISERVE_MAX_BODY_BYTES", default_value_t = defaults::MAX_BODY_BYTES)]
    pub max_body_bytes: usize,
    /// Most texts in one request.
    #[arg(long, env = "SENTISERVE_MAX_TEXTS", default_value_t = defaults::MAX_TEXTS)]
    pub max_texts: usize,
    /// Most texts in one forward pass.
    #[arg(long, env = "SENTISERVE_MAX_BATCH_SIZE", default_value_t = defaults::MAX_BATCH_SIZE)]
    pub max_batch_size: usize,
    /// Most padded tokens in one forward pass.
    #[arg(long, env = "SENTISERVE_MAX_BATCH_TOKENS", default_value_t = defaults::MAX_BATCH_TOKENS)]
    pub max_batch_tokens: usize,
    /// How long a batch waits for more texts, µs.
    #[arg(long, env = "SENTISERVE_BATCH_WAIT_US", default_value_t = defaults::BATCH_WAIT_US)]
    pub batch_wait_us: u64,
    /// Most texts queued per model before requests get 429.
    #[arg(long, env = "SENTISERVE_QUEUE_CAPACITY", default_value_t = defaults::QUEUE_CAPACITY)]
    pub queue_capacity: usize,
    /// Require this key (`Authorization: Bearer KEY`) on inference and read routes. An
    /// empty value is an error.
    #[arg(long, env = "SENTISERVE_API_KEY", hide_env_values = true)]
    pub api_key: Option<Secret>,
    /// Require this key on model load/unload and cache clearing. An empty value is an
    /// error.
    #[arg(long, env = "SENTISERVE_ADMIN_KEY", hide_env_values = true)]
    pub admin_key: Option<Secret>,
    /// Read the API key from this file (first line, trimmed; keeps it out of `ps`). An
    /// unreadable file or a blank first line is an error.
    #[arg(long, env = "SENTISERVE_API_KEY_FILE", conflicts_with = "api_key")]
    pub api_key_file: Option<PathBuf>,
    /// Read the admin key from this file (first line, trimmed; as --api-key-file).
    #[arg(long, env = "SENTISERVE_ADMIN_KEY_FILE", conflicts_with = "admin_key")]
    pub admin_key_file: Option<PathBuf>,
    /// Most time a client may take to send a request's headers (an idle keep-alive
    /// connection is closed after it too, and so is one whose client reads nothing of
    /// an answer for as long), ms.
    #[arg(long, env = "SENTISERVE_HEADER_READ_TIMEOUT_MS", default_value_t = defaults::HEADER_READ_TIMEOUT_MS)]
    pub header_read_timeout_ms: u64,
    /// Most time a client may take to send a request's whole body, ms, counted from
    /// the first read of it (408 after, however steadily bytes arrive).
    #[arg(long, env = "SENTISERVE_BODY_READ_TIMEOUT_MS", default_value_t = defaults::BODY_READ_TIMEOUT_MS)]
    pub body_read_timeout_ms: u64,
    /// Most open client connections; further ones wait in the listen backlog.
    #[arg(long, env = "SENTISERVE_MAX_CONNECTIONS", default_value_t = defaults::MAX_CONNECTIONS)]
    pub max_connections: usize,
    /// Largest request head (request line + headers), bytes; 431 above.
    #[arg(long, env = "SENTISERVE_MAX_HEADER_BYTES", default_value_t = defaults::MAX_HEADER_BYTES)]
    pub max_header_bytes: usize,
    /// On SIGTERM/Ctrl-C, how long to wait for open requests before exiting, s.
    #[arg(long, env = "SENTISERVE_SHUTDOWN_GRACE_SECS", default_value_t = defaults::SHUTDOWN_GRACE_SECS)]
    pub shutdown_grace_secs: u64,
    /// Allow browser calls from this origin (CORS), e.g. https://app.example.com; `*` for
    /// any. Repeatable; comma-separated in the environment. Off by default.
    #[arg(long, env = "SENTISERVE_CORS_ORIGIN", value_delimiter = ',')]
    pub cors_origin: Vec<String>,
    /// Most models loaded at once; loading one more evicts the least recently used
    /// model with no request in flight (pinned models never). Unbounded when unset.
    #[arg(long, env = "SENTISERVE_MAX_LOADED_MODELS")]
    pub max_loaded_models: Option<usize>,
    /// Most estimated bytes (weights + one batch of activations) of loaded models;
    /// past it the least recently used unpinned model is evicted. Unbounded when unset.
    #[arg(long, env = "SENTISERVE_MODELS_MAX_BYTES")]
    pub models_max_bytes: Option<u64>,
    /// Unload a model after this many seconds without a request (pinned and preloaded
    /// models excepted); a manifest's `idle_unload_secs` overrides it. 0: never.
    #[arg(long, env = "SENTISERVE_IDLE_UNLOAD_SECS", default_value_t = 0)]
    pub idle_unload_secs: u64,
    /// A request's deadline, ms (0: none); a request may set its own with the
    /// `X-Request-Timeout-Ms` header. Past it the request answers 503 `timeout` and
    /// its texts still queued are dropped before they reach the model.
    #[arg(long, env = "SENTISERVE_REQUEST_TIMEOUT_MS", default_value_t = defaults::REQUEST_TIMEOUT_MS)]
    pub request_timeout_ms: u64,
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
    /// Whether an API or admin key is given (inline, in the environment or as a file).
    /// [`ServeArgs::config`] refuses empty ones, so once it succeeded this is whether
    /// authentication is on.
    pub fn has_keys(&self) -> bool {
        self.api_key.is_some()
            || self.admin_key.is_some()
            || self.api_key_file.is_some()
            || self.admin_key_file.is_some()
    }

    /// The address to bind: `--host`, else 127.0.0.1 (keys do not change it).
    pub fn bind_host(&self) -> String {
        self.host.clone().unwrap_or_else(|| defaults::HOST.to_string())
    }

    /// The warning to log before binding `host`: `Some` when it reaches beyond
    /// loopback and `keys` is false (anyone who can reach it can use it).
    pub fn exposure_warning(host: &str, keys: bool) -> Option<String> {
        let loopback = host.eq_ignore_ascii_case("localhost")
            || host.trim_matches(['[', ']']).parse::<std::net::IpAddr>().is_ok_and(|ip| ip.is_loopback());
        (!loopback && !keys).then(|| {
            format!(
                "serving on {host}, beyond loopback, without --api-key/--admin-key: anyone who can reach it can use it"
            )
        })
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
            catalog.check("preload model", name)?;
        }
        let secs = |s: Option<u64>| s.filter(|&s| s > 0).map(Duration::from_secs);
        Ok(ServerConfig {
            catalog,
            preload,
            device: self.models.device,
            dtype: self.models.dtype,
            cache: self.cache.config(),
            batch: BatchConfig {
                max_batch_size: self.max_batch_size,
                max_batch_tokens: self.max_batch_tokens,
                max_wait: Duration::from_micros(self.batch_wait_us),
                queue_capacity: self.queue_capacity,
            },
            registry: RegistryBounds {
                max_loaded_models: self.max_loaded_models.map(|n| n.max(1)),
                max_bytes: self.models_max_bytes,
                idle_unload: secs(Some(self.idle_unload_secs)),
            },
            limits: Limits {
                max_body_bytes: self.max_body_bytes,
                max_texts: self.max_texts.max(1),
                request_timeout: Some(self.request_timeout_ms).filter(|&ms| ms > 0).map(Duration::from_millis),
            },
            connections: ConnectionLimits {
                header_read_timeout: Duration::from_millis(self.header_read_timeout_ms.max(1)),
                body_read_timeout: Duration::from_millis(self.body_read_timeout_ms.max(1)),
                max_connections: self.max_connections.max(1),
                max_header_bytes: self.max_header_bytes.max(1024),
                shutdown_grace: Duration::from_secs(self.shutdown_grace_secs),
            },
            http: HttpConfig {
                api_key: key("--api-key (SENTISERVE_API_KEY)", self.api_key.as_ref(), self.api_key_file.as_deref())?,
                admin_key: key(
                    "--admin-key (SENTISERVE_ADMIN_KEY)",
                    self.admin_key.as_ref(),
                    self.admin_key_file.as_deref(),
                )?,
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

/// A key given inline (`what` names the flag) or in a file (its first line), trimmed;
/// `None` when neither is given.
///
/// Errors: [`ConfigError::KeyFile`] when the file cannot be read (or is not UTF-8),
/// [`ConfigError::EmptyKey`] when the key is empty or blank: such a key could never be
/// presented, and earlier versions took it as "no key", turning authentication off.
fn key(what: &str, inline: Option<&Secret>, file: Option<&Path>) -> Result<Option<Secret>, ConfigError> {
    let (key, what) = match (file, inline) {
        (Some(path), _) => {
            let text = std::fs::read_to_string(path)
                .map_err(|source| ConfigError::KeyFile { path: path.to_path_buf(), source: Arc::new(source) })?;
            let first = text.lines().next().unwrap_or("").trim().to_string();
            (first, format!("the first line of key file {}", path.display()))
        }
        (None, Some(inline)) => (inline.expose().trim().to_string(), what.to_string()),
        (None, None) => return Ok(None),
    };
    if key.is_empty() {
        return Err(ConfigError::EmptyKey { what });
    }
    Ok(Some(Secret::from(key)))
}

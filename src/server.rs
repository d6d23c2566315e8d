//! Assembles the server from a [`ServerConfig`]: device, registry, cache, service,
//! preload, router, and a graceful shutdown.

use std::sync::Arc;

use crate::cache::{PredictionCache, Tier};
use crate::config::ServerConfig;
use crate::engine::hf::HfLoader;
use crate::engine::Loader;
use crate::http::state::Shared;
use crate::http::{router, AppState};
use crate::model::ModelError;
use crate::registry::{Registry, RegistryConfig, RegistryError};
use crate::service::Service;

/// Why the server could not be built.
#[derive(Debug, thiserror::Error)]
pub enum StartError {
    /// The device could not be opened.
    #[error(transparent)]
    Device(#[from] ModelError),
    /// The catalog is inconsistent (e.g. the default names no model).
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The configuration is unusable (e.g. an empty API key).
    #[error(transparent)]
    Config(#[from] crate::config::ConfigError),
}

/// A configured, not yet serving, server.
pub struct App {
    /// The request path (also usable without HTTP).
    pub service: Service,
    config: ServerConfig,
}

impl App {
    /// Opens the device and builds the registry (over Hugging Face checkpoints) and
    /// the cache. Loads nothing yet.
    ///
    /// Errors: [`StartError`].
    pub fn new(config: ServerConfig) -> Result<Self, StartError> {
        Self::with_loader(config, Arc::new(HfLoader))
    }

    /// [`App::new`] with the models' sources turned into engines by `loader` (tests
    /// use a deterministic fake; see `tests/common/fake.rs`).
    ///
    /// Errors: [`StartError`].
    pub fn with_loader(config: ServerConfig, loader: Arc<dyn Loader>) -> Result<Self, StartError> {
        let registry = Self::registry(&config, loader)?;
        let cache = PredictionCache::new(config.cache_config());
        Ok(Self { service: Service::new(registry, cache, config.preload.clone()), config })
    }

    /// [`App::with_loader`] with `tiers` (in read order) below the memory tier in place
    /// of the configured disk and Redis tiers: an embedder's own shared store, or a
    /// test's.
    ///
    /// Errors: [`StartError`].
    pub fn with_tiers(
        config: ServerConfig,
        loader: Arc<dyn Loader>,
        tiers: Vec<Box<dyn Tier>>,
    ) -> Result<Self, StartError> {
        let registry = Self::registry(&config, loader)?;
        let cache = PredictionCache::with_tiers(config.cache_config(), tiers);
        Ok(Self { service: Service::new(registry, cache, config.preload.clone()), config })
    }

    fn registry(config: &ServerConfig, loader: Arc<dyn Loader>) -> Result<Registry, StartError> {
        config.http.validate()?;
        let registry_config = RegistryConfig {
            loader,
            device_spec: config.device,
            device: config.device.open()?,
            batch: config.batch.clone(),
            bounds: config.registry.clone(),
            pinned: config.preload.iter().cloned().collect(),
            dtype: config.dtype,
        };
        Ok(Registry::new(config.catalog.models.clone(), &config.catalog.default, registry_config)?)
    }

    /// Starts loading the preload models in the background, one after another.
    /// Readiness (`/health`) turns 200 when all are loaded.
    pub fn spawn_preload(&self) -> tokio::task::JoinHandle<()> {
        self.service.spawn_preload()
    }

    /// The HTTP application serving this app: every route and layer, as one tower
    /// service ([`crate::http::router`]).
    pub fn router(&self) -> impl crate::http::HttpService {
        router(
            AppState::new(Shared {
                service: self.service.clone(),
                limits: Arc::new(self.config.limits.clone()),
                metrics: crate::telemetry::prometheus(),
            }),
            &self.config.http,
            &self.config.connections,
        )
    }

    /// Serves on `listener` until `shutdown` resolves, then stops accepting, lets
    /// in-flight requests finish (for at most `--shutdown-grace-secs`) and flushes the
    /// disk cache tier.
    ///
    /// Errors: the listener failed.
    pub async fn serve(
        &self,
        listener: tokio::net::TcpListener,
        shutdown: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> std::io::Result<()> {
        let maintenance = self.service.spawn_maintenance();
        let drain = crate::http::listener::serve(listener, self.router(), &self.config.connections, shutdown).await;
        maintenance.abort();
        let drain = drain?;
        self.service.flush().await;
        match drain {
            crate::http::listener::Drain::Complete => {
                tracing::info!("in-flight requests drained and disk cache flushed; bye");
            }
            crate::http::listener::Drain::GraceExpired => {
                tracing::warn!("shutdown grace expired; open connections dropped, disk cache flushed; bye");
            }
        }
        Ok(())
    }
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! { () = ctrl_c => {}, () = terminate => {} }
    tracing::info!("shutdown signal received; draining in-flight requests");
}

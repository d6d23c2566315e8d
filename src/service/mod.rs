//! Every operation on the server's state, shared by the HTTP server and the one-shot
//! CLI: analyze ([`analyze`]: cache lookups, misses through the model's batcher,
//! results in input order), the registry's load/unload, the cache's stats/clear, and
//! readiness.

mod analyze;
mod error;
mod reports;
mod tokens;
pub mod zero_shot;

use std::collections::BTreeMap;
use std::sync::Arc;

pub use analyze::AnalyzeOptions;
pub use error::ServiceError;
pub use reports::{Analysis, ClearReport, ModelInfo, ModelsReport, Readiness, ReadinessStatus, TextResult};

use crate::cache::{CacheStats, PredictionCache};
use crate::registry::{ModelState, ModelStatus, Registry};

/// The request path and the server's operations. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    /// Loaded models.
    registry: Registry,
    /// Memoized logits.
    cache: PredictionCache,
    /// Models readiness waits for.
    preload: Arc<Vec<String>>,
    /// Tokenizations for the cache's second level running at once on the blocking
    /// pool: one per core, so a request of many misses does not start a thread each.
    tokenizers: Arc<tokio::sync::Semaphore>,
}

impl Service {
    /// A service over `registry` and `cache`; readiness waits for `preload`.
    pub fn new(registry: Registry, cache: PredictionCache, preload: Vec<String>) -> Self {
        let cores = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
        Self { registry, cache, preload: Arc::new(preload), tokenizers: Arc::new(tokio::sync::Semaphore::new(cores)) }
    }

    /// The model's limits and labels (`GET /info`), loading it if needed.
    ///
    /// Errors: [`ServiceError::Registry`] for an unknown name or a failed load.
    pub async fn model_info(&self, model: Option<&str>) -> Result<ModelInfo, ServiceError> {
        let name = model.unwrap_or_else(|| self.registry.default_name());
        let loaded = self.registry.get(name).await?;
        let info = loaded.engine.info();
        Ok(ModelInfo {
            name: name.to_string(),
            source: loaded.source.clone(),
            revision: loaded.revision.clone(),
            architecture: info.architecture.clone(),
            dtype: info.dtype(),
            id2label: info.id2label.clone(),
            max_tokens: info.max_tokens(),
            batch: loaded.batch.clone(),
        })
    }

    /// Every configured model and the default.
    pub fn models(&self) -> ModelsReport {
        ModelsReport { default: self.registry.default_name().to_string(), models: self.registry.statuses() }
    }

    /// Loads a model (retrying a failed one; a no-op when loaded) and returns its status.
    ///
    /// Errors: [`ServiceError::Registry`] for an unknown name or a failed load.
    pub async fn load(&self, name: &str) -> Result<ModelStatus, ServiceError> {
        self.registry.load(name).await?;
        Ok(self.registry.status(name)?)
    }

    /// Reloads a model's weights from its sources beside the serving ones and swaps
    /// them in without a gap (a model that is not loaded is loaded), and returns its
    /// status.
    ///
    /// Errors: [`ServiceError::Registry`]: unknown name, a failed load, or a failed
    /// reload (the previous weights keep serving).
    pub async fn reload(&self, name: &str) -> Result<ModelStatus, ServiceError> {
        self.registry.reload(name).await?;
        Ok(self.registry.status(name)?)
    }

    /// Evicts idle models and keeps the registry within its bounds, in the background,
    /// until the task is aborted.
    pub fn spawn_maintenance(&self) -> tokio::task::JoinHandle<()> {
        self.registry.spawn_maintenance()
    }

    /// Unloads a model (its weights are freed once in-flight requests finish) and
    /// returns its status.
    ///
    /// Errors: [`ServiceError::Registry`] for an unknown name.
    pub async fn unload(&self, name: &str) -> Result<ModelStatus, ServiceError> {
        self.registry.unload(name).await?;
        Ok(self.registry.status(name)?)
    }

    /// Starts loading the preload models in the background, one after another (so
    /// peak memory is one load at a time). Failures are recorded in the registry.
    pub fn spawn_preload(&self) -> tokio::task::JoinHandle<()> {
        let (registry, names) = (self.registry.clone(), Arc::clone(&self.preload));
        tokio::spawn(async move {
            for name in names.iter() {
                let _ = registry.load(name).await;
            }
        })
    }

    /// The prediction cache's sizes and counters.
    pub async fn cache_stats(&self) -> CacheStats {
        self.cache.stats().await
    }

    /// Clears every tier, or one model's entries.
    ///
    /// Errors: [`ServiceError::Registry`] when `model` is not configured.
    pub async fn clear_cache(&self, model: Option<&str>) -> Result<ClearReport, ServiceError> {
        if let Some(model) = model {
            self.registry.state(model)?;
        }
        let tiers = self.cache.clear(model).await;
        let cleared = model.unwrap_or("all").to_string();
        tracing::info!(cleared = %cleared, "prediction cache cleared");
        Ok(ClearReport { cleared, tiers, cache: self.cache.stats().await })
    }

    /// Waits until every queued cache write is stored (used at shutdown).
    pub async fn flush(&self) {
        self.cache.flush().await;
    }

    /// Readiness: ready once every preloaded model has loaded; `unavailable` while one
    /// has failed, `loading` while one has never loaded yet. A preloaded model that
    /// loaded before and was unloaded (by `DELETE /models/{name}` or eviction) loads
    /// again on the next request, so it does not make the server unready.
    pub fn readiness(&self) -> Readiness {
        let models: BTreeMap<String, ModelState> =
            self.preload.iter().filter_map(|name| self.registry.state(name).ok().map(|s| (name.clone(), s))).collect();
        let waiting = |name: &String, state: &ModelState| {
            *state != ModelState::Loaded && !self.registry.ever_loaded(name).unwrap_or(false)
        };
        let status = if models.values().any(|s| *s == ModelState::Failed) {
            ReadinessStatus::Unavailable
        } else if models.iter().any(|(name, state)| waiting(name, state)) {
            ReadinessStatus::Loading
        } else {
            ReadinessStatus::Ok
        };
        Readiness { status, models }
    }
}

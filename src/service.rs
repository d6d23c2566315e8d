//! The request path and every operation on the server's state, shared by the HTTP
//! server and the one-shot CLI: analyze (cache lookups, misses through the model's
//! batcher, results in input order), the registry's load/unload, the cache's
//! stats/clear, and readiness.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;

use futures::future::try_join_all;
use serde::Serialize;

use crate::batch::BatchError;
use crate::cache::{CacheKey, CacheStats, PredictionCache, TierClear};
use crate::model::LabelScore;
use crate::registry::{ModelState, ModelStatus, Registry, RegistryError};

/// Why an operation failed.
#[derive(Debug, Clone, thiserror::Error)]
pub enum ServiceError {
    /// Unknown model, or a model that failed to load.
    #[error(transparent)]
    Registry(#[from] RegistryError),
    /// The model's queue is full.
    #[error("model `{model}` is overloaded: {source}")]
    Overloaded {
        /// The model's name.
        model: String,
        /// The queue error.
        source: BatchError,
    },
    /// Inference failed, or the model was unloaded mid-request.
    #[error("model `{model}`: {source}")]
    Inference {
        /// The model's name.
        model: String,
        /// The batcher's error.
        source: BatchError,
    },
}

/// The result for one input text.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TextResult {
    /// Best label.
    pub label: String,
    /// Best label's score.
    pub score: f32,
    /// Every label with its score, descending.
    pub scores: Vec<LabelScore>,
    /// Whether the logits came from the prediction cache rather than this request's
    /// forward pass.
    pub cached: bool,
}

/// The answer to one analyze call; the JSON body of `POST /analyze` and of
/// `sentiserve analyze`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Analysis {
    /// The model that answered.
    pub model: String,
    /// One result per input, in input order.
    pub results: Vec<TextResult>,
}

/// The registry's view for `GET /models`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelsReport {
    /// The default model's name.
    pub default: String,
    /// Every configured model.
    pub models: Vec<ModelStatus>,
}

/// What `DELETE /cache` did.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ClearReport {
    /// `"all"` or the model's name.
    pub cleared: String,
    /// What happened in each tier (a tier that is down says so).
    pub tiers: Vec<TierClear>,
    /// Stats after clearing.
    pub cache: CacheStats,
}

/// Whether the server can take traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ReadinessStatus {
    /// Every preloaded model is loaded.
    Ok,
    /// A preloaded model is still loading (or not loaded yet).
    Loading,
    /// A preloaded model failed to load.
    Unavailable,
}

/// The readiness report (`GET /health`).
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Readiness {
    /// `ok` when every preloaded model is loaded, else `loading` or `unavailable`.
    pub status: ReadinessStatus,
    /// State of each preloaded model.
    pub models: BTreeMap<String, ModelState>,
}

impl Readiness {
    /// Whether the server should receive traffic.
    pub fn is_ready(&self) -> bool {
        self.status == ReadinessStatus::Ok
    }
}

/// The request path and the server's operations. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    /// Loaded models.
    registry: Registry,
    /// Memoized logits.
    cache: PredictionCache,
    /// Models readiness waits for.
    preload: Arc<Vec<String>>,
}

impl Service {
    /// A service over `registry` and `cache`; readiness waits for `preload`.
    pub fn new(registry: Registry, cache: PredictionCache, preload: Vec<String>) -> Self {
        Self { registry, cache, preload: Arc::new(preload) }
    }

    /// Classifies `texts` with `model` (or the default). Identical texts in one call,
    /// and identical concurrent misses across calls, run the model once.
    ///
    /// Errors: [`ServiceError`]; unknown model, failed load, full queue, inference.
    pub async fn analyze(&self, model: Option<&str>, texts: &[String]) -> Result<Analysis, ServiceError> {
        let name = model.unwrap_or_else(|| self.registry.default_name());
        let loaded = self.registry.get(name).await?;

        let mut unique: Vec<Arc<str>> = Vec::new();
        let mut index_of: HashMap<&str, usize> = HashMap::new();
        let positions: Vec<usize> = texts
            .iter()
            .map(|text| {
                *index_of.entry(text.as_str()).or_insert_with(|| {
                    unique.push(Arc::from(text.as_str()));
                    unique.len() - 1
                })
            })
            .collect();

        let lookups = unique.iter().map(|text| {
            let key = CacheKey {
                model: Arc::clone(&loaded.name),
                fingerprint: Arc::clone(&loaded.fingerprint),
                text: Arc::clone(text),
            };
            let compute = loaded.batcher.classify(Arc::clone(text));
            self.cache.get_or_compute(key, compute)
        });
        let outcomes = try_join_all(lookups).await.map_err(|e| {
            let source = (*e).clone();
            let model = name.to_string();
            match source {
                BatchError::QueueFull(_) => ServiceError::Overloaded { model, source },
                _ => ServiceError::Inference { model, source },
            }
        })?;

        let results = positions
            .into_iter()
            .map(|i| {
                let (logits, cached) = &outcomes[i];
                let c = loaded.model.classification(logits);
                TextResult { label: c.label, score: c.score, scores: c.scores, cached: *cached }
            })
            .collect();
        Ok(Analysis { model: name.to_string(), results })
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

    /// Readiness: ready once every preloaded model is loaded; `unavailable` when one
    /// failed, `loading` before.
    pub fn readiness(&self) -> Readiness {
        let models: BTreeMap<String, ModelState> =
            self.preload.iter().filter_map(|name| self.registry.state(name).ok().map(|s| (name.clone(), s))).collect();
        let status = if models.values().all(|s| *s == ModelState::Loaded) {
            ReadinessStatus::Ok
        } else if models.values().any(|s| *s == ModelState::Failed) {
            ReadinessStatus::Unavailable
        } else {
            ReadinessStatus::Loading
        };
        Readiness { status, models }
    }
}

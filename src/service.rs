//! The request path and every operation on the server's state, shared by the HTTP
//! server and the one-shot CLI: analyze (cache lookups, misses through the model's
//! batcher, results in input order), the registry's load/unload, the cache's
//! stats/clear, and readiness.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Instant;

use futures::future::try_join_all;
use serde::Serialize;

use crate::batch::{BatchError, Cancel};
use crate::cache::{CacheKey, CachePolicy, CacheStats, PredictionCache, TierClear};
use crate::engine::Engine;
use crate::model::{Classification, LabelScore, ModelError, ScoreFunction, TextInput, TokenCount};
use crate::registry::{LoadedModel, ModelState, ModelStatus, Registry, RegistryError};

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
    /// `truncate: false` and an input is longer than the model's limit.
    #[error(
        "input {index} has {tokens} tokens; model `{model}` takes at most {limit} (send `truncate: true` to cut it)"
    )]
    InputTooLong {
        /// The model's name.
        model: String,
        /// Position of the input in the request (0-based).
        index: usize,
        /// Its token count, special tokens included.
        tokens: TokenCount,
        /// The model's limit.
        limit: usize,
    },
    /// More distinct inputs in one request than the model's queue holds: it could never
    /// be admitted whole.
    #[error("{count} distinct inputs in one request; model `{model}` queues at most {capacity} (--queue-capacity): split the request")]
    ExceedsQueue {
        /// The model's name.
        model: String,
        /// Distinct inputs in the request.
        count: usize,
        /// The queue's capacity.
        capacity: usize,
    },
    /// The request passed its deadline (`--request-timeout-ms` or
    /// `X-Request-Timeout-Ms`); its texts still queued were dropped unrun.
    #[error("model `{model}`: the request's deadline passed before it completed")]
    Timeout {
        /// The model's name.
        model: String,
    },
    /// Tokenizing an input failed while checking its length.
    #[error("model `{model}`: {source}")]
    Tokenizer {
        /// The model's name.
        model: String,
        /// The tokenizer's error.
        source: Arc<ModelError>,
    },
}

/// Per-call options of [`Service::analyze`]: the post-processing options of
/// transformers' `TextClassificationPipeline` plus truncation and a cache directive.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct AnalyzeOptions {
    /// Keep only the best `k` labels in `scores` (`None`: all).
    pub top_k: Option<usize>,
    /// Overrides the model's score function (`function_to_apply`).
    pub function: Option<ScoreFunction>,
    /// `true`: cut over-long inputs to the model's limit; `false`: refuse them with
    /// [`ServiceError::InputTooLong`].
    pub truncate: bool,
    /// What the request lets the cache do (`Cache-Control`).
    pub cache: CachePolicy,
    /// When the request gives up: past it [`ServiceError::Timeout`], and its queued
    /// texts are dropped before they reach the model.
    pub deadline: Option<Instant>,
}

impl Default for AnalyzeOptions {
    fn default() -> Self {
        Self { top_k: None, function: None, truncate: true, cache: CachePolicy::Use, deadline: None }
    }
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
    /// Whether the input was cut to the model's token limit.
    pub truncated: bool,
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

/// One model's identity and limits (what TEI's `GET /info` reports).
#[derive(Debug, Clone)]
pub struct ModelInfo {
    /// The configured name.
    pub name: String,
    /// Where it was loaded from (Hub id or directory).
    pub source: String,
    /// Resolved Hub commit, if any.
    pub revision: Option<String>,
    /// Architecture (`model_type`).
    pub architecture: String,
    /// Dtype of the linear layers.
    pub dtype: crate::model::Dtype,
    /// Label names, by class index.
    pub id2label: Vec<String>,
    /// Longest input in tokens.
    pub max_tokens: usize,
    /// The batching limits its queue runs with.
    pub batch: crate::batch::BatchConfig,
}

/// Sets the request's [`Cancel`] when the request future is dropped (client gone).
struct CancelOnDrop(Cancel);

impl Drop for CancelOnDrop {
    fn drop(&mut self) {
        self.0.cancel();
    }
}

/// One input's cache lookup, computing through the model's batcher on a miss. A text
/// dropped because *another* request that shared its single-flight computation went
/// away (or passed its deadline) is looked up again.
async fn lookup(
    cache: PredictionCache,
    loaded: Arc<LoadedModel>,
    input: TextInput,
    options: AnalyzeOptions,
    cancel: Cancel,
) -> Result<(crate::model::Prediction, bool), Arc<BatchError>> {
    loop {
        let key = CacheKey {
            model: Arc::clone(&loaded.name),
            identity: loaded.identity.clone(),
            num_labels: loaded.engine.info().id2label.len(),
            input: input.clone(),
        };
        let compute = loaded.batcher.classify(input.clone(), cancel.clone(), options.deadline);
        let own_deadline_passed = || options.deadline.is_some_and(|d| d <= Instant::now());
        match cache.lookup(key, options.cache, compute).await {
            Err(e) if matches!(*e, BatchError::Cancelled) && !cancel.is_cancelled() => continue,
            Err(e) if matches!(*e, BatchError::DeadlineExceeded) && !own_deadline_passed() => continue,
            outcome => return outcome,
        }
    }
}

/// Refuses the first input longer than the model's limit. Tokenizes on the blocking
/// pool (only requests with `truncate: false` pay for it).
async fn check_lengths(name: &str, engine: &Arc<dyn Engine>, inputs: &[TextInput]) -> Result<(), ServiceError> {
    let (engine, owned) = (Arc::clone(engine), inputs.to_vec());
    let limit = engine.info().max_tokens();
    let counted = tokio::task::spawn_blocking(move || {
        for (index, input) in owned.iter().enumerate() {
            let tokens = engine.count_tokens(input)?;
            if tokens.value() > limit {
                return Ok(Some((index, tokens)));
            }
        }
        Ok(None)
    })
    .await
    .unwrap_or_else(|e| Err(ModelError::Panic { during: "tokenization", message: e.to_string() }));
    match counted {
        Ok(None) => Ok(()),
        Ok(Some((index, tokens))) => Err(ServiceError::InputTooLong { model: name.to_string(), index, tokens, limit }),
        Err(source) => Err(ServiceError::Tokenizer { model: name.to_string(), source: Arc::new(source) }),
    }
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

    /// Classifies `inputs` (texts or text pairs) with `model` (or the default).
    /// Identical inputs in one call, and identical concurrent misses across calls, run
    /// the model once. Post-processing options (`top_k`, `function`) reuse cached
    /// logits.
    ///
    /// Errors: [`ServiceError`]; unknown model, failed load, full queue, inference,
    /// an over-long input with `truncate: false`.
    pub async fn analyze(
        &self,
        model: Option<&str>,
        inputs: &[TextInput],
        options: &AnalyzeOptions,
    ) -> Result<Analysis, ServiceError> {
        let name = model.unwrap_or_else(|| self.registry.default_name());
        let Some(deadline) = options.deadline else {
            return self.analyze_now(name, inputs, options).await;
        };
        // Dropping the work at the deadline cancels its texts still queued (the
        // batcher also drops texts it finds past their deadline).
        tokio::time::timeout_at(deadline.into(), self.analyze_now(name, inputs, options))
            .await
            .unwrap_or_else(|_| Err(ServiceError::Timeout { model: name.to_string() }))
    }

    async fn analyze_now(
        &self,
        name: &str,
        inputs: &[TextInput],
        options: &AnalyzeOptions,
    ) -> Result<Analysis, ServiceError> {
        let loaded = self.registry.get(name).await?;
        if !options.truncate {
            check_lengths(name, &loaded.engine, inputs).await?;
        }

        let mut unique: Vec<&TextInput> = Vec::new();
        let mut index_of: HashMap<&TextInput, usize> = HashMap::new();
        let positions: Vec<usize> = inputs
            .iter()
            .map(|input| {
                *index_of.entry(input).or_insert_with(|| {
                    unique.push(input);
                    unique.len() - 1
                })
            })
            .collect();

        let capacity = loaded.batcher.capacity();
        if unique.len() > capacity {
            return Err(ServiceError::ExceedsQueue { model: name.to_string(), count: unique.len(), capacity });
        }
        // Every distinct text already in memory: answer without a task or the tiers.
        if options.cache == CachePolicy::Use {
            let keys: Vec<CacheKey> = unique
                .iter()
                .map(|input| CacheKey {
                    model: Arc::clone(&loaded.name),
                    identity: loaded.identity.clone(),
                    num_labels: loaded.engine.info().id2label.len(),
                    input: (*input).clone(),
                })
                .collect();
            if let Some(hits) = self.cache.memory_hits(&keys).await {
                let outcomes: Vec<(crate::model::Prediction, bool)> = hits.into_iter().map(|p| (p, true)).collect();
                return Ok(self.results(name, &loaded, &positions, &outcomes, options));
            }
        }
        // The lookups run in their own task: if the client goes away mid-request, what
        // is already in a forward pass still completes and is cached, while the
        // request's texts that have not started are dropped (the guard cancels them).
        let cancel = Cancel::default();
        let _guard = CancelOnDrop(cancel.clone());
        let lookups: Vec<_> = unique
            .iter()
            .map(|input| lookup(self.cache.clone(), Arc::clone(&loaded), (*input).clone(), *options, cancel.clone()))
            .collect();
        let outcomes = tokio::spawn(try_join_all(lookups))
            .await
            .unwrap_or_else(|e| {
                let message = e.to_string();
                Err(Arc::new(BatchError::Inference(Arc::new(ModelError::Panic { during: "analyze", message }))))
            })
            .map_err(|e| {
                let source = (*e).clone();
                let model = name.to_string();
                match source {
                    BatchError::QueueFull(_) => ServiceError::Overloaded { model, source },
                    BatchError::DeadlineExceeded => ServiceError::Timeout { model },
                    _ => ServiceError::Inference { model, source },
                }
            })?;

        Ok(self.results(name, &loaded, &positions, &outcomes, options))
    }

    /// Scores each input's prediction (`positions[i]`: its index in `outcomes`).
    fn results(
        &self,
        name: &str,
        loaded: &LoadedModel,
        positions: &[usize],
        outcomes: &[(crate::model::Prediction, bool)],
        options: &AnalyzeOptions,
    ) -> Analysis {
        let info = loaded.engine.info();
        let function = options.function.unwrap_or(info.score_function);
        let results = positions
            .iter()
            .map(|&i| {
                let (prediction, cached) = &outcomes[i];
                let c = Classification::from_logits(&prediction.logits, &info.id2label, function);
                let mut scores = c.scores;
                if let Some(k) = options.top_k {
                    scores.truncate(k);
                }
                TextResult { label: c.label, score: c.score, scores, cached: *cached, truncated: prediction.truncated }
            })
            .collect();
        Analysis { model: name.to_string(), results }
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

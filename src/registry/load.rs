//! Loading one model: its sources in order through the [`Loader`] (the first that
//! loads serves), its cache [`Identity`], and its batcher. Blocking.

use std::sync::Arc;
use std::time::Instant;

use candle_core::Device;

use super::{LoadedModel, ModelSpec};
use crate::batch::{BatchConfig, Batcher};
use crate::cache::Identity;
use crate::engine::{Engine, LoadRequest, LoadedEngine, Loader, LogitsSettings, TruncationSide};
use crate::model::{ModelError, ModelSource};

/// What to load and how.
pub struct LoadJob {
    /// The model's name, sources and settings.
    pub spec: ModelSpec,
    /// What turns a source into an engine.
    pub loader: Arc<dyn Loader>,
    /// Where the weights go.
    pub device: Device,
    /// Dtype of the linear layers.
    pub dtype: crate::model::Dtype,
    /// The limits its queue runs with.
    pub batch: BatchConfig,
    /// Re-resolve Hub revisions (a reload) instead of reusing the cached snapshot.
    pub refresh: bool,
}

/// Estimated memory of a loaded model: its weights in its dtype plus the activations
/// of one batch of `max_batch_tokens` tokens, bytes.
pub fn estimated_bytes(engine: &dyn Engine, batch: &BatchConfig) -> u64 {
    let info = engine.info();
    info.weight_bytes + batch.max_batch_tokens as u64 * info.activation_bytes_per_token
}

/// Loads from one source.
fn load_from(job: &LoadJob, source: &ModelSource) -> Result<LoadedEngine, ModelError> {
    job.loader.load(&LoadRequest {
        name: &job.spec.name,
        source,
        device: &job.device,
        dtype: job.dtype,
        max_tokens: job.spec.settings.max_tokens,
        refresh: job.refresh,
    })
}

/// Loads the model from the first of its sources that works and starts its batcher.
///
/// Errors: the only source's [`ModelError`], or [`ModelError::AllSourcesFailed`]
/// naming each source's error; [`ModelError::ThreadSpawn`] for the batcher.
pub fn load_model(job: &LoadJob) -> Result<LoadedModel, ModelError> {
    let started = Instant::now();
    let mut failures: Vec<(String, ModelError)> = Vec::new();
    for source in job.spec.sources() {
        match load_from(job, source) {
            Ok(LoadedEngine { engine, content_hash, revision }) => {
                let fallback_reason = (!failures.is_empty()).then(|| {
                    failures.iter().map(|(source, error)| format!("{source}: {error}")).collect::<Vec<_>>().join("; ")
                });
                if let Some(reason) = &fallback_reason {
                    tracing::warn!(
                        model = %job.spec.name,
                        serving = %source,
                        reason = %reason,
                        "model loaded from a fallback source"
                    );
                }
                // The one place identities are made: the files' content and the
                // settings the engine reports it computes with, once per truncation
                // side (a request may cut on the left).
                let settings = &engine.info().settings;
                let identity = Identity::new(&content_hash, settings);
                let left = LogitsSettings { truncation: TruncationSide::Left, ..settings.clone() };
                let left_identity = Identity::new(&content_hash, &left);
                let batcher = Batcher::spawn(&job.spec.name, Arc::clone(&engine), job.batch.clone())?;
                return Ok(LoadedModel {
                    name: Arc::from(job.spec.name.as_str()),
                    bytes: estimated_bytes(engine.as_ref(), &job.batch),
                    engine,
                    batcher,
                    batch: job.batch.clone(),
                    identity,
                    left_identity,
                    revision,
                    source: source.to_string(),
                    fallback_reason,
                    load_ms: started.elapsed().as_secs_f64() * 1000.0,
                });
            }
            Err(error) => {
                if job.spec.fallbacks.is_empty() {
                    return Err(error);
                }
                tracing::warn!(model = %job.spec.name, source = %source, error = %error, "model source failed");
                failures.push((source.to_string(), error));
            }
        }
    }
    Err(ModelError::AllSourcesFailed(failures.into_iter().map(|(s, e)| format!("{s}: {e}")).collect()))
}

impl LoadedModel {
    /// The identity of answers computed on inputs cut on `side` (both are made in
    /// [`load_model`]).
    pub fn identity_for(&self, side: TruncationSide) -> &Identity {
        match side {
            TruncationSide::Right => &self.identity,
            TruncationSide::Left => &self.left_identity,
        }
    }
}

//! Loading one model: resolve its sources in order (the first that loads serves),
//! fingerprint the files, load the weights and start the batcher. Blocking.

use std::sync::Arc;
use std::time::Instant;

use candle_core::Device;

use super::{LoadedModel, ModelSpec};
use crate::batch::{BatchConfig, Batcher};
use crate::model::hf::source;
use crate::model::{Model, ModelError, ModelSource};

/// Bytes of one f32 value.
const F32_BYTES: u64 = 4;
/// f32 values held per token and hidden unit at the peak of a forward pass (the
/// fused QKV output, attention context and output, the FFN's 4× intermediate, the
/// residual stream and LayerNorm buffers): the activation estimate's factor.
const ACTIVATION_FLOATS_PER_HIDDEN: u64 = 12;

/// What to load and how.
pub struct LoadJob {
    /// The model's name, sources and settings.
    pub spec: ModelSpec,
    /// Where the weights go.
    pub device: Device,
    /// Dtype of the linear layers.
    pub dtype: crate::model::Dtype,
    /// The limits its queue runs with.
    pub batch: BatchConfig,
    /// Re-resolve Hub revisions (a reload) instead of reusing the cached snapshot.
    pub refresh: bool,
}

/// Estimated memory of a loaded model: its weights in its dtype (every parameter
/// counted at the linear layers' width) plus the f32 activations of one batch of
/// `max_batch_tokens` tokens, bytes.
pub fn estimated_bytes(model: &Model, batch: &BatchConfig) -> u64 {
    let weights = model.num_params() as u64 * model.dtype().bytes_per_weight();
    let activations =
        batch.max_batch_tokens as u64 * model.hidden_size() as u64 * ACTIVATION_FLOATS_PER_HIDDEN * F32_BYTES;
    weights + activations
}

/// The cache fingerprint of `files` in `dtype`: f32 keeps the files' fingerprint (so
/// caches written before dtypes existed stay valid); bf16 and int8 append their name,
/// so their logits never answer an f32 request, nor each other's.
fn with_dtype(fingerprint: String, dtype: crate::model::Dtype) -> String {
    match dtype {
        crate::model::Dtype::F32 => fingerprint,
        other => format!("{fingerprint}-{other}"),
    }
}

/// Loads from one source: resolve, fingerprint, load.
fn load_from(job: &LoadJob, source: &ModelSource) -> Result<(Model, String, Option<String>), ModelError> {
    let files = source::resolve_with(source, false, job.refresh)?;
    let fingerprint = with_dtype(files.fingerprint(&job.spec.name)?, job.dtype);
    let model = Model::load_with(&files, &job.device, job.spec.settings.max_tokens, job.dtype)?;
    Ok((model, fingerprint, files.revision))
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
            Ok((model, fingerprint, revision)) => {
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
                let model = Arc::new(model);
                let batcher = Batcher::spawn(&job.spec.name, Arc::clone(&model), job.batch.clone())?;
                return Ok(LoadedModel {
                    name: Arc::from(job.spec.name.as_str()),
                    bytes: estimated_bytes(&model, &job.batch),
                    model,
                    batcher,
                    batch: job.batch.clone(),
                    fingerprint: Arc::from(fingerprint),
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

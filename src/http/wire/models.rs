//! What `GET /models` and the load, reload and unload routes answer.

use serde::Serialize;

use crate::{registry, service};

/// A model's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ModelState {
    /// Not in memory; the next request loads it.
    Unloaded,
    /// A load is running.
    Loading,
    /// In memory and serving.
    Loaded,
    /// The last load failed.
    Failed,
}

impl From<registry::ModelState> for ModelState {
    fn from(state: registry::ModelState) -> Self {
        match state {
            registry::ModelState::Unloaded => Self::Unloaded,
            registry::ModelState::Loading => Self::Loading,
            registry::ModelState::Loaded => Self::Loaded,
            registry::ModelState::Failed => Self::Failed,
        }
    }
}

/// One model, as the registry reports it.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct ModelStatus {
    /// Configured name.
    pub name: String,
    /// Sources as configured, in the order they are tried (`a, then b`).
    pub source: String,
    /// The source the loaded weights came from, once loaded.
    pub serving_source: Option<String>,
    /// Why the sources before `serving_source` failed, when a fallback serves.
    pub fallback_reason: Option<String>,
    /// Whether it is the default model.
    pub default: bool,
    /// Lifecycle state.
    pub state: ModelState,
    /// Never evicted by the registry's bounds or idle unload.
    pub pinned: bool,
    /// Unloaded after this long without a request, s (`null`: never).
    pub idle_unload_secs: Option<u64>,
    /// When a request last used it, ms since the Unix epoch (`null`: never).
    pub last_used_ms: Option<u64>,
    /// Estimated memory while loaded: weights plus activations of one full batch, bytes.
    pub bytes: Option<u64>,
    /// Resolved revision (Hub commit), if known.
    pub revision: Option<String>,
    /// HF `model_type` of the checkpoint, once loaded.
    pub architecture: Option<String>,
    /// Label names by class index, once loaded.
    pub labels: Option<Vec<String>>,
    /// Device the weights live on, once loaded.
    pub device: Option<String>,
    /// Compute dtype of the weights and activations, once loaded.
    pub dtype: Option<String>,
    /// The kernel its linear layers run on, once loaded: `f32-packed-avx2`,
    /// `f32-gemm`, `bf16-avx512bf16`, `bf16-widened-f32-…`, `int8-avx512vnni`,
    /// `int8-avx2`, `int8-portable`, or `candle-matmul` off the CPU.
    pub kernel: Option<String>,
    /// Parameter count, once loaded.
    pub parameters: Option<usize>,
    /// Longest input in tokens (longer texts are truncated), once loaded.
    pub max_tokens: Option<usize>,
    /// Most texts in one forward pass.
    pub max_batch_size: usize,
    /// Most texts waiting in the model's queue.
    pub queue_capacity: usize,
    /// The loaded model's cache identity (32 hex digits): a hash of its files' content
    /// and of every setting its logits depend on (dtype, applied `max_tokens`, …).
    pub fingerprint: Option<String>,
    /// Duration of the last successful load, ms.
    pub load_ms: Option<f64>,
    /// How many loads (and reloads) were started since the process began.
    pub loads: u64,
    /// How many times the registry unloaded it on its own (bounds or idle).
    pub evictions: u64,
    /// Why the last load failed.
    pub error: Option<String>,
    /// Why the last reload failed (the previous weights kept serving).
    pub reload_error: Option<String>,
}

impl From<registry::ModelStatus> for ModelStatus {
    fn from(status: registry::ModelStatus) -> Self {
        let registry::ModelStatus {
            name,
            source,
            serving_source,
            fallback_reason,
            default,
            state,
            pinned,
            idle_unload_secs,
            last_used_ms,
            bytes,
            revision,
            architecture,
            labels,
            device,
            dtype,
            kernel,
            parameters,
            max_tokens,
            max_batch_size,
            queue_capacity,
            fingerprint,
            load_ms,
            loads,
            evictions,
            error,
            reload_error,
        } = status;
        Self {
            name,
            source,
            serving_source,
            fallback_reason,
            default,
            state: state.into(),
            pinned,
            idle_unload_secs,
            last_used_ms,
            bytes,
            revision,
            architecture,
            labels,
            device,
            dtype,
            kernel,
            parameters,
            max_tokens,
            max_batch_size,
            queue_capacity,
            fingerprint,
            load_ms,
            loads,
            evictions,
            error,
            reload_error,
        }
    }
}

/// The body of `GET /models`.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ModelsReport {
    /// The default model's name.
    pub default: String,
    /// Every configured model.
    pub models: Vec<ModelStatus>,
}

impl From<service::ModelsReport> for ModelsReport {
    fn from(service::ModelsReport { default, models }: service::ModelsReport) -> Self {
        Self { default, models: models.into_iter().map(Into::into).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn status(state: registry::ModelState, loaded: bool) -> registry::ModelStatus {
        let some = |s: &str| loaded.then(|| s.to_string());
        registry::ModelStatus {
            name: "m".into(),
            source: "./models/m".into(),
            serving_source: some("./models/m"),
            fallback_reason: some("first source failed"),
            default: true,
            state,
            pinned: loaded,
            idle_unload_secs: loaded.then_some(60),
            last_used_ms: loaded.then_some(1_700_000_000_000),
            bytes: loaded.then_some(90_000_000),
            revision: some("abc"),
            architecture: some("bert"),
            labels: loaded.then(|| vec!["NEGATIVE".into(), "POSITIVE".into()]),
            device: some("cpu"),
            dtype: some("f16"),
            kernel: some("f32-packed-avx2"),
            parameters: loaded.then_some(22_000_000),
            max_tokens: loaded.then_some(512),
            max_batch_size: 32,
            queue_capacity: 1024,
            fingerprint: some("00112233445566778899aabbccddeeff"),
            load_ms: loaded.then_some(12.5),
            loads: 2,
            evictions: 1,
            error: (!loaded).then(|| "no such file".into()),
            reload_error: some("reload failed"),
        }
    }

    #[test]
    fn statuses_serialize_as_the_registry_reports_them() {
        for (state, loaded) in [
            (registry::ModelState::Loaded, true),
            (registry::ModelState::Unloaded, false),
            (registry::ModelState::Loading, false),
            (registry::ModelState::Failed, false),
        ] {
            let report = service::ModelsReport { default: "m".into(), models: vec![status(state, loaded)] };
            let expected = serde_json::to_value(&report).unwrap();
            assert_eq!(serde_json::to_value(ModelsReport::from(report)).unwrap(), expected);
        }
    }
}

//! What `GET /models` shows of each model.

use serde::Serialize;

/// A slot's lifecycle state.
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

/// What `GET /models` shows of one model.
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

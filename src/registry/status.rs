//! What `GET /models` shows of each model.

use std::sync::atomic::Ordering;

use serde::Serialize;

use super::{Registry, RegistryError, SlotState};

/// A slot's lifecycle state.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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
    /// The CPU kernel of its linear layers (e.g. `f32-packed-avx2`), once loaded.
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

impl Registry {
    /// The state of one model.
    ///
    /// Errors: [`RegistryError::UnknownModel`].
    pub fn state(&self, name: &str) -> Result<ModelState, RegistryError> {
        Ok(state_of(&self.slot(name)?.state()))
    }

    /// The status of one model.
    ///
    /// Errors: [`RegistryError::UnknownModel`].
    pub fn status(&self, name: &str) -> Result<ModelStatus, RegistryError> {
        let slot = self.slot(name)?;
        let state = slot.state();
        let last_used = slot.last_used_ms.load(Ordering::Relaxed);
        let mut status = ModelStatus {
            name: slot.spec.name.clone(),
            source: slot.spec.sources_text(),
            serving_source: None,
            fallback_reason: None,
            default: slot.spec.name == self.shared.default,
            state: state_of(&state),
            pinned: slot.pinned,
            idle_unload_secs: slot.idle_unload.map(|d| d.as_secs()),
            last_used_ms: (last_used > 0).then_some(last_used),
            bytes: None,
            revision: None,
            architecture: None,
            labels: None,
            device: None,
            dtype: None,
            kernel: None,
            parameters: None,
            max_tokens: None,
            max_batch_size: slot.batch.max_batch_size,
            queue_capacity: slot.batch.queue_capacity,
            fingerprint: None,
            load_ms: None,
            loads: slot.loads.load(Ordering::SeqCst),
            evictions: slot.evictions.load(Ordering::SeqCst),
            error: None,
            reload_error: slot.reload_error.lock().unwrap_or_else(|p| p.into_inner()).clone(),
        };
        match &*state {
            SlotState::Loaded(loaded) => {
                let info = loaded.engine.info();
                status.serving_source = Some(loaded.source.clone());
                status.fallback_reason = loaded.fallback_reason.clone();
                status.bytes = Some(loaded.bytes);
                status.revision = loaded.revision.clone();
                status.architecture = Some(info.architecture.clone());
                status.labels = Some(info.id2label.clone());
                status.device = Some(info.device.clone());
                status.dtype = Some(info.dtype().to_string());
                status.kernel = Some(info.kernel.to_string());
                status.parameters = Some(info.parameters);
                status.max_tokens = Some(info.max_tokens());
                status.fingerprint = Some(loaded.identity.to_string());
                status.load_ms = Some(loaded.load_ms);
            }
            SlotState::Failed(error) => status.error = Some(error.to_string()),
            SlotState::Unloaded | SlotState::Loading => {}
        }
        Ok(status)
    }

    /// The status of every model, sorted by name.
    pub fn statuses(&self) -> Vec<ModelStatus> {
        self.shared.slots.keys().filter_map(|name| self.status(name).ok()).collect()
    }
}

fn state_of(state: &SlotState) -> ModelState {
    match state {
        SlotState::Unloaded => ModelState::Unloaded,
        SlotState::Loading => ModelState::Loading,
        SlotState::Loaded(_) => ModelState::Loaded,
        SlotState::Failed(_) => ModelState::Failed,
    }
}

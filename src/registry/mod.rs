//! The model registry: the process-wide cache of loaded models.
//!
//! Every configured name has a slot. A model is loaded at most once at a time: the
//! first caller loads it while concurrent callers wait on the same load
//! (single-flight), and all share one read-only `Arc<LoadedModel>`. Unloading drops
//! the registry's reference; requests already holding it finish first, then the
//! weights are freed. Only configured names can be loaded, so no request can make the
//! server fetch an arbitrary model.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Instant;

use candle_core::Device;
use serde::Serialize;

use crate::batch::{BatchConfig, Batcher};
use crate::model::device::device_name;
use crate::model::hf::source;
use crate::model::{Model, ModelError, ModelSource};

/// A configured model name and where its files come from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// The name requests use (`"model": "sentiment"`).
    pub name: String,
    /// Local directory or Hub id.
    pub source: ModelSource,
}

/// A model in memory with its inference queue.
pub struct LoadedModel {
    /// The configured name.
    pub name: Arc<str>,
    /// The model itself.
    pub model: Arc<Model>,
    /// Its dynamic-batching queue.
    pub batcher: Batcher,
    /// Identity of the loaded weights; part of every cache key.
    pub fingerprint: Arc<str>,
    /// Resolved Hub commit, or `None` for local directories.
    pub revision: Option<String>,
    /// Wall time of the load, ms.
    pub load_ms: f64,
}

/// Why a model is not available.
#[derive(Debug, Clone, thiserror::Error)]
pub enum RegistryError {
    /// The name is not configured.
    #[error("unknown model `{name}`; configured models: {known}")]
    UnknownModel {
        /// The requested name.
        name: String,
        /// Comma-separated configured names.
        known: String,
    },
    /// The last load failed; `POST /models/{name}/load` retries.
    #[error("model `{name}` failed to load: {source}")]
    LoadFailed {
        /// The model's name.
        name: String,
        /// The load error.
        source: Arc<ModelError>,
    },
}

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
    /// Source as configured.
    pub source: String,
    /// Whether it is the default model.
    pub default: bool,
    /// Lifecycle state.
    pub state: ModelState,
    /// Resolved revision (Hub commit), if known.
    pub revision: Option<String>,
    /// HF `model_type` of the checkpoint, once loaded.
    pub architecture: Option<String>,
    /// Label names by class index, once loaded.
    pub labels: Option<Vec<String>>,
    /// Device the weights live on, once loaded.
    pub device: Option<String>,
    /// Parameter count, once loaded.
    pub parameters: Option<usize>,
    /// Longest input in tokens (longer texts are truncated), once loaded.
    pub max_tokens: Option<usize>,
    /// Fingerprint of the loaded weights.
    pub fingerprint: Option<String>,
    /// Duration of the last successful load, ms.
    pub load_ms: Option<f64>,
    /// How many loads were started since the process began.
    pub loads: u64,
    /// Why the last load failed.
    pub error: Option<String>,
}

enum SlotState {
    Unloaded,
    Loading,
    Loaded(Arc<LoadedModel>),
    Failed(Arc<ModelError>),
}

struct Slot {
    spec: ModelSpec,
    /// A std mutex: it is held only to read or swap the state, never across an await.
    state: Mutex<SlotState>,
    /// Held across a whole load or unload so they never interleave (single-flight).
    transition: tokio::sync::Mutex<()>,
    loads: AtomicU64,
    /// Set by the first successful load: from then on an unloaded model is one that can
    /// load on demand, not one the server is still waiting for.
    ever_loaded: std::sync::atomic::AtomicBool,
}

struct Shared {
    slots: BTreeMap<String, Slot>,
    default: String,
    device: Device,
    batch: BatchConfig,
}

/// A cheap-to-clone handle to the registry.
#[derive(Clone)]
pub struct Registry {
    shared: Arc<Shared>,
}

impl Registry {
    /// Builds a registry of `specs` (nothing loaded yet) on `device`.
    ///
    /// Errors: `default` is not among `specs`.
    pub fn new(
        specs: Vec<ModelSpec>,
        default: &str,
        device: Device,
        batch: BatchConfig,
    ) -> Result<Self, RegistryError> {
        let slots: BTreeMap<String, Slot> = specs
            .into_iter()
            .map(|spec| {
                let slot = Slot {
                    spec: spec.clone(),
                    state: Mutex::new(SlotState::Unloaded),
                    transition: tokio::sync::Mutex::new(()),
                    loads: AtomicU64::new(0),
                    ever_loaded: std::sync::atomic::AtomicBool::new(false),
                };
                (spec.name, slot)
            })
            .collect();
        let registry = Self { shared: Arc::new(Shared { slots, default: default.to_string(), device, batch }) };
        registry.slot(default)?;
        Ok(registry)
    }

    /// The batching limits every model's queue runs with.
    pub fn batch_config(&self) -> &BatchConfig {
        &self.shared.batch
    }

    /// The default model's name.
    pub fn default_name(&self) -> &str {
        &self.shared.default
    }

    /// Every configured name, sorted.
    pub fn names(&self) -> Vec<String> {
        self.shared.slots.keys().cloned().collect()
    }

    fn slot(&self, name: &str) -> Result<&Slot, RegistryError> {
        self.shared
            .slots
            .get(name)
            .ok_or_else(|| RegistryError::UnknownModel { name: name.to_string(), known: self.names().join(", ") })
    }

    /// The model, loading it first if it is not in memory. A model whose last load
    /// failed is not retried here (see [`Registry::load`]).
    ///
    /// Errors: [`RegistryError::UnknownModel`], [`RegistryError::LoadFailed`].
    pub async fn get(&self, name: &str) -> Result<Arc<LoadedModel>, RegistryError> {
        let slot = self.slot(name)?;
        match &*slot.state.lock().unwrap_or_else(|p| p.into_inner()) {
            SlotState::Loaded(model) => return Ok(Arc::clone(model)),
            SlotState::Failed(source) => {
                return Err(RegistryError::LoadFailed { name: name.to_string(), source: Arc::clone(source) })
            }
            SlotState::Unloaded | SlotState::Loading => {}
        }
        self.load_slot(slot, false).await
    }

    /// Loads the model (retrying a failed one); a no-op when it is already loaded.
    /// Concurrent callers share one load.
    ///
    /// Errors: [`RegistryError::UnknownModel`], [`RegistryError::LoadFailed`].
    pub async fn load(&self, name: &str) -> Result<Arc<LoadedModel>, RegistryError> {
        let slot = self.slot(name)?;
        self.load_slot(slot, true).await
    }

    async fn load_slot(&self, slot: &Slot, retry_failed: bool) -> Result<Arc<LoadedModel>, RegistryError> {
        let _transition = slot.transition.lock().await;
        let name = slot.spec.name.clone();
        {
            let mut state = slot.state.lock().unwrap_or_else(|p| p.into_inner());
            match &*state {
                SlotState::Loaded(model) => return Ok(Arc::clone(model)),
                SlotState::Failed(source) if !retry_failed => {
                    return Err(RegistryError::LoadFailed { name, source: Arc::clone(source) })
                }
                _ => *state = SlotState::Loading,
            }
        }
        slot.loads.fetch_add(1, Ordering::SeqCst);
        tracing::info!(model = %name, source = %slot.spec.source, "loading model");
        let (spec, device, batch) = (slot.spec.clone(), self.shared.device.clone(), self.shared.batch.clone());
        let outcome = tokio::task::spawn_blocking(move || load_model(&spec, &device, batch))
            .await
            .unwrap_or_else(|e| Err(ModelError::Panic { during: "load", message: e.to_string() }));
        let mut state = slot.state.lock().unwrap_or_else(|p| p.into_inner());
        match outcome {
            Ok(loaded) => {
                let loaded = Arc::new(loaded);
                tracing::info!(
                    model = %name,
                    load_ms = format!("{:.0}", loaded.load_ms),
                    device = %device_name(loaded.model.device()),
                    parameters = loaded.model.num_params(),
                    architecture = %loaded.model.architecture(),
                    "model ready"
                );
                metrics::histogram!("sentiserve_model_load_seconds", "model" => name.clone())
                    .record(loaded.load_ms / 1000.0);
                *state = SlotState::Loaded(Arc::clone(&loaded));
                slot.ever_loaded.store(true, Ordering::SeqCst);
                Ok(loaded)
            }
            Err(error) => {
                tracing::error!(model = %name, error = %error, "model failed to load");
                let source = Arc::new(error);
                *state = SlotState::Failed(Arc::clone(&source));
                Err(RegistryError::LoadFailed { name, source })
            }
        }
    }

    /// Drops the registry's reference to the model; its weights are freed once the
    /// requests using it finish. Returns whether it was loaded.
    ///
    /// Errors: [`RegistryError::UnknownModel`].
    pub async fn unload(&self, name: &str) -> Result<bool, RegistryError> {
        let slot = self.slot(name)?;
        let _transition = slot.transition.lock().await;
        let previous =
            std::mem::replace(&mut *slot.state.lock().unwrap_or_else(|p| p.into_inner()), SlotState::Unloaded);
        let was_loaded = matches!(previous, SlotState::Loaded(_));
        if was_loaded {
            tracing::info!(model = name, "model unloaded");
        }
        Ok(was_loaded)
    }

    /// Whether the model has loaded successfully at least once.
    ///
    /// Errors: [`RegistryError::UnknownModel`].
    pub fn ever_loaded(&self, name: &str) -> Result<bool, RegistryError> {
        Ok(self.slot(name)?.ever_loaded.load(Ordering::SeqCst))
    }

    /// The state of one model.
    ///
    /// Errors: [`RegistryError::UnknownModel`].
    pub fn state(&self, name: &str) -> Result<ModelState, RegistryError> {
        Ok(state_of(&self.slot(name)?.state.lock().unwrap_or_else(|p| p.into_inner())))
    }

    /// The status of one model.
    ///
    /// Errors: [`RegistryError::UnknownModel`].
    pub fn status(&self, name: &str) -> Result<ModelStatus, RegistryError> {
        let slot = self.slot(name)?;
        let state = slot.state.lock().unwrap_or_else(|p| p.into_inner());
        let mut status = ModelStatus {
            name: slot.spec.name.clone(),
            source: slot.spec.source.to_string(),
            default: slot.spec.name == self.shared.default,
            state: state_of(&state),
            revision: None,
            architecture: None,
            labels: None,
            device: None,
            parameters: None,
            max_tokens: None,
            fingerprint: None,
            load_ms: None,
            loads: slot.loads.load(Ordering::SeqCst),
            error: None,
        };
        match &*state {
            SlotState::Loaded(loaded) => {
                let model = &loaded.model;
                status.revision = loaded.revision.clone();
                status.architecture = Some(model.architecture().to_string());
                status.labels = Some(model.id2label().to_vec());
                status.device = Some(device_name(model.device()));
                status.parameters = Some(model.num_params());
                status.max_tokens = Some(model.max_tokens());
                status.fingerprint = Some(loaded.fingerprint.to_string());
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

/// Resolves, loads and starts the batcher of one model (blocking).
///
/// Errors: [`ModelError`] from resolving, fingerprinting, loading or the thread start.
fn load_model(spec: &ModelSpec, device: &Device, batch: BatchConfig) -> Result<LoadedModel, ModelError> {
    let started = Instant::now();
    let files = source::resolve(&spec.source, false)?;
    let fingerprint = files.fingerprint(&spec.name)?;
    let model = Arc::new(Model::load(&files, device)?);
    let batcher = Batcher::spawn(&spec.name, Arc::clone(&model), batch)?;
    Ok(LoadedModel {
        name: Arc::from(spec.name.as_str()),
        model,
        batcher,
        fingerprint: Arc::from(fingerprint),
        revision: files.revision,
        load_ms: started.elapsed().as_secs_f64() * 1000.0,
    })
}

//! The model registry: the process-wide, bounded cache of loaded models.
//!
//! Every configured name has a slot. A model is loaded at most once at a time: the
//! first caller loads it while concurrent callers wait on the same load
//! (single-flight), and all share one read-only `Arc<LoadedModel>`. Unloading drops
//! the registry's reference; requests already holding it finish first, then the
//! weights are freed. Only configured names can be loaded, so no request can make the
//! server fetch an arbitrary model.
//!
//! Like `st.cache_resource(max_entries=…, ttl=…)`, the registry is bounded
//! (`--max-loaded-models`, `--models-max-bytes`: the least recently used model with no
//! request in flight is evicted, pinned ones never) and expiring (`idle_unload_secs`),
//! see [`bounds`]. A reload loads new weights beside the old ones and swaps them
//! atomically (Triton's model control), see [`Registry::reload`].

pub mod bounds;
pub mod load;
pub mod spec;
pub mod status;

use std::collections::{BTreeMap, HashSet};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use candle_core::Device;

use crate::batch::{BatchConfig, Batcher};
use crate::cache::Identity;
use crate::engine::{Engine, Loader};
use crate::model::{DeviceSpec, ModelError};
use bounds::Recency;
pub use bounds::RegistryBounds;
pub use spec::{ModelSettings, ModelSpec};
pub use status::{ModelState, ModelStatus};

/// A model in memory with its inference queue.
pub struct LoadedModel {
    /// The configured name.
    pub name: Arc<str>,
    /// The engine that computes its logits.
    pub engine: Arc<dyn Engine>,
    /// Its dynamic-batching queue.
    pub batcher: Batcher,
    /// The limits its queue runs with.
    pub batch: BatchConfig,
    /// What its cached answers are keyed by (files' content, logits settings; right side).
    pub identity: Identity,
    /// The same for inputs cut on the left (`truncation_direction: "left"`).
    pub left_identity: Identity,
    /// Resolved Hub commit, or `None` for local directories.
    pub revision: Option<String>,
    /// The source the weights came from.
    pub source: String,
    /// Why the sources before `source` failed (a fallback serves), if they did.
    pub fallback_reason: Option<String>,
    /// Estimated memory: weights plus one full batch of activations, bytes.
    pub bytes: u64,
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
    /// A reload failed; the previous weights keep serving.
    #[error("model `{name}` failed to reload (the previous weights keep serving): {source}")]
    ReloadFailed {
        /// The model's name.
        name: String,
        /// The load error.
        source: Arc<ModelError>,
    },
}

enum SlotState {
    Unloaded,
    Loading,
    Loaded(Arc<LoadedModel>),
    Failed(Arc<ModelError>),
}

struct Slot {
    /// Its position among the registry's models.
    id: usize,
    spec: ModelSpec,
    /// The spec's batching limits over the server-wide ones.
    batch: BatchConfig,
    pinned: bool,
    idle_unload: Option<Duration>,
    /// A std mutex: it is held only to read or swap the state, never across an await.
    state: Mutex<SlotState>,
    /// Held across a whole load, reload or unload so they never interleave
    /// (single-flight).
    transition: tokio::sync::Mutex<()>,
    loads: AtomicU64,
    evictions: AtomicU64,
    /// When a request last took the model, ms since the Unix epoch (0: never).
    last_used_ms: AtomicU64,
    /// Its place in the use order ([`Recency`]; 0: never used): the least recently
    /// used model has the smallest.
    used_seq: AtomicU64,
    /// Why the last reload failed, while the previous weights serve.
    reload_error: Mutex<Option<String>>,
    /// Set by the first successful load: from then on an unloaded model is one that can
    /// load on demand, not one the server is still waiting for.
    ever_loaded: AtomicBool,
}

impl Slot {
    fn state(&self) -> std::sync::MutexGuard<'_, SlotState> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    fn loaded(&self) -> Option<Arc<LoadedModel>> {
        match &*self.state() {
            SlotState::Loaded(model) => Some(Arc::clone(model)),
            _ => None,
        }
    }
}

/// What the registry is built with besides the models.
#[derive(Clone)]
pub struct RegistryConfig {
    /// What turns a configured source into an engine ([`crate::engine::hf::HfLoader`]
    /// for real checkpoints).
    pub loader: Arc<dyn Loader>,
    /// The device models load onto unless their settings name another, as asked for.
    pub device_spec: DeviceSpec,
    /// That device, opened.
    pub device: Device,
    /// Batching limits unless a model's settings override them.
    pub batch: BatchConfig,
    /// How many models, and how many bytes, may be loaded at once; idle unload.
    pub bounds: RegistryBounds,
    /// Dtype of the linear layers unless a model's settings name another.
    pub dtype: crate::model::Dtype,
    /// Models pinned unless their settings say otherwise (the preloaded ones).
    pub pinned: HashSet<String>,
}

struct Shared {
    slots: BTreeMap<String, Slot>,
    recency: Recency,
    loader: Arc<dyn Loader>,
    default: String,
    device: Device,
    device_spec: DeviceSpec,
    bounds: RegistryBounds,
    dtype: crate::model::Dtype,
}

/// A cheap-to-clone handle to the registry.
#[derive(Clone)]
pub struct Registry {
    shared: Arc<Shared>,
}

impl Registry {
    /// Builds a registry of `specs` (nothing loaded yet).
    ///
    /// Errors: [`RegistryError::UnknownModel`] when `default` is not among `specs`.
    pub fn new(specs: Vec<ModelSpec>, default: &str, config: RegistryConfig) -> Result<Self, RegistryError> {
        let slots: BTreeMap<String, Slot> = specs
            .into_iter()
            .enumerate()
            .map(|(id, spec)| {
                let pinned = spec.settings.pinned.unwrap_or_else(|| config.pinned.contains(&spec.name));
                let idle_unload = spec.settings.idle_unload.or(config.bounds.idle_unload).filter(|d| !d.is_zero());
                let slot = Slot {
                    id,
                    batch: spec.settings.batch(&config.batch),
                    pinned,
                    idle_unload,
                    spec: spec.clone(),
                    state: Mutex::new(SlotState::Unloaded),
                    transition: tokio::sync::Mutex::new(()),
                    loads: AtomicU64::new(0),
                    evictions: AtomicU64::new(0),
                    last_used_ms: AtomicU64::new(0),
                    used_seq: AtomicU64::new(0),
                    reload_error: Mutex::new(None),
                    ever_loaded: AtomicBool::new(false),
                };
                (spec.name, slot)
            })
            .collect();
        let shared = Shared {
            slots,
            recency: Recency::new(),
            default: default.to_string(),
            loader: config.loader,
            device: config.device,
            device_spec: config.device_spec,
            bounds: config.bounds,
            dtype: config.dtype,
        };
        let registry = Self { shared: Arc::new(shared) };
        registry.slot(default)?;
        Ok(registry)
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

    /// The model, loading it first if it is not in memory, and marks it used. A model
    /// whose last load failed is not retried here (see [`Registry::load`]).
    ///
    /// Errors: [`RegistryError::UnknownModel`], [`RegistryError::LoadFailed`].
    pub async fn get(&self, name: &str) -> Result<Arc<LoadedModel>, RegistryError> {
        let slot = self.slot(name)?;
        slot.touch(&self.shared.recency);
        match &*slot.state() {
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
            let mut state = slot.state();
            match &*state {
                SlotState::Loaded(model) => return Ok(Arc::clone(model)),
                SlotState::Failed(source) if !retry_failed => {
                    return Err(RegistryError::LoadFailed { name, source: Arc::clone(source) })
                }
                _ => *state = SlotState::Loading,
            }
        }
        let outcome = self.run_load(slot, false).await;
        let mut state = slot.state();
        match outcome {
            Ok(loaded) => {
                *state = SlotState::Loaded(Arc::clone(&loaded));
                drop(state);
                slot.ever_loaded.store(true, Ordering::SeqCst);
                slot.touch(&self.shared.recency);
                self.enforce_bounds(&name);
                Ok(loaded)
            }
            Err(error) => {
                tracing::error!(model = %name, error = %error, "model failed to load");
                let source = Arc::new(error);
                *state = SlotState::Failed(Arc::clone(&source));
                drop(state);
                self.publish_gauges();
                Err(RegistryError::LoadFailed { name, source })
            }
        }
    }

    /// Resolves and loads the slot's model on the blocking pool (`refresh`: re-resolve
    /// Hub revisions rather than reuse the cached snapshot).
    async fn run_load(&self, slot: &Slot, refresh: bool) -> Result<Arc<LoadedModel>, ModelError> {
        slot.loads.fetch_add(1, Ordering::SeqCst);
        tracing::info!(model = %slot.spec.name, source = %slot.spec.sources_text(), "loading model");
        let device = match slot.spec.settings.device {
            Some(spec) if spec != self.shared.device_spec => spec.open()?,
            _ => self.shared.device.clone(),
        };
        let dtype = slot.spec.settings.dtype.unwrap_or(self.shared.dtype);
        let job = load::LoadJob {
            spec: slot.spec.clone(),
            loader: Arc::clone(&self.shared.loader),
            device,
            dtype,
            batch: slot.batch.clone(),
            refresh,
        };
        let loaded = tokio::task::spawn_blocking(move || load::load_model(&job))
            .await
            .unwrap_or_else(|e| Err(ModelError::Panic { during: "load", message: e.to_string() }))?;
        tracing::info!(
            model = %slot.spec.name,
            source = %loaded.source,
            load_ms = loaded.load_ms.round() as u64,
            device = %loaded.engine.info().device,
            dtype = %loaded.engine.info().dtype(),
            parameters = loaded.engine.info().parameters,
            bytes = loaded.bytes,
            architecture = %loaded.engine.info().architecture,
            "model ready"
        );
        metrics::histogram!("sentiserve_model_load_seconds", "model" => slot.spec.name.clone())
            .record(loaded.load_ms / 1000.0);
        Ok(Arc::new(loaded))
    }

    /// Loads the model's weights again from its sources (a local directory is re-read,
    /// a Hub revision re-resolved) beside the serving ones, then swaps them in
    /// atomically: requests never see a gap, those in flight finish on the old weights,
    /// which are freed after. A model that is not loaded is simply loaded.
    ///
    /// Errors: [`RegistryError::ReloadFailed`] (the old weights keep serving and
    /// `GET /models` shows the error), [`RegistryError::LoadFailed`] when nothing was
    /// loaded and the load failed, [`RegistryError::UnknownModel`].
    pub async fn reload(&self, name: &str) -> Result<Arc<LoadedModel>, RegistryError> {
        let slot = self.slot(name)?;
        let transition = slot.transition.lock().await;
        let Some(old) = slot.loaded() else {
            drop(transition);
            return self.load_slot(slot, true).await;
        };
        match self.run_load(slot, true).await {
            Ok(new) => {
                *slot.state() = SlotState::Loaded(Arc::clone(&new));
                *slot.reload_error.lock().unwrap_or_else(|p| p.into_inner()) = None;
                tracing::info!(
                    model = name,
                    old_identity = %old.identity,
                    new_identity = %new.identity,
                    "model reloaded; requests in flight finish on the previous weights"
                );
                drop(transition);
                self.enforce_bounds(name);
                Ok(new)
            }
            Err(error) => {
                tracing::error!(model = name, error = %error, "model failed to reload; the previous weights keep serving");
                *slot.reload_error.lock().unwrap_or_else(|p| p.into_inner()) = Some(error.to_string());
                Err(RegistryError::ReloadFailed { name: name.to_string(), source: Arc::new(error) })
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
        let previous = std::mem::replace(&mut *slot.state(), SlotState::Unloaded);
        let was_loaded = matches!(previous, SlotState::Loaded(_));
        if was_loaded {
            tracing::info!(model = name, "model unloaded");
        }
        drop(previous);
        self.publish_gauges();
        Ok(was_loaded)
    }

    /// Whether the model has loaded successfully at least once.
    ///
    /// Errors: [`RegistryError::UnknownModel`].
    pub fn ever_loaded(&self, name: &str) -> Result<bool, RegistryError> {
        Ok(self.slot(name)?.ever_loaded.load(Ordering::SeqCst))
    }
}

#[cfg(test)]
mod tests;

//! What the registry knows of a configured model before loading it: its name, where
//! its files come from (in order of preference), and its per-model settings, which
//! override the server-wide flags.

use std::time::Duration;

use crate::batch::BatchConfig;
use crate::model::{DeviceSpec, ModelSource};

/// A configured model name, its sources and settings.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ModelSpec {
    /// The name requests use (`"model": "sentiment"`).
    pub name: String,
    /// The preferred source: a local directory or a Hub id.
    pub source: ModelSource,
    /// Sources tried in order when the ones before fail (e.g. a bundled directory
    /// after a Hub id, for machines without network).
    pub fallbacks: Vec<ModelSource>,
    /// Per-model overrides of the server-wide settings.
    pub settings: ModelSettings,
}

impl ModelSpec {
    /// A model with one source and the server-wide settings.
    pub fn new(name: impl Into<String>, source: ModelSource) -> Self {
        Self { name: name.into(), source, fallbacks: Vec::new(), settings: ModelSettings::default() }
    }

    /// Every source, preferred first.
    pub fn sources(&self) -> impl Iterator<Item = &ModelSource> {
        std::iter::once(&self.source).chain(&self.fallbacks)
    }

    /// The sources as written, `a, then b`, for messages and `GET /models`.
    pub fn sources_text(&self) -> String {
        self.sources().map(ToString::to_string).collect::<Vec<_>>().join(", then ")
    }
}

/// Per-model settings from the manifest; `None` takes the server-wide value.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct ModelSettings {
    /// Where the weights live.
    pub device: Option<DeviceSpec>,
    /// Most texts in one forward pass.
    pub max_batch_size: Option<usize>,
    /// Most padded tokens in one forward pass.
    pub max_batch_tokens: Option<usize>,
    /// Truncation limit in tokens; at most the model's own limit.
    pub max_tokens: Option<usize>,
    /// Most texts waiting in the model's queue.
    pub queue_capacity: Option<usize>,
    /// Never evicted by the registry's bounds or its idle unload (default: the
    /// preloaded models are pinned).
    pub pinned: Option<bool>,
    /// Unloaded after this long without a request (`Some(0)`: never).
    pub idle_unload: Option<Duration>,
    /// Time to live of this model's prediction-cache entries.
    pub cache_ttl: Option<Duration>,
    /// Dtype of the linear layers (default: the server's `--dtype`).
    pub dtype: Option<crate::model::Dtype>,
}

impl ModelSettings {
    /// The batching limits: these settings over `defaults`.
    pub fn batch(&self, defaults: &BatchConfig) -> BatchConfig {
        BatchConfig {
            max_batch_size: self.max_batch_size.unwrap_or(defaults.max_batch_size),
            max_batch_tokens: self.max_batch_tokens.unwrap_or(defaults.max_batch_tokens),
            max_wait: defaults.max_wait,
            queue_capacity: self.queue_capacity.unwrap_or(defaults.queue_capacity),
        }
        .normalized()
    }
}

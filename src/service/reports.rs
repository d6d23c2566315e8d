//! What the service's operations answer: analysis results, model info, the
//! registry's and the cache's reports, readiness.

use std::collections::BTreeMap;

use serde::Serialize;

use crate::cache::{CacheStats, TierClear};
use crate::model::LabelScore;
use crate::registry::{ModelState, ModelStatus};

/// The result for one input text.
#[derive(Debug, Clone, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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

/// The registry's view for `GET /models`.
#[derive(Debug, Serialize)]
pub struct ModelsReport {
    /// The default model's name.
    pub default: String,
    /// Every configured model.
    pub models: Vec<ModelStatus>,
}

/// What `DELETE /cache` did.
#[derive(Debug, Serialize)]
pub struct ClearReport {
    /// `"all"` or the model's name.
    pub cleared: String,
    /// What happened in each tier (a tier that is down says so).
    pub tiers: Vec<TierClear>,
    /// Stats after clearing.
    pub cache: CacheStats,
}

/// Whether the server can take traffic.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
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
#[derive(Debug, Clone, Serialize)]
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

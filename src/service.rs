//! `analyze`: cache lookups, misses through the model's batcher, results in input order.

use std::collections::HashMap;
use std::sync::Arc;

use futures::future::try_join_all;
use serde::Serialize;

use crate::batch::BatchError;
use crate::cache::{CacheKey, PredictionCache};
use crate::model::LabelScore;
use crate::registry::{Registry, RegistryError};

/// Why an analysis failed.
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

/// The request path, shared by the HTTP server and the one-shot CLI. Cheap to clone.
#[derive(Clone)]
pub struct Service {
    /// Loaded models.
    pub registry: Registry,
    /// Memoized logits.
    pub cache: PredictionCache,
}

impl Service {
    /// Classifies `texts` with `model` (or the default). Identical texts in one call,
    /// and identical concurrent misses across calls, run the model once.
    ///
    /// Errors: [`ServiceError`]; unknown model, failed load, full queue, inference.
    pub async fn analyze(&self, model: Option<&str>, texts: &[String]) -> Result<Analysis, ServiceError> {
        let name = model.unwrap_or_else(|| self.registry.default_name());
        let loaded = self.registry.get(name).await?;

        let mut unique: Vec<Arc<str>> = Vec::new();
        let mut index_of: HashMap<&str, usize> = HashMap::new();
        let positions: Vec<usize> = texts
            .iter()
            .map(|text| {
                *index_of.entry(text.as_str()).or_insert_with(|| {
                    unique.push(Arc::from(text.as_str()));
                    unique.len() - 1
                })
            })
            .collect();

        let lookups = unique.iter().map(|text| {
            let key = CacheKey {
                model: Arc::clone(&loaded.name),
                fingerprint: Arc::clone(&loaded.fingerprint),
                text: Arc::clone(text),
            };
            let compute = loaded.batcher.classify(Arc::clone(text));
            self.cache.get_or_compute(key, compute)
        });
        let outcomes = try_join_all(lookups).await.map_err(|e| {
            let source = (*e).clone();
            let model = name.to_string();
            match source {
                BatchError::QueueFull(_) => ServiceError::Overloaded { model, source },
                _ => ServiceError::Inference { model, source },
            }
        })?;

        let results = positions
            .into_iter()
            .map(|i| {
                let (logits, cached) = &outcomes[i];
                let c = loaded.model.classification(logits);
                TextResult { label: c.label, score: c.score, scores: c.scores, cached: *cached }
            })
            .collect();
        Ok(Analysis { model: name.to_string(), results })
    }
}

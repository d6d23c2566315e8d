//! Why a service operation failed.

use std::sync::Arc;

use crate::batch::BatchError;
use crate::model::{ModelError, TokenCount};
use crate::registry::RegistryError;

/// Why an operation failed.
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
    /// `truncate: false` and an input is longer than the model's limit.
    #[error(
        "input {index} has {tokens} tokens; model `{model}` takes at most {limit} (send `truncate: true` to cut it)"
    )]
    InputTooLong {
        /// The model's name.
        model: String,
        /// Position of the input in the request (0-based).
        index: usize,
        /// Its token count, special tokens included.
        tokens: TokenCount,
        /// The model's limit.
        limit: usize,
    },
    /// More distinct inputs in one request than the model's queue holds: it could never
    /// be admitted whole.
    #[error("{count} distinct inputs in one request; model `{model}` queues at most {capacity} (--queue-capacity): split the request")]
    ExceedsQueue {
        /// The model's name.
        model: String,
        /// Distinct inputs in the request.
        count: usize,
        /// The queue's capacity.
        capacity: usize,
    },
    /// The request passed its deadline (`--request-timeout-ms` or
    /// `X-Request-Timeout-Ms`); its texts still queued were dropped unrun.
    #[error("model `{model}`: the request's deadline passed before it completed")]
    Timeout {
        /// The model's name.
        model: String,
    },
    /// Zero-shot classification on a model with no entailment label (not an NLI model).
    #[error("model `{model}` is not an NLI model: none of its labels ({}) starts with \"entail\"", labels.join(", "))]
    NotNli {
        /// The model's name.
        model: String,
        /// Its labels.
        labels: Vec<String>,
    },
    /// Tokenizing an input failed (checking its length, `/tokenize`, `/decode`).
    #[error("model `{model}`: {source}")]
    Tokenizer {
        /// The model's name.
        model: String,
        /// The tokenizer's error.
        source: Arc<ModelError>,
    },
}

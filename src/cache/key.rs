//! What identifies one cached prediction.

use std::sync::Arc;

use super::identity::Identity;
use crate::model::{Prediction, TextInput};

/// Bookkeeping bytes moka keeps per entry beyond the key and value (an estimate used
/// by the byte bound).
const ENTRY_OVERHEAD_BYTES: usize = 96;

/// The key of one prediction: the model, the [`Identity`] of the logits it computes
/// (files' content and settings), and the exact input (text, or text pair).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The model's configured name (for per-model clearing).
    pub model: Arc<str>,
    /// The loaded model's identity.
    pub identity: Identity,
    /// The model's label count: a stored value with another number of logits is
    /// foreign (a miss), never an answer.
    pub num_labels: usize,
    /// The exact input.
    pub input: TextInput,
}

impl CacheKey {
    /// Estimated bytes one memory entry holds: key strings, logits and moka's
    /// bookkeeping.
    pub fn weight(&self, prediction: &Prediction) -> u32 {
        let logits = &prediction.logits;
        let bytes = self.input.len_bytes()
            + self.model.len()
            + self.identity.as_str().len()
            + std::mem::size_of_val::<[f32]>(logits)
            + ENTRY_OVERHEAD_BYTES;
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }
}

//! What identifies one cached prediction.

use std::sync::Arc;

use crate::model::{Prediction, TextInput};

/// Bookkeeping bytes moka keeps per entry beyond the key and value (an estimate used
/// by the byte bound).
const ENTRY_OVERHEAD_BYTES: usize = 96;

/// The key of one prediction: the model, the exact weights it was computed with, and
/// the exact input (text, or text pair).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The model's configured name (for per-model clearing).
    pub model: Arc<str>,
    /// The loaded model's fingerprint (name + content hash of its files).
    pub fingerprint: Arc<str>,
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
            + self.fingerprint.len()
            + std::mem::size_of_val::<[f32]>(logits)
            + ENTRY_OVERHEAD_BYTES;
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }
}

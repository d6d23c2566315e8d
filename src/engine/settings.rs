//! Everything besides the files that changes the logits an engine computes.

use serde::Serialize;

use crate::model::Dtype;
pub use crate::model::TruncationSide;

/// The settings an engine computes its logits with, besides its files. Every field is
/// part of the cache identity ([`crate::cache::Identity::new`] hashes the serialized
/// struct), so a setting added here can never be forgotten by the cache: two engines
/// share cached answers only when every field is equal.
///
/// The device and batch layout are not here: they move logits by float rounding only
/// (parity within 1e-4 in both layouts), and replicas on different hardware should
/// share entries. The dtype is, since bf16 and int8 move them by up to 1e-2.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct LogitsSettings {
    /// Which implementation computes (`candle`, or a test's fake): two engines never
    /// share answers.
    pub engine: &'static str,
    /// Dtype of the linear layers.
    pub dtype: Dtype,
    /// The truncation limit in tokens actually applied (special tokens included): the
    /// configured `max_tokens` capped at the model's own limit.
    pub max_tokens: usize,
    /// Which end of an over-long input is cut. An engine tokenizes on either side on
    /// request ([`crate::engine::Engine::tokenize`]); each side has its own identity.
    pub truncation: TruncationSide,
}

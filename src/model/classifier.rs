//! The seam between the server and a model family: [`SequenceClassifier`], an encoded
//! batch in and logits out.
//!
//! Every family (`super::families`) implements it once; everything above it (the
//! batcher, the cache, HTTP) sees only this trait, so adding a family never touches
//! them.

use candle_core::{Device, Tensor};

use super::error::Result;
use super::hf::tokenize::Encoded;
use super::layers::Linear;

/// How a batch is laid out for the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Execution {
    /// Tokens of all texts back to back with `cu_seqlens`-style segments, no padding,
    /// fused CPU kernels (the default on the CPU for families that have this path).
    Packed,
    /// Right-padded `[batch, seq_len]` with an `attention_mask`, candle ops (any
    /// device; the default on GPUs and for families without a packed path).
    Padded,
}

/// A sequence-classification body + head (HF `*ForSequenceClassification`).
///
/// Implementations are read-only after load and shared across threads.
pub trait SequenceClassifier: Send + Sync {
    /// Runs one batch and returns logits `[batch, num_labels]` (f32), one row per item
    /// in input order. Batch composition must not change any row (beyond float
    /// rounding of the order of additions).
    ///
    /// `execution` is a preference: a family without a packed path runs padded.
    ///
    /// Errors: [`super::ModelError::Tensor`] for device or shape failures,
    /// [`super::ModelError::EmptyBatch`] for an empty batch or an empty item.
    fn forward(&self, batch: &[&Encoded], execution: Execution, device: &Device) -> Result<Tensor>;

    /// Number of parameters (body + head).
    fn num_params(&self) -> usize;

    /// Every linear layer of the body and head, so the loader can re-store them in
    /// the requested [`super::Dtype`].
    fn linears_mut(&mut self) -> Vec<&mut Linear>;
}

//! CPU kernels as candle custom ops: the hot loops of the packed encoder path.
//!
//! Each kernel picks the widest vector unit at run time (AVX-512, AVX2, portable) and
//! decides per call whether a thread hand-off pays. Every `unsafe fn` documents its
//! contract in a `# Safety` section and every `unsafe` block says why it holds.

pub mod attention;
pub mod bf16;
pub mod gelu;
pub mod int8;
pub mod layer_norm;
pub mod linear;
pub mod rope;

use candle_core::{CpuStorage, Layout, Result};

/// The f32 elements a contiguous tensor views in `storage`.
///
/// Errors: a non-f32 storage, or a non-contiguous layout (named after `op`).
pub(crate) fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&storage.as_slice::<f32>()?[start..end]),
        None => candle_core::bail!("{op}: inputs must be contiguous"),
    }
}

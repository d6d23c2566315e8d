//! Helpers shared by the CPU kernels (candle custom ops in `linear`, `attention`,
//! `norm` and `gelu`).

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

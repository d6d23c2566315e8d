//! CPU kernels as candle custom ops: the hot loops of the packed encoder path.
//!
//! Each kernel picks the widest vector unit at run time (AVX-512, AVX2, portable) and
//! decides per call whether a thread hand-off pays. Every `unsafe fn` documents its
//! contract in a `# Safety` section and every `unsafe` block says why it holds.

pub mod attention;
pub mod bf16;
pub mod f32_packed;
pub mod gelu;
pub mod int8;
pub mod layer_norm;
pub mod linear;
pub mod rope;
#[cfg(test)]
mod test_support;

use candle_core::{CpuStorage, Layout, Result};

use crate::model::Dtype;

/// The kernel the linear layers of `dtype` run on here, as `GET /models` and
/// `make bench` name it; the same choice [`crate::model::layers::Linear::convert`]
/// makes: `f32-packed-avx512` / `f32-packed-avx2` / `f32-gemm`, `bf16-avx512bf16` (elsewhere bf16 weights
/// widened to f32: `bf16-widened-` + the f32 kernel), `int8-avx512vnni` /
/// `int8-avx2` / `int8-portable`; `candle-matmul` off the CPU.
pub fn linear_kernel(dtype: Dtype, on_cpu: bool) -> &'static str {
    if !on_cpu {
        return "candle-matmul";
    }
    use f32_packed::F32Isa;
    let packed = F32Isa::chosen();
    match dtype {
        Dtype::F32 => packed.map_or("f32-gemm", F32Isa::name),
        Dtype::Bf16 if bf16::native() => "bf16-avx512bf16",
        Dtype::Bf16 => match packed {
            Some(F32Isa::Avx512F) => "bf16-widened-f32-packed-avx512",
            Some(F32Isa::Avx2Fma) => "bf16-widened-f32-packed-avx2",
            _ => "bf16-widened-f32-gemm",
        },
        Dtype::Int8 => int8::Int8Isa::detect().name(),
    }
}

/// What a packed product (f32, bf16, int8) applies to its outputs while they are still
/// in L1, each thread on its own columns.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    /// `x·Wᵀ + b` as is.
    None,
    /// Exact (erf) GELU of `x·Wᵀ + b`: a feed-forward input projection
    /// ([`gelu`]'s kernel).
    GeluErf,
}

impl Epilogue {
    /// Applies the epilogue to `values` (outputs of one row).
    pub(crate) fn apply(self, values: &mut [f32]) {
        if self == Self::GeluErf {
            gelu::gelu_in_place(values);
        }
    }
}

/// The f32 elements a contiguous tensor views in `storage`.
///
/// Errors: a non-f32 storage, or a non-contiguous layout (named after `op`).
pub(crate) fn contiguous_f32<'a>(storage: &'a CpuStorage, layout: &Layout, op: &str) -> Result<&'a [f32]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&storage.as_slice::<f32>()?[start..end]),
        None => candle_core::bail!("{op}: inputs must be contiguous"),
    }
}

/// Multiply-adds (`m·k·n`) from which a packed product splits its output channel blocks
/// over threads.
const PARALLEL_MIN_WORK: usize = 1 << 20;

/// An output buffer `[m, n]` shared by parts that write disjoint columns.
#[derive(Clone, Copy)]
pub(crate) struct SharedOut(pub(crate) *mut f32);
// SAFETY: parts write disjoint column ranges and the buffer outlives them (see
// `for_block_ranges`).
unsafe impl Send for SharedOut {}
// SAFETY: as for `Send`.
unsafe impl Sync for SharedOut {}

/// Calls `part` with disjoint ranges covering `0..blocks` output-channel blocks: split
/// over candle's barrier pool (spinning workers: a hand-off costs microseconds, see
/// [`linear`]) when the product's `work` (`m·k·n`) is large enough, else once with the
/// whole range. Each part streams only its share of the weights.
pub(crate) fn for_block_ranges(blocks: usize, work: usize, part: impl Fn(std::ops::Range<usize>) + Sync) {
    if work >= PARALLEL_MIN_WORK {
        split_over_pool(blocks, part);
    } else {
        part(0..blocks);
    }
}

/// Calls `part` with disjoint contiguous ranges covering `0..tasks`, one per thread of
/// candle's barrier pool and the calling thread (once with the whole range when there
/// is one task or no worker).
pub(crate) fn split_over_pool(tasks: usize, part: impl Fn(std::ops::Range<usize>) + Sync) {
    let pool = candle_core::utils::barrier_pool();
    let parts = (pool.n_workers() + 1).min(tasks);
    if parts > 1 {
        let per = tasks.div_ceil(parts);
        pool.execute(|index| {
            let start = (index * per).min(tasks);
            let end = (start + per).min(tasks);
            if start < end {
                part(start..end);
            }
        });
    } else {
        part(0..tasks);
    }
}

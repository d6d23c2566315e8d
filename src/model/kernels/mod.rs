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
mod tiling;

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

/// Calls `part` with disjoint contiguous ranges covering `0..costs.len()` tasks, one per
/// thread of candle's barrier pool and the calling thread, each with about an equal
/// share of the summed `costs` (tasks of unequal size, such as attention over texts
/// of unequal length). Once with the whole range when there is one task or no worker.
pub(crate) fn split_by_cost_over_pool(costs: &[usize], part: impl Fn(std::ops::Range<usize>) + Sync) {
    let pool = candle_core::utils::barrier_pool();
    let parts = (pool.n_workers() + 1).min(costs.len());
    if parts <= 1 {
        return part(0..costs.len());
    }
    let bounds = cost_bounds(costs, parts);
    pool.execute(|index| {
        if index < parts && bounds[index] < bounds[index + 1] {
            part(bounds[index]..bounds[index + 1]);
        }
    });
}

/// `parts + 1` task boundaries (from 0 to `costs.len()`): part `i` starts at the first
/// task whose middle lies past `i / parts` of the summed `costs` (so a boundary falls
/// on whichever side of a large task balances better). Zero costs count as equal.
fn cost_bounds(costs: &[usize], parts: usize) -> Vec<usize> {
    let unit = costs.iter().all(|&c| c == 0);
    let cost = |c: usize| if unit { 1 } else { c };
    let total: usize = costs.iter().map(|&c| cost(c)).sum();
    let mut bounds = Vec::with_capacity(parts + 1);
    bounds.push(0);
    let mut before = 0;
    for (i, &c) in costs.iter().enumerate() {
        let c = cost(c);
        // Twice the task's middle against twice the next part's start.
        while bounds.len() < parts && (2 * before + c) * parts > 2 * bounds.len() * total {
            bounds.push(i);
        }
        before += c;
    }
    bounds.resize(parts, costs.len());
    bounds.push(costs.len());
    bounds
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

#[cfg(test)]
mod split_tests {
    use std::sync::Mutex;

    use super::*;

    #[test]
    fn cost_bounds_balance_unequal_tasks() {
        // The boundary falls on the side of a task that balances better.
        assert_eq!(cost_bounds(&[1, 1, 1, 1], 2), vec![0, 2, 4]);
        assert_eq!(cost_bounds(&[9, 1, 1, 1], 2), vec![0, 1, 4]);
        assert_eq!(cost_bounds(&[1, 1, 1, 9], 2), vec![0, 3, 4]);
        assert_eq!(cost_bounds(&[4, 4, 4], 3), vec![0, 1, 2, 3]);
        assert_eq!(cost_bounds(&[5, 5, 5, 5, 5, 5, 100, 5], 2), vec![0, 6, 8]);
        // Zero costs count as equal; more parts than tasks leave some empty.
        assert_eq!(cost_bounds(&[0, 0, 0, 0], 2), vec![0, 2, 4]);
        assert_eq!(cost_bounds(&[10, 1], 3), vec![0, 0, 1, 2]);
        assert_eq!(cost_bounds(&[3], 4), vec![0, 0, 1, 1, 1]);
    }

    #[test]
    fn every_task_runs_once_over_the_pool() {
        let costs: Vec<usize> = (0..37).map(|i| (i * 7) % 11 + 1).collect();
        let seen = Mutex::new(vec![0u32; costs.len()]);
        split_by_cost_over_pool(&costs, |range| {
            for i in range {
                seen.lock().unwrap()[i] += 1;
            }
        });
        assert!(seen.into_inner().unwrap().iter().all(|&n| n == 1));
    }
}

//! `y = x·Wᵀ + b` on the CPU through gemm directly, choosing how to parallelize per call.
//!
//! candle parallelizes every matrix product through rayon. For the few-token inputs of
//! single requests (m ≈ 20 rows) rayon's wake-up costs more than it saves: the same
//! product ran ~1.6× faster on one thread here (`examples/matmul_shapes.rs`), while
//! products of hundreds of rows run faster on all cores. So large products use gemm's
//! own rayon split, and small ones split their output columns over candle's barrier
//! pool (workers that spin between jobs, so a hand-off costs microseconds), each part a
//! single-threaded gemm. The bias is added by gemm's accumulate (`dst := dst + x·Wᵀ`
//! with `dst` pre-filled with `b`), so it costs no pass.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

use super::contiguous_f32;

/// Rows below which a product splits its columns over the barrier pool instead of
/// using gemm's rayon split (measured: the pool wins at 23 rows, rayon at 178; 256 was
/// worse than 64 at 178 rows).
const PARALLEL_ROWS: usize = 64;

/// `x` `[m, k]` · `weight_t` `[k, n]` + `bias` `[n]` → `[m, n]`; all contiguous f32 on
/// the CPU.
///
/// Errors: shape mismatches, non-contiguous or non-f32 inputs.
pub fn linear(x: &Tensor, weight_t: &Tensor, bias: &Tensor) -> Result<Tensor> {
    x.apply_op3_no_bwd(weight_t, bias, &Linear)
}

struct Linear;

impl CustomOp3 for Linear {
    fn name(&self) -> &'static str {
        "linear-gemm"
    }

    fn cpu_fwd(
        &self,
        xs: &CpuStorage,
        xl: &Layout,
        ws: &CpuStorage,
        wl: &Layout,
        bs: &CpuStorage,
        bl: &Layout,
    ) -> Result<(CpuStorage, Shape)> {
        let (m, k) = xl.shape().dims2()?;
        let (k2, n) = wl.shape().dims2()?;
        if k != k2 || bl.shape().dims1()? != n {
            candle_core::bail!("linear: [{m}, {k}]·[{k2}, {n}] + [{:?}] do not fit", bl.shape())
        }
        let (x, w, b) =
            (contiguous_f32(xs, xl, "linear")?, contiguous_f32(ws, wl, "linear")?, contiguous_f32(bs, bl, "linear")?);
        let mut out = Vec::with_capacity(m * n);
        for _ in 0..m {
            out.extend_from_slice(b);
        }
        let dst = Dst(out.as_mut_ptr());
        if m >= PARALLEL_ROWS {
            // SAFETY: the whole m×n output, as described at `product`.
            unsafe { product(m, k, n, x, w, dst, 0..n, gemm::Parallelism::Rayon(rayon::current_num_threads())) };
        } else {
            let pool = candle_core::utils::barrier_pool();
            let parts = pool.n_workers() + 1;
            let width = n.div_ceil(parts).next_multiple_of(COLUMN_ALIGN);
            pool.execute(|part| {
                let start = (part * width).min(n);
                let end = (start + width).min(n);
                if start < end {
                    // SAFETY: parts own disjoint column ranges of the output.
                    unsafe { product(m, k, n, x, w, dst, start..end, gemm::Parallelism::None) };
                }
            });
        }
        Ok((CpuStorage::F32(out), Shape::from((m, n))))
    }
}

/// Columns per part are a multiple of this (one AVX-512 register of f32).
const COLUMN_ALIGN: usize = 16;

/// The output buffer, shared by parts that write disjoint columns.
#[derive(Clone, Copy)]
struct Dst(*mut f32);
// SAFETY: parts write disjoint column ranges and the buffer outlives them.
unsafe impl Send for Dst {}
// SAFETY: as for `Send`: no two parts touch the same cell.
unsafe impl Sync for Dst {}

/// `dst[:, columns] += x · w[:, columns]` with `x` m×k, `w` k×n and `dst` m×n, all
/// row-major.
///
/// # Safety
/// `dst` must point to m×n writable floats that no one else writes in `columns` during
/// the call; `columns` must lie in `0..n`.
#[allow(clippy::too_many_arguments)]
unsafe fn product(
    m: usize,
    k: usize,
    n: usize,
    x: &[f32],
    w: &[f32],
    dst: Dst,
    columns: std::ops::Range<usize>,
    parallelism: gemm::Parallelism,
) {
    // SAFETY: the pointers and strides describe the row-major m×k, k×n and m×n
    // buffers (the caller guarantees `dst` and `columns`); gemm reads x and w and
    // writes only `dst[:, columns]`.
    unsafe {
        gemm::gemm(
            m,
            columns.len(),
            k,
            dst.0.add(columns.start),
            1,
            n as isize,
            true,
            x.as_ptr(),
            1,
            k as isize,
            w.as_ptr().add(columns.start),
            1,
            n as isize,
            1.0,
            1.0,
            false,
            false,
            false,
            parallelism,
        )
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matches_candle_for_small_and_large_row_counts() {
        for (m, n) in [(1, 40), (23, 40), (23, 1000), (23, 7), (PARALLEL_ROWS, 40), (300, 40)] {
            let x = Tensor::randn(0f32, 1.0, (m, 96), &Device::Cpu).unwrap();
            let w = Tensor::randn(0f32, 1.0, (96, n), &Device::Cpu).unwrap();
            let b = Tensor::randn(0f32, 1.0, n, &Device::Cpu).unwrap();
            let want = x.matmul(&w).unwrap().broadcast_add(&b).unwrap();
            let got = linear(&x, &w, &b).unwrap();
            let diff = (got - want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(diff < 1e-4, "m = {m}, n = {n}: {diff}");
        }
    }

    #[test]
    fn rejects_mismatched_shapes() {
        let x = Tensor::zeros((2, 3), candle_core::DType::F32, &Device::Cpu).unwrap();
        let w = Tensor::zeros((4, 5), candle_core::DType::F32, &Device::Cpu).unwrap();
        let b = Tensor::zeros(5, candle_core::DType::F32, &Device::Cpu).unwrap();
        assert!(linear(&x, &w, &b).is_err());
    }
}

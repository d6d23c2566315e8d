//! `y = x·Wᵀ + b` on the CPU through gemm directly, choosing the thread count per call.
//!
//! candle parallelizes every matrix product across all cores. For the few-token inputs
//! of single requests (m ≈ 20 rows) the thread hand-off costs more than it saves: the
//! same product ran ~1.6× faster on one thread here (`examples/matmul_shapes.rs`), while
//! products of hundreds of rows run faster on all cores. The bias is added by gemm's
//! accumulate (`dst := dst + x·Wᵀ` with `dst` pre-filled with `b`), so it costs no pass.

use candle_core::{CpuStorage, CustomOp3, Layout, Result, Shape, Tensor};

/// Rows below which a product runs on one thread (measured crossover: between 23 rows,
/// where one thread wins, and 180 rows, where two do).
const PARALLEL_ROWS: usize = 64;

/// `x` `[m, k]` · `weight_t` `[k, n]` + `bias` `[n]` → `[m, n]`; all contiguous f32 on
/// the CPU.
///
/// Errors: shape mismatches, non-contiguous or non-f32 inputs.
pub fn linear(x: &Tensor, weight_t: &Tensor, bias: &Tensor) -> Result<Tensor> {
    x.apply_op3_no_bwd(weight_t, bias, &Linear)
}

struct Linear;

fn contiguous<'a>(storage: &'a CpuStorage, layout: &Layout, what: &str) -> Result<&'a [f32]> {
    match layout.contiguous_offsets() {
        Some((start, end)) => Ok(&storage.as_slice::<f32>()?[start..end]),
        None => candle_core::bail!("linear: {what} must be contiguous"),
    }
}

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
        let (x, w, b) = (contiguous(xs, xl, "x")?, contiguous(ws, wl, "weight")?, contiguous(bs, bl, "bias")?);
        let mut out = Vec::with_capacity(m * n);
        for _ in 0..m {
            out.extend_from_slice(b);
        }
        let parallelism = if m >= PARALLEL_ROWS {
            gemm::Parallelism::Rayon(rayon::current_num_threads())
        } else {
            gemm::Parallelism::None
        };
        // SAFETY: `out` is m×n, `x` m×k and `w` k×n, all row-major and contiguous, as the
        // strides passed say; gemm reads and writes only inside those bounds.
        unsafe {
            gemm::gemm(
                m,
                n,
                k,
                out.as_mut_ptr(),
                1,
                n as isize,
                true,
                x.as_ptr(),
                1,
                k as isize,
                w.as_ptr(),
                1,
                n as isize,
                1.0,
                1.0,
                false,
                false,
                false,
                parallelism,
            );
        }
        Ok((CpuStorage::F32(out), Shape::from((m, n))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    #[test]
    fn matches_candle_for_small_and_large_row_counts() {
        for m in [1, 23, PARALLEL_ROWS, 300] {
            let x = Tensor::randn(0f32, 1.0, (m, 96), &Device::Cpu).unwrap();
            let w = Tensor::randn(0f32, 1.0, (96, 40), &Device::Cpu).unwrap();
            let b = Tensor::randn(0f32, 1.0, 40, &Device::Cpu).unwrap();
            let want = x.matmul(&w).unwrap().broadcast_add(&b).unwrap();
            let got = linear(&x, &w, &b).unwrap();
            let diff = (got - want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(diff < 1e-4, "m = {m}: {diff}");
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

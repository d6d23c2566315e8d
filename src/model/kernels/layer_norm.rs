//! LayerNorm (Ba et al. 2016, "Layer Normalization"; HF's `nn.LayerNorm` with biased
//! variance), optionally fused with the residual add before it: `LN(x + residual)`.
//!
//! One pass reads both inputs and writes the normalized sum, vectorized (the sums in
//! 16 lanes). From a short text's ~20 rows up, rows are split over candle's spinning
//! barrier pool (candle's op hands every call to rayon's pool, which cost more than
//! the work for one short text, and whose threads shared the cores with the spinning
//! worker on larger batches).

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};

use super::{contiguous_f32, split_over_pool, SharedOut};

/// The parameters of one LayerNorm, as plain vectors for the kernel.
#[derive(Debug)]
pub struct Params {
    /// Scale (γ), `[width]`.
    pub weight: Vec<f32>,
    /// Shift (β), `[width]`.
    pub bias: Vec<f32>,
    /// Added to the variance before the square root.
    pub eps: f32,
}

/// `LN(x)` or, with a residual, `LN(x + residual)`; `x`, `residual`: `[rows, width]`,
/// contiguous f32 on the CPU.
///
/// Errors: shape mismatches, non-contiguous or non-f32 inputs.
pub fn layer_norm(x: &Tensor, residual: Option<&Tensor>, params: &Arc<Params>) -> Result<Tensor> {
    let op = NormOp(Arc::clone(params));
    match residual {
        Some(residual) => x.apply_op2_no_bwd(residual, &op),
        None => x.apply_op1_no_bwd(&op),
    }
}

struct NormOp(Arc<Params>);

/// Rows × width from which a call splits its rows over candle's barrier pool (one
/// short text's ~20 rows: a hand-off of microseconds against ~10 µs of work).
const HANDOFF_ELEMENTS: usize = 4 * 1024;

impl NormOp {
    fn run(&self, rows: usize, width: usize, a: &[f32], b: Option<&[f32]>) -> Result<Vec<f32>> {
        let p = &*self.0;
        if p.weight.len() != width {
            candle_core::bail!("layer-norm: width {width}, parameters {}", p.weight.len())
        }
        let mut out = vec![0f32; rows * width];
        let row = |i: usize, o: &mut [f32]| {
            let x = &a[i * width..(i + 1) * width];
            normalize_row(x, b.map(|b| &b[i * width..(i + 1) * width]), p, o);
        };
        if rows > 1 && rows * width >= HANDOFF_ELEMENTS {
            let dst = SharedOut(out.as_mut_ptr());
            split_over_pool(rows, |range| {
                let dst: SharedOut = dst; // the whole wrapper, which is Sync
                for i in range {
                    // SAFETY: the parts get disjoint row ranges of `out`, which
                    // outlives them.
                    row(i, unsafe { std::slice::from_raw_parts_mut(dst.0.add(i * width), width) });
                }
            });
        } else {
            out.chunks_mut(width).enumerate().for_each(|(i, o)| row(i, o));
        }
        Ok(out)
    }
}

/// `o = LN(x + r)` for one row, on the widest vector unit this CPU has.
fn normalize_row(x: &[f32], r: Option<&[f32]>, p: &Params, o: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU has AVX-512F (checked above).
            return unsafe { normalize_row_avx512(x, r, p, o) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU has AVX2 and FMA (checked above).
            return unsafe { normalize_row_avx2(x, r, p, o) };
        }
    }
    normalize_row_generic(x, r, p, o);
}

/// [`normalize_row_generic`] compiled for AVX-512.
///
/// # Safety
/// The CPU must have AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn normalize_row_avx512(x: &[f32], r: Option<&[f32]>, p: &Params, o: &mut [f32]) {
    normalize_row_generic(x, r, p, o);
}

/// [`normalize_row_generic`] compiled for AVX2 + FMA.
///
/// # Safety
/// The CPU must have AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn normalize_row_avx2(x: &[f32], r: Option<&[f32]>, p: &Params, o: &mut [f32]) {
    normalize_row_generic(x, r, p, o);
}

/// The row's sum, the mean's, then the squared deviations' (biased variance), each
/// in 16 independent lanes so it vectorizes; then `(v − mean)/√(var + eps)·γ + β`.
#[inline(always)]
fn normalize_row_generic(x: &[f32], r: Option<&[f32]>, p: &Params, o: &mut [f32]) {
    match r {
        Some(r) => {
            for ((o, &x), &r) in o.iter_mut().zip(x).zip(r) {
                *o = x + r;
            }
        }
        None => o.copy_from_slice(x),
    }
    let width = o.len() as f32;
    let mean = lane_sum(o, |v| v) / width;
    let var = lane_sum(o, |v| (v - mean) * (v - mean)) / width;
    let inv = 1.0 / (var + p.eps).sqrt();
    for ((v, w), bias) in o.iter_mut().zip(&p.weight).zip(&p.bias) {
        *v = (*v - mean) * inv * w + bias;
    }
}

/// `Σ f(v)` over `values` in 16 partial sums (lane `i` takes every 16th value), then
/// the tail, then the lanes pairwise.
#[inline(always)]
fn lane_sum(values: &[f32], f: impl Fn(f32) -> f32) -> f32 {
    let mut acc = [0f32; 16];
    let chunks = values.chunks_exact(16);
    let tail = chunks.remainder();
    for chunk in chunks {
        for (a, &v) in acc.iter_mut().zip(chunk) {
            *a += f(v);
        }
    }
    for (a, &v) in acc.iter_mut().zip(tail) {
        *a += f(v);
    }
    let mut width = 16;
    while width > 1 {
        width /= 2;
        for i in 0..width {
            acc[i] += acc[i + width];
        }
    }
    acc[0]
}

impl CustomOp1 for NormOp {
    fn name(&self) -> &'static str {
        "layer-norm"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (rows, width) = layout.shape().dims2()?;
        let out = self.run(rows, width, contiguous_f32(storage, layout, "layer-norm")?, None)?;
        Ok((CpuStorage::F32(out), layout.shape().clone()))
    }
}

impl CustomOp2 for NormOp {
    fn name(&self) -> &'static str {
        "add-layer-norm"
    }

    fn cpu_fwd(&self, s1: &CpuStorage, l1: &Layout, s2: &CpuStorage, l2: &Layout) -> Result<(CpuStorage, Shape)> {
        if l1.shape() != l2.shape() {
            candle_core::bail!("add-layer-norm: shapes {:?} and {:?} differ", l1.shape(), l2.shape())
        }
        let (rows, width) = l1.shape().dims2()?;
        let (a, b) = (contiguous_f32(s1, l1, "add-layer-norm")?, contiguous_f32(s2, l2, "add-layer-norm")?);
        let out = self.run(rows, width, a, Some(b))?;
        Ok((CpuStorage::F32(out), l1.shape().clone()))
    }
}

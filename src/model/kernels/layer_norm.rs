//! LayerNorm (Ba et al. 2016, "Layer Normalization"; HF's `nn.LayerNorm` with biased
//! variance), optionally fused with the residual add before it: `LN(x + residual)`.
//!
//! One pass reads both inputs and writes the normalized sum, and rows go to other
//! threads only when there are enough of them (candle's op hands every call to the
//! thread pool, which cost more than the work for the ~20 rows of one short text).

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::contiguous_f32;

/// Rows × width below which the work stays on the calling thread.
const PARALLEL_ELEMENTS: usize = 64 * 1024;

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

impl NormOp {
    fn run(&self, rows: usize, width: usize, a: &[f32], b: Option<&[f32]>) -> Result<Vec<f32>> {
        let p = &*self.0;
        if p.weight.len() != width {
            candle_core::bail!("layer-norm: width {width}, parameters {}", p.weight.len())
        }
        let mut out = vec![0f32; rows * width];
        let row = |(i, o): (usize, &mut [f32])| {
            let x = &a[i * width..(i + 1) * width];
            match b {
                Some(b) => {
                    for ((o, &x), &r) in o.iter_mut().zip(x).zip(&b[i * width..(i + 1) * width]) {
                        *o = x + r;
                    }
                }
                None => o.copy_from_slice(x),
            }
            let mean = o.iter().sum::<f32>() / width as f32;
            let var = o.iter().map(|v| (v - mean) * (v - mean)).sum::<f32>() / width as f32;
            let inv = 1.0 / (var + p.eps).sqrt();
            for ((v, w), bias) in o.iter_mut().zip(&p.weight).zip(&p.bias) {
                *v = (*v - mean) * inv * w + bias;
            }
        };
        if rows * width >= PARALLEL_ELEMENTS {
            out.par_chunks_mut(width).enumerate().for_each(row);
        } else {
            out.chunks_mut(width).enumerate().for_each(row);
        }
        Ok(out)
    }
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

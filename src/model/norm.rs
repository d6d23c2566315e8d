//! LayerNorm (Ba et al. 2016, "Layer Normalization"; HF's `nn.LayerNorm` with biased
//! variance), optionally fused with the residual add before it: `LN(x + residual)`.
//!
//! On the CPU one pass reads both inputs and writes the normalized sum, and rows go to
//! other threads only when there are enough of them (candle's op hands every call to
//! the thread pool, which cost more than the work for the ~20 rows of one short text).
//! Other devices use candle's `LayerNorm` after a plain add.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, CustomOp2, Layout, Module, Result, Shape, Tensor};
use candle_nn::{LayerNorm, VarBuilder};
use rayon::prelude::*;

use super::cpu::contiguous_f32;

/// Rows × width below which the work stays on the calling thread.
const PARALLEL_ELEMENTS: usize = 64 * 1024;

/// A LayerNorm with its parameters copied out for the CPU kernel.
#[derive(Clone)]
pub struct Norm {
    candle: LayerNorm,
    params: Arc<Params>,
}

struct Params {
    weight: Vec<f32>,
    bias: Vec<f32>,
    eps: f32,
}

impl Norm {
    /// Loads `weight`/`bias` (or the older `gamma`/`beta`) of width `size`.
    ///
    /// Errors: a missing or misshapen parameter.
    pub fn load(vb: VarBuilder, size: usize, eps: f64) -> Result<Self> {
        let (w, b) = if vb.contains_tensor("weight") { ("weight", "bias") } else { ("gamma", "beta") };
        let (weight, bias) = (vb.get(size, w)?, vb.get(size, b)?);
        let params = Params { weight: weight.to_vec1()?, bias: bias.to_vec1()?, eps: eps as f32 };
        Ok(Self { candle: LayerNorm::new(weight, bias, eps), params: Arc::new(params) })
    }

    fn on_cpu(x: &Tensor) -> bool {
        x.device().is_cpu() && x.dtype() == candle_core::DType::F32 && x.is_contiguous() && x.rank() == 2
    }

    /// `LN(x)`, `x`: `[rows, width]`.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if Self::on_cpu(x) {
            return x.apply_op1_no_bwd(&NormOp(Arc::clone(&self.params)));
        }
        self.candle.forward(x)
    }

    /// `LN(x + residual)`, both `[rows, width]`.
    pub fn forward_residual(&self, x: &Tensor, residual: &Tensor) -> Result<Tensor> {
        if Self::on_cpu(x) && Self::on_cpu(residual) {
            return x.apply_op2_no_bwd(residual, &NormOp(Arc::clone(&self.params)));
        }
        self.candle.forward(&(x + residual)?)
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

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::{DType, Device};
    use std::collections::HashMap;

    #[test]
    fn fused_add_norm_matches_candle_at_every_size() {
        let device = Device::Cpu;
        let width = 384;
        let params: HashMap<String, Tensor> = [
            ("weight".to_string(), Tensor::randn(1f32, 0.1, width, &device).unwrap()),
            ("bias".to_string(), Tensor::randn(0f32, 0.1, width, &device).unwrap()),
        ]
        .into();
        let norm = Norm::load(VarBuilder::from_tensors(params, DType::F32, &device), width, 1e-12).unwrap();
        for rows in [1, 23, 400] {
            let x = Tensor::randn(0f32, 2.0, (rows, width), &device).unwrap();
            let r = Tensor::randn(0f32, 2.0, (rows, width), &device).unwrap();
            let want = norm.candle.forward(&(&x + &r).unwrap()).unwrap();
            let got = norm.forward_residual(&x, &r).unwrap();
            let diff = (got - &want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(diff < 1e-4, "rows {rows}: {diff}");
            let plain = (norm.forward(&x).unwrap() - norm.candle.forward(&x).unwrap()).unwrap();
            assert!(plain.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap() < 1e-4);
        }
    }
}

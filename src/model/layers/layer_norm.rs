//! LayerNorm (Ba et al. 2016; PyTorch `nn.LayerNorm`), optionally fused with the
//! residual add before it.

use std::sync::Arc;

use candle_core::{DType, Module, Tensor};
use candle_nn::VarBuilder;

use crate::model::error::Result;
use crate::model::kernels::layer_norm::{layer_norm, Params};

/// A LayerNorm: the CPU kernel on contiguous f32 `[rows, width]` inputs, candle's
/// `LayerNorm` elsewhere.
#[derive(Clone)]
pub struct LayerNorm {
    candle: candle_nn::LayerNorm,
    params: Arc<Params>,
}

impl LayerNorm {
    /// Loads `weight`/`bias` (or the older `gamma`/`beta`) of width `size`.
    ///
    /// Errors: [`crate::model::ModelError::Tensor`] for a missing or misshapen parameter.
    pub fn load(vb: VarBuilder, size: usize, eps: f64) -> Result<Self> {
        let (w, b) = if vb.contains_tensor("weight") { ("weight", "bias") } else { ("gamma", "beta") };
        let (weight, bias) = (vb.get(size, w)?, vb.get(size, b)?);
        let params = Params { weight: weight.to_vec1()?, bias: bias.to_vec1()?, eps: eps as f32 };
        Ok(Self { candle: candle_nn::LayerNorm::new(weight, bias, eps), params: Arc::new(params) })
    }

    /// Loads `weight` of width `size` for a LayerNorm without bias (`bias=False`, as
    /// ModernBERT's); the bias is kept as zeros.
    ///
    /// Errors: [`crate::model::ModelError::Tensor`] for a missing or misshapen weight.
    pub fn load_no_bias(vb: VarBuilder, size: usize, eps: f64) -> Result<Self> {
        let weight = vb.get(size, "weight")?;
        let bias = Tensor::zeros(size, weight.dtype(), weight.device())?;
        let params = Params { weight: weight.to_vec1()?, bias: bias.to_vec1()?, eps: eps as f32 };
        Ok(Self { candle: candle_nn::LayerNorm::new(weight, bias, eps), params: Arc::new(params) })
    }

    fn on_cpu(x: &Tensor) -> bool {
        x.device().is_cpu() && x.dtype() == DType::F32 && x.is_contiguous() && x.rank() == 2
    }

    /// `LN(x)`, `x`: `[rows, width]` (any rank elsewhere than the CPU kernel).
    ///
    /// Errors: shape mismatches or device failures.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if Self::on_cpu(x) {
            return Ok(layer_norm(x, None, &self.params)?);
        }
        Ok(self.candle.forward(x)?)
    }

    /// `LN(x + residual)`, both `[rows, width]`.
    ///
    /// Errors: shape mismatches or device failures.
    pub fn forward_residual(&self, x: &Tensor, residual: &Tensor) -> Result<Tensor> {
        if Self::on_cpu(x) && Self::on_cpu(residual) {
            return Ok(layer_norm(x, Some(residual), &self.params)?);
        }
        Ok(self.candle.forward(&(x + residual)?)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use std::collections::HashMap;

    /// On the calling thread (1 row) and split over the barrier pool (23 and 400
    /// rows), at a width of 16-lane chunks and at a ragged one.
    #[test]
    fn fused_add_norm_matches_candle_at_every_size() {
        let device = Device::Cpu;
        for width in [384, 100] {
            let params: HashMap<String, Tensor> = [
                ("weight".to_string(), Tensor::randn(1f32, 0.1, width, &device).unwrap()),
                ("bias".to_string(), Tensor::randn(0f32, 0.1, width, &device).unwrap()),
            ]
            .into();
            let norm = LayerNorm::load(VarBuilder::from_tensors(params, DType::F32, &device), width, 1e-12).unwrap();
            for rows in [1, 23, 700] {
                let x = Tensor::randn(0f32, 2.0, (rows, width), &device).unwrap();
                let r = Tensor::randn(0f32, 2.0, (rows, width), &device).unwrap();
                let want = norm.candle.forward(&(&x + &r).unwrap()).unwrap();
                let got = norm.forward_residual(&x, &r).unwrap();
                let diff = (got - &want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
                assert!(diff < 1e-4, "width {width}, rows {rows}: {diff}");
                let plain = (norm.forward(&x).unwrap() - norm.candle.forward(&x).unwrap()).unwrap();
                assert!(plain.abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap() < 1e-4);
            }
        }
    }
}

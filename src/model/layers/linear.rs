//! A linear layer `y = x·Wᵀ + b` (PyTorch `nn.Linear`) with `Wᵀ` stored contiguous.

use candle_core::{DType, Tensor};
use candle_nn::VarBuilder;

use crate::model::error::Result;
use crate::model::kernels;

/// `y = x·Wᵀ + b`, weights kept transposed (`[in, out]`) so the hot product is the
/// fast (N, N) form; see `notes/cpu-matmul.md` in the shared folder.
#[derive(Debug, Clone)]
pub struct Linear {
    /// `Wᵀ`, `[in, out]`.
    weight_t: Tensor,
    /// `b`, `[out]`.
    bias: Tensor,
}

impl Linear {
    /// Loads `weight` `[out, in]` and `bias` `[out]` under `vb`.
    ///
    /// Errors: [`crate::model::ModelError::Tensor`] for a missing or misshapen weight.
    pub fn load(vb: VarBuilder, in_dim: usize, out_dim: usize) -> Result<Self> {
        let weight = vb.get((out_dim, in_dim), "weight")?;
        let bias = vb.get(out_dim, "bias")?;
        Ok(Self { weight_t: weight.t()?.contiguous()?, bias })
    }

    /// Loads `weight` `[out, in]` of a layer without bias (`bias=False`); the bias
    /// is kept as zeros so every path runs the same fused kernel.
    ///
    /// Errors: [`crate::model::ModelError::Tensor`] for a missing or misshapen weight.
    pub fn load_no_bias(vb: VarBuilder, in_dim: usize, out_dim: usize) -> Result<Self> {
        let weight = vb.get((out_dim, in_dim), "weight")?;
        let bias = Tensor::zeros(out_dim, weight.dtype(), weight.device())?;
        Ok(Self { weight_t: weight.t()?.contiguous()?, bias })
    }

    /// Concatenates layers with the same input along the output axis (e.g. Q, K and V
    /// into one `[in, 3·out]` product).
    ///
    /// Errors: the parts' input widths differ.
    pub fn fuse(parts: &[Linear]) -> Result<Self> {
        let weights: Vec<&Tensor> = parts.iter().map(|d| &d.weight_t).collect();
        let biases: Vec<&Tensor> = parts.iter().map(|d| &d.bias).collect();
        Ok(Self { weight_t: Tensor::cat(&weights, 1)?, bias: Tensor::cat(&biases, 0)? })
    }

    /// `[rows, in]` → `[rows, out]`. On the CPU through [`kernels::linear`] (thread
    /// count per call, bias fused); elsewhere with candle's matmul.
    ///
    /// Errors: shape mismatches or device failures.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        if x.device().is_cpu() && x.dtype() == DType::F32 && x.is_contiguous() && x.rank() == 2 {
            return Ok(kernels::linear::linear(x, &self.weight_t, &self.bias)?);
        }
        Ok(x.broadcast_matmul(&self.weight_t)?.broadcast_add(&self.bias)?)
    }

    /// Number of weights and biases.
    pub fn num_params(&self) -> usize {
        self.weight_t.elem_count() + self.bias.elem_count()
    }
}

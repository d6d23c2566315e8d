//! A linear layer `y = x·Wᵀ + b` (PyTorch `nn.Linear`) in f32, bf16 or int8
//! ([`crate::model::Dtype`]).

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Shape, Tensor};
use candle_nn::VarBuilder;

use crate::model::dtype::Dtype;
use crate::model::error::{ModelError, Result};
use crate::model::kernels::f32_packed::{Epilogue, PackedF32};
use crate::model::kernels::{self, bf16::Bf16Weight, contiguous_f32, int8::QuantizedWeight};

/// The weight in the layer's dtype.
#[derive(Debug, Clone)]
enum Weight {
    /// `Wᵀ`, `[in, out]` f32, as loaded (before [`Linear::convert`], off the CPU, and
    /// on CPUs where the packed f32 kernel is not chosen).
    F32(Tensor),
    /// f32 (also bf16 values widened, on CPUs without AVX-512 BF16), bf16 or int8,
    /// packed once for its kernel, with the bias as a slice.
    Packed(Arc<PackedLinear>),
}

/// `y = x·Wᵀ + b`, weights kept transposed (`[in, out]`) so a gemm product is the fast
/// (N, N) form (see `notes/cpu-matmul.md` in the shared folder), or, after
/// [`Linear::convert`], packed for the f32 (where chosen), bf16 or int8 kernel.
#[derive(Debug, Clone)]
pub struct Linear {
    weight: Weight,
    /// `b`, `[out]`.
    bias: Tensor,
    in_dim: usize,
    out_dim: usize,
    /// Set by [`Linear::convert`]: the weights are no longer the checkpoint's f32
    /// (also when bf16 runs widened to f32 on a CPU without AVX-512 BF16).
    converted: bool,
}

impl Linear {
    /// Loads `weight` `[out, in]` and `bias` `[out]` under `vb`.
    ///
    /// Errors: [`crate::model::ModelError::Tensor`] for a missing or misshapen weight.
    pub fn load(vb: VarBuilder, in_dim: usize, out_dim: usize) -> Result<Self> {
        let weight = vb.get((out_dim, in_dim), "weight")?;
        let bias = vb.get(out_dim, "bias")?;
        Ok(Self { weight: Weight::F32(weight.t()?.contiguous()?), bias, in_dim, out_dim, converted: false })
    }

    /// Loads `weight` `[out, in]` of a layer without bias (`bias=False`); the bias
    /// is kept as zeros so every path runs the same fused kernel.
    ///
    /// Errors: [`crate::model::ModelError::Tensor`] for a missing or misshapen weight.
    pub fn load_no_bias(vb: VarBuilder, in_dim: usize, out_dim: usize) -> Result<Self> {
        let weight = vb.get((out_dim, in_dim), "weight")?;
        let bias = Tensor::zeros(out_dim, weight.dtype(), weight.device())?;
        Ok(Self { weight: Weight::F32(weight.t()?.contiguous()?), bias, in_dim, out_dim, converted: false })
    }

    /// Concatenates f32 layers with the same input along the output axis (e.g. Q, K
    /// and V into one `[in, 3·out]` product). Fuse before [`Linear::convert`].
    ///
    /// Errors: the parts' input widths differ, or a part is already converted.
    pub fn fuse(parts: &[Linear]) -> Result<Self> {
        let weights = parts
            .iter()
            .map(|d| match &d.weight {
                Weight::F32(w) => Ok(w),
                _ => Err(ModelError::Config("only f32 linear layers can be fused".into())),
            })
            .collect::<Result<Vec<_>>>()?;
        let biases: Vec<&Tensor> = parts.iter().map(|d| &d.bias).collect();
        let out_dim = parts.iter().map(|d| d.out_dim).sum();
        let in_dim = parts.first().map_or(0, |d| d.in_dim);
        Ok(Self {
            weight: Weight::F32(Tensor::cat(&weights, 1)?),
            bias: Tensor::cat(&biases, 0)?,
            in_dim,
            out_dim,
            converted: false,
        })
    }

    /// Re-stores the weight in `dtype` and packs it for its CPU kernel (once, at load;
    /// f32 layers only). f32 is packed into panels ([`kernels::f32_packed`]) where
    /// [`kernels::f32_packed::F32Isa::chosen`] says so; elsewhere, and off the CPU, it
    /// stays `Wᵀ` for gemm.
    /// bf16 on a CPU without AVX-512 BF16 keeps f32 storage of the bf16-rounded values.
    ///
    /// Errors: the layer is not on the CPU or not f32.
    pub fn convert(&mut self, dtype: Dtype) -> Result<()> {
        let Weight::F32(weight_t) = &self.weight else {
            return Err(ModelError::Config("a linear layer was converted twice".into()));
        };
        if self.converted {
            return Err(ModelError::Config("a linear layer was converted twice".into()));
        }
        let on_cpu = weight_t.device().is_cpu();
        let f32_packs = on_cpu && kernels::f32_packed::F32Isa::chosen().is_some();
        if dtype == Dtype::F32 && !f32_packs {
            return Ok(());
        }
        if !on_cpu {
            return Err(ModelError::Config(format!("dtype {dtype} runs on the CPU only")));
        }
        let values = weight_t.flatten_all()?.to_vec1::<f32>()?;
        let (k, n) = (self.in_dim, self.out_dim);
        let packed = |weight: PackedWeight| -> Result<Weight> {
            Ok(Weight::Packed(Arc::new(PackedLinear { weight, bias: self.bias.to_vec1::<f32>()?.into() })))
        };
        self.weight = match dtype {
            Dtype::F32 => packed(PackedWeight::F32(PackedF32::pack(&values, k, n)))?,
            Dtype::Int8 => packed(PackedWeight::Int8(QuantizedWeight::quantize(&values, k, n)))?,
            Dtype::Bf16 if kernels::bf16::native() => packed(PackedWeight::Bf16(Bf16Weight::pack(&values, k, n)))?,
            Dtype::Bf16 => {
                let rounded = Bf16Weight::pack(&values, k, n).to_f32();
                if f32_packs {
                    packed(PackedWeight::F32(PackedF32::pack(&rounded, k, n)))?
                } else {
                    Weight::F32(Tensor::from_vec(rounded, (k, n), weight_t.device())?)
                }
            }
        };
        self.converted = true;
        Ok(())
    }

    /// `[rows, in]` → `[rows, out]` (any leading dims on other devices). On the CPU
    /// through the packed f32/bf16/int8 kernels, or [`kernels::linear`] (gemm, thread
    /// count per call, bias fused) for weights not packed; elsewhere with candle's
    /// matmul.
    ///
    /// Errors: shape mismatches or device failures.
    pub fn forward(&self, x: &Tensor) -> Result<Tensor> {
        let cpu_rows = x.device().is_cpu() && x.dtype() == DType::F32 && x.is_contiguous() && x.rank() == 2;
        match &self.weight {
            Weight::F32(weight_t) if cpu_rows => Ok(kernels::linear::linear(x, weight_t, &self.bias)?),
            Weight::F32(weight_t) => Ok(x.broadcast_matmul(weight_t)?.broadcast_add(&self.bias)?),
            _ if !cpu_rows => {
                let dims = x.dims().to_vec();
                let rows = x.contiguous()?.reshape(((), self.in_dim))?;
                let y = self.forward(&rows)?;
                let mut out = dims[..dims.len().saturating_sub(1)].to_vec();
                out.push(self.out_dim);
                Ok(y.reshape(out)?)
            }
            Weight::Packed(op) => Ok(x.apply_op1_no_bwd(&PackedCall { layer: op, epilogue: Epilogue::None })?),
        }
    }

    /// Exact (erf) GELU of [`Linear::forward`]: fused into the product where the
    /// weights are packed (f32, bf16, int8: each thread applies it to its own columns
    /// while they are in L1), else [`kernels::gelu::gelu_erf`] after it.
    ///
    /// Errors: as [`Linear::forward`].
    pub fn forward_gelu_erf(&self, x: &Tensor) -> Result<Tensor> {
        let cpu_rows = x.device().is_cpu() && x.dtype() == DType::F32 && x.is_contiguous() && x.rank() == 2;
        match &self.weight {
            Weight::Packed(op) if cpu_rows => {
                Ok(x.apply_op1_no_bwd(&PackedCall { layer: op, epilogue: Epilogue::GeluErf })?)
            }
            _ => Ok(kernels::gelu::gelu_erf(&self.forward(x)?)?),
        }
    }

    /// Number of weights and biases.
    pub fn num_params(&self) -> usize {
        self.in_dim * self.out_dim + self.out_dim
    }
}

/// An f32, bf16 or int8 weight for [`PackedLinear`].
#[derive(Debug)]
enum PackedWeight {
    F32(PackedF32),
    Int8(QuantizedWeight),
    Bf16(Bf16Weight),
}

/// A packed weight and its bias.
#[derive(Debug)]
struct PackedLinear {
    weight: PackedWeight,
    bias: Arc<[f32]>,
}

/// `x` `[m, k]` → `[m, n]` through a packed kernel, as a candle op; the epilogue
/// applies to f32 weights only (callers check).
struct PackedCall<'a> {
    layer: &'a PackedLinear,
    epilogue: Epilogue,
}

impl CustomOp1 for PackedCall<'_> {
    fn name(&self) -> &'static str {
        "linear-packed"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> candle_core::Result<(CpuStorage, Shape)> {
        let (m, k) = layout.shape().dims2()?;
        let x = contiguous_f32(storage, layout, "linear-packed")?;
        let layer = self.layer;
        let (in_dim, n) = match &layer.weight {
            PackedWeight::F32(w) => (w.in_features(), w.out_features()),
            PackedWeight::Int8(q) => (q.in_features(), q.out_features()),
            PackedWeight::Bf16(h) => (h.in_features(), h.out_features()),
        };
        if k != in_dim {
            candle_core::bail!("linear-packed: [{m}, {k}] does not fit a [{in_dim}, {n}] weight")
        }
        let out = match &layer.weight {
            PackedWeight::F32(w) => kernels::f32_packed::linear_with(x, m, w, &layer.bias, self.epilogue),
            PackedWeight::Int8(q) => kernels::int8::linear_with(x, m, q, &layer.bias, self.epilogue),
            PackedWeight::Bf16(h) => kernels::bf16::linear_with(x, m, h, &layer.bias, self.epilogue),
        };
        Ok((CpuStorage::F32(out), Shape::from((m, n))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;
    use std::collections::HashMap;

    /// Each dtype stays within its quantization error of f32, on 2-D and 3-D inputs.
    #[test]
    fn converted_layers_track_f32() {
        let device = Device::Cpu;
        let (k, n) = (96, 40);
        let tensors: HashMap<String, Tensor> = [
            ("weight".to_string(), Tensor::randn(0f32, 0.1, (n, k), &device).unwrap()),
            ("bias".to_string(), Tensor::randn(0f32, 0.1, n, &device).unwrap()),
        ]
        .into();
        let vb = VarBuilder::from_tensors(tensors, DType::F32, &device);
        let reference = Linear::load(vb.clone(), k, n).unwrap();
        let x = Tensor::randn(0f32, 1.0, (2, 7, k), &device).unwrap();
        let want = reference.forward(&x).unwrap();
        for (dtype, tolerance) in [(Dtype::F32, 1e-5), (Dtype::Bf16, 0.02), (Dtype::Int8, 0.05)] {
            let mut layer = Linear::load(vb.clone(), k, n).unwrap();
            layer.convert(dtype).unwrap();
            let got = layer.forward(&x).unwrap();
            assert_eq!(got.dims(), &[2, 7, n]);
            let diff = (got - &want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(diff < tolerance, "{dtype}: {diff}");
            let packed = layer.converted;
            let expected = dtype != Dtype::F32 || kernels::f32_packed::F32Isa::chosen().is_some();
            assert_eq!(packed, expected, "{dtype}: f32 packs where its kernel runs, other dtypes always");
            assert!(!packed || layer.convert(dtype).is_err(), "converting twice is refused");
        }
    }
}

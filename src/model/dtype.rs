//! The precision a model's linear layers run in (`--dtype`, per model `dtype`).

use std::fmt;
use std::str::FromStr;

/// How the weights of every linear layer are stored and multiplied. Embeddings,
/// LayerNorm, softmax, GELU and the attention products stay f32 in every mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Default, serde::Serialize)]
#[serde(rename_all = "lowercase")]
pub enum Dtype {
    /// f32 weights and products (the reference).
    #[default]
    F32,
    /// bf16 weights; products with AVX-512 BF16 (`vdpbf16ps`, f32 accumulation) where
    /// the CPU has it, else the bf16 weights widened to f32 and the f32 kernel.
    Bf16,
    /// Dynamic int8 quantization (`kernels::int8`): int8 weights per output channel,
    /// activations quantized per row at run time, int32 accumulation.
    Int8,
}

impl Dtype {
    /// Every dtype, for messages.
    pub const ALL: [Dtype; 3] = [Dtype::F32, Dtype::Bf16, Dtype::Int8];

    /// The name used in flags, manifests and responses.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::F32 => "f32",
            Self::Bf16 => "bf16",
            Self::Int8 => "int8",
        }
    }

    /// Bytes per linear-layer weight.
    pub fn bytes_per_weight(self) -> u64 {
        match self {
            Self::F32 => 4,
            Self::Bf16 => 2,
            Self::Int8 => 1,
        }
    }
}

impl fmt::Display for Dtype {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.as_str())
    }
}

impl FromStr for Dtype {
    type Err = String;

    /// Reads `f32`/`float32`, `bf16`/`bfloat16` or `int8`/`qint8` (any case).
    fn from_str(s: &str) -> Result<Self, String> {
        match s.trim().to_ascii_lowercase().as_str() {
            "f32" | "float32" => Ok(Self::F32),
            "bf16" | "bfloat16" => Ok(Self::Bf16),
            "int8" | "qint8" => Ok(Self::Int8),
            other => Err(format!("dtype `{other}` is not supported (supported: f32, bf16, int8)")),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_unknown_ones_are_refused() {
        for dtype in Dtype::ALL {
            assert_eq!(dtype.as_str().parse::<Dtype>().unwrap(), dtype);
        }
        assert_eq!("BFloat16".parse::<Dtype>().unwrap(), Dtype::Bf16);
        assert!("int4".parse::<Dtype>().unwrap_err().contains("int4"));
    }
}

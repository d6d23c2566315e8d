//! ModernBERT (Warner et al. 2024, "Smarter, Better, Faster, Longer"; transformers'
//! `ModernBertForSequenceClassification`): RoPE, pre-norm, GeGLU, no biases, global
//! attention every `global_attn_every_n_layers` layers and sliding-window local
//! attention (`local_attention` tokens) in between, a final norm, and a head that
//! pools (`classifier_pooling`: `cls` or `mean`), then dense → `classifier_activation`
//! → LayerNorm → `classifier`.
//!
//! The body is ours (`body.rs`). candle-transformers' `ModernBert` passes our parity
//! tests, but on a ModernBERT-base shape it served 9.1 sentences/s here against the
//! transformers pipeline's 20.3 (padded batches, candle's `x·Wᵀ` products); ours runs
//! the linear layers packed on our kernels and only attention on the padded grid. Its
//! head (`ModernBertForSequenceClassification`) applies softmax inside `forward` (our
//! cache stores logits) and its config chokes on integer `label2id`; ours does neither. `config.json` is read in both spellings transformers has used:
//! `global_rope_theta`/`local_rope_theta` (4.x) and `layer_types`/`rope_parameters` (5.x).

mod body;

use std::collections::HashMap;

use candle_core::{Device, Module, Tensor};
use serde::Deserialize;

use super::{Family, LoadContext, Loaded};
use crate::model::classifier::{Execution, SequenceClassifier};
use crate::model::error::{ModelError, Result};
use crate::model::hf::tokenize::Encoded;
use crate::model::input::{self, Positions};
use crate::model::kernels::gelu::gelu_erf;
use crate::model::layers::Linear;
use body::{Body, BodyConfig};

/// The family's registration.
pub const FAMILY: Family =
    Family { model_types: &["modernbert"], architectures: &[("ModernBert", "modernbert")], load };

/// How the head reduces `[batch, seq_len, hidden]` to `[batch, hidden]`.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "lowercase")]
enum Pooling {
    /// The first token.
    Cls,
    /// The mean over the attention mask.
    Mean,
}

/// `classifier_activation` (HF `ACT2FN` names the head uses).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum Act {
    #[serde(rename = "gelu")]
    Gelu,
    #[serde(alias = "gelu_new", alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluTanh,
    #[serde(rename = "relu")]
    Relu,
    #[serde(rename = "silu", alias = "swish")]
    Silu,
    #[serde(rename = "tanh")]
    Tanh,
}

#[derive(Debug, Deserialize)]
struct RopeParameters {
    rope_theta: f64,
}

fn gelu() -> Act {
    Act::Gelu
}
fn three() -> usize {
    3
}
fn window() -> usize {
    128
}
fn norm_eps() -> f64 {
    1e-5
}
fn max_positions() -> usize {
    8192
}
fn pooling() -> Pooling {
    Pooling::Cls
}

/// `ModernBertConfig` (HF transformers), both spellings, with its defaults.
#[derive(Debug, Deserialize)]
struct ModernBertConfig {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default = "max_positions")]
    max_position_embeddings: usize,
    #[serde(default = "norm_eps")]
    norm_eps: f64,
    #[serde(default = "three")]
    global_attn_every_n_layers: usize,
    #[serde(default = "window")]
    local_attention: usize,
    #[serde(default)]
    global_rope_theta: Option<f64>,
    #[serde(default)]
    local_rope_theta: Option<f64>,
    /// 5.x: `full_attention` / `sliding_attention` per layer.
    #[serde(default)]
    layer_types: Option<Vec<String>>,
    /// 5.x: rope parameters per layer type.
    #[serde(default)]
    rope_parameters: Option<HashMap<String, RopeParameters>>,
    #[serde(default = "gelu")]
    hidden_activation: Act,
    #[serde(default = "gelu")]
    classifier_activation: Act,
    #[serde(default = "pooling")]
    classifier_pooling: Pooling,
    #[serde(default)]
    classifier_bias: bool,
    #[serde(default)]
    attention_bias: bool,
    #[serde(default)]
    mlp_bias: bool,
    #[serde(default)]
    norm_bias: bool,
}

impl ModernBertConfig {
    fn theta(&self, layer_type: &str, old: Option<f64>, default: f64) -> f64 {
        self.rope_parameters.as_ref().and_then(|p| p.get(layer_type)).map(|p| p.rope_theta).or(old).unwrap_or(default)
    }

    /// The body's settings. Refuses what the port does not implement (biases, a
    /// non-GELU GeGLU, a layer pattern other than "global every n").
    fn to_body(&self) -> Result<BodyConfig> {
        let refuse = |what: &str| Err(ModelError::Config(format!("ModernBERT with {what} is not supported")));
        if self.attention_bias || self.mlp_bias || self.norm_bias {
            return refuse("attention_bias, mlp_bias or norm_bias");
        }
        if self.hidden_activation != Act::Gelu {
            return refuse("a hidden_activation other than gelu");
        }
        let n = self.global_attn_every_n_layers.max(1);
        if let Some(types) = &self.layer_types {
            let expected =
                (0..self.num_hidden_layers).map(|i| if i % n == 0 { "full_attention" } else { "sliding_attention" });
            if types.len() != self.num_hidden_layers || !types.iter().map(String::as_str).eq(expected) {
                return refuse("layer_types other than full attention every global_attn_every_n_layers");
            }
        }
        if self.num_attention_heads == 0 || !self.hidden_size.is_multiple_of(self.num_attention_heads) {
            return Err(ModelError::Config(format!(
                "hidden size {} is not divisible by {} heads",
                self.hidden_size, self.num_attention_heads
            )));
        }
        Ok(BodyConfig {
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            intermediate_size: self.intermediate_size,
            num_layers: self.num_hidden_layers,
            num_heads: self.num_attention_heads,
            max_position_embeddings: self.max_position_embeddings,
            norm_eps: self.norm_eps,
            global_every: n,
            local_attention: self.local_attention,
            global_rope_theta: self.theta("full_attention", self.global_rope_theta, 160_000.0),
            local_rope_theta: self.theta("sliding_attention", self.local_rope_theta, 10_000.0),
        })
    }
}

/// A ModernBERT sequence classifier.
struct ModernBertClassifier {
    body: Body,
    pooling: Pooling,
    /// `head.dense`: `[hidden → hidden]`.
    dense: Linear,
    activation: Act,
    /// `head.norm`.
    norm: candle_nn::LayerNorm,
    /// `classifier`: `[hidden → num_labels]`.
    classifier: Linear,
    num_params: usize,
}

fn load(ctx: &LoadContext) -> Result<Loaded> {
    let cfg = ModernBertConfig::deserialize(ctx.json).map_err(|e| ModelError::Config(e.to_string()))?;
    let root = ctx.weights;
    let h = cfg.hidden_size;
    let body = Body::load(root.pp("model"), cfg.to_body()?)?;
    let dense = if cfg.classifier_bias {
        Linear::load(root.pp("head.dense"), h, h)?
    } else {
        Linear::load_no_bias(root.pp("head.dense"), h, h)?
    };
    let norm = candle_nn::layer_norm_no_bias(h, cfg.norm_eps, root.pp("head.norm"))?;
    let classifier = Linear::load(root.pp("classifier"), h, ctx.num_labels)?;
    let body_params = body.num_params();
    let classifier = ModernBertClassifier {
        body,
        pooling: cfg.classifier_pooling,
        num_params: body_params + dense.num_params() + h + classifier.num_params(),
        dense,
        activation: cfg.classifier_activation,
        norm,
        classifier,
    };
    Ok(Loaded { classifier: Box::new(classifier), max_tokens: cfg.max_position_embeddings })
}

impl SequenceClassifier for ModernBertClassifier {
    fn forward(&self, batch: &[&Encoded], execution: Execution, device: &Device) -> Result<Tensor> {
        let input = input::packed(batch, Positions::FromZero, device)?;
        let cls = self.pooling == Pooling::Cls;
        let hidden = self.body.forward(&input, execution == Execution::Packed, cls)?;
        let pooled = match self.pooling {
            Pooling::Cls => hidden,
            Pooling::Mean => {
                let rows = input.segments.iter().map(|&(start, len)| hidden.narrow(0, start, len)?.mean_keepdim(0));
                Tensor::cat(&rows.collect::<candle_core::Result<Vec<_>>>()?, 0)?
            }
        };
        let x = self.dense.forward(&pooled)?;
        let x = match self.activation {
            Act::Gelu => gelu_erf(&x)?,
            Act::GeluTanh => x.gelu()?,
            Act::Relu => x.relu()?,
            Act::Silu => x.silu()?,
            Act::Tanh => x.tanh()?,
        };
        let x = self.norm.forward(&x)?;
        self.classifier.forward(&x)
    }

    fn num_params(&self) -> usize {
        self.num_params
    }

    fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out = self.body.linears_mut();
        out.extend([&mut self.dense, &mut self.classifier]);
        out
    }
}

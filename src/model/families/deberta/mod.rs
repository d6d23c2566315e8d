//! DeBERTa-v2 / DeBERTa-v3 (He et al. 2021, "DeBERTa: Decoding-enhanced BERT with
//! Disentangled Attention"; transformers' `DebertaV2ForSequenceClassification`):
//! disentangled relative attention with log buckets, no absolute positions, and a
//! `ContextPooler` head (dense → `pooler_hidden_act` on the first token → `classifier`).
//!
//! The body is ours (`body.rs`). candle-transformers' `DebertaV2Model` passes our parity
//! tests, but on a deberta-v3-base shape it served 4.2 sentences/s here: every forward
//! re-projects all `2·position_buckets` relative embeddings through each layer's
//! query/key projections (~14.5 GFLOP per batch at base size, whatever the batch) and
//! repeats them per text. Ours projects them once at load, gathers only the `2L − 1`
//! relative positions a batch of length `L` can use, and runs the linear layers packed
//! (no padding) on our kernels; only the attention products are padded per batch.

mod body;

use candle_core::{Device, Tensor};
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
pub const FAMILY: Family = Family { model_types: &["deberta-v2"], architectures: &[("DebertaV2", "deberta-v2")], load };

/// Activations `DebertaV2Config` names (`hidden_act`, `pooler_hidden_act`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
enum Act {
    /// Exact (erf) GELU.
    #[serde(rename = "gelu")]
    Gelu,
    /// tanh approximation.
    #[serde(alias = "gelu_new", alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluTanh,
    #[serde(rename = "relu")]
    Relu,
    #[serde(rename = "tanh")]
    Tanh,
}

fn gelu() -> Act {
    Act::Gelu
}
fn minus_one() -> isize {
    -1
}
fn eps() -> f64 {
    1e-7
}
fn max_positions() -> usize {
    512
}
fn yes() -> bool {
    true
}

/// `DebertaV2Config` (HF transformers), with its defaults.
#[derive(Debug, Deserialize)]
struct DebertaConfig {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    #[serde(default = "gelu")]
    hidden_act: Act,
    #[serde(default = "max_positions")]
    max_position_embeddings: usize,
    #[serde(default)]
    type_vocab_size: usize,
    #[serde(default = "eps")]
    layer_norm_eps: f64,
    #[serde(default)]
    relative_attention: bool,
    #[serde(default = "minus_one")]
    max_relative_positions: isize,
    #[serde(default = "yes")]
    position_biased_input: bool,
    /// A list (`["p2c", "c2p"]`) or a `|`-joined string (`"p2c|c2p"`).
    #[serde(default)]
    pos_att_type: Option<serde_json::Value>,
    #[serde(default = "minus_one")]
    position_buckets: isize,
    #[serde(default)]
    share_att_key: bool,
    #[serde(default)]
    attention_head_size: Option<usize>,
    #[serde(default)]
    embedding_size: Option<usize>,
    #[serde(default)]
    norm_rel_ebd: Option<String>,
    #[serde(default)]
    conv_kernel_size: Option<usize>,
    #[serde(default)]
    pooler_hidden_size: Option<usize>,
    #[serde(default = "gelu")]
    pooler_hidden_act: Act,
}

impl DebertaConfig {
    fn pos_att_type(&self) -> Result<Vec<String>> {
        Ok(match &self.pos_att_type {
            None | Some(serde_json::Value::Null) => Vec::new(),
            Some(serde_json::Value::String(s)) => s.split('|').map(|p| p.trim().to_lowercase()).collect(),
            Some(serde_json::Value::Array(items)) => items
                .iter()
                .map(|v| v.as_str().map(str::to_lowercase).ok_or_else(|| ModelError::Config("pos_att_type".into())))
                .collect::<Result<_>>()?,
            Some(other) => return Err(ModelError::Config(format!("pos_att_type: unexpected {other}"))),
        })
    }

    /// The body's settings, defaults applied. Refuses what transformers' class has
    /// and the port does not: convolution layers (`conv_kernel_size`), a tanh
    /// feed-forward activation, and attention types other than `c2p`/`p2c`.
    fn to_body(&self) -> Result<BodyConfig> {
        let refuse = |what: String| Err(ModelError::Config(format!("DeBERTa with {what} is not supported")));
        if self.conv_kernel_size.unwrap_or(0) > 0 {
            return refuse("a convolution layer (conv_kernel_size)".into());
        }
        let gelu_exact = match self.hidden_act {
            Act::Gelu => true,
            Act::GeluTanh => false,
            other => return refuse(format!("hidden_act {other:?}")),
        };
        let types = self.pos_att_type()?;
        if let Some(other) = types.iter().find(|t| !matches!(t.as_str(), "c2p" | "p2c")) {
            return refuse(format!("pos_att_type {other}"));
        }
        if self.num_attention_heads == 0
            || (self.attention_head_size.is_none() && !self.hidden_size.is_multiple_of(self.num_attention_heads))
        {
            return Err(ModelError::Config(format!(
                "hidden size {} is not divisible by {} heads",
                self.hidden_size, self.num_attention_heads
            )));
        }
        let max_relative_positions = if self.max_relative_positions < 1 {
            self.max_position_embeddings
        } else {
            self.max_relative_positions as usize
        };
        Ok(BodyConfig {
            vocab_size: self.vocab_size,
            hidden_size: self.hidden_size,
            embedding_size: self.embedding_size.unwrap_or(self.hidden_size),
            num_layers: self.num_hidden_layers,
            num_heads: self.num_attention_heads,
            head_size: self.attention_head_size.unwrap_or(self.hidden_size / self.num_attention_heads.max(1)),
            intermediate_size: self.intermediate_size,
            max_position_embeddings: self.max_position_embeddings,
            type_vocab_size: self.type_vocab_size,
            position_biased_input: self.position_biased_input,
            layer_norm_eps: self.layer_norm_eps,
            gelu_exact,
            relative_attention: self.relative_attention,
            max_relative_positions,
            position_buckets: self.position_buckets.max(0) as usize,
            share_att_key: self.share_att_key,
            c2p: types.iter().any(|t| t == "c2p"),
            p2c: types.iter().any(|t| t == "p2c"),
            norm_rel_ebd: self.norm_rel_ebd.as_deref().is_some_and(|n| n.contains("layer_norm")),
        })
    }

    /// Longest input: `max_position_embeddings` (the tokenizer's limit for v3
    /// checkpoints; relative attention itself has no hard limit).
    fn max_tokens(&self) -> usize {
        self.max_position_embeddings
    }
}

/// A DeBERTa-v2/v3 sequence classifier.
struct DebertaClassifier {
    body: Body,
    /// `pooler.dense`: `[hidden → pooler_hidden_size]`.
    pooler: Linear,
    pooler_act: Act,
    /// `classifier`: `[pooler_hidden_size → num_labels]`.
    classifier: Linear,
    num_params: usize,
}

fn load(ctx: &LoadContext) -> Result<Loaded> {
    let cfg = DebertaConfig::deserialize(ctx.json).map_err(|e| ModelError::Config(e.to_string()))?;
    let root = ctx.weights;
    let body = Body::load(root.pp("deberta"), cfg.to_body()?)?;
    let pooled = cfg.pooler_hidden_size.unwrap_or(cfg.hidden_size);
    let pooler = Linear::load(root.pp("pooler.dense"), cfg.hidden_size, pooled)?;
    let classifier = Linear::load(root.pp("classifier"), pooled, ctx.num_labels)?;
    let num_params = body.num_params() + pooler.num_params() + classifier.num_params();
    let classifier = DebertaClassifier { body, pooler, pooler_act: cfg.pooler_hidden_act, classifier, num_params };
    Ok(Loaded { classifier: Box::new(classifier), max_tokens: cfg.max_tokens() })
}

impl SequenceClassifier for DebertaClassifier {
    fn forward(&self, batch: &[&Encoded], execution: Execution, device: &Device) -> Result<Tensor> {
        let input = input::packed(batch, Positions::FromZero, device)?;
        let first = self.body.forward(&input, execution == Execution::Packed)?;
        let pooled = self.pooler.forward(&first)?;
        let pooled = match self.pooler_act {
            Act::Gelu => gelu_erf(&pooled)?,
            Act::GeluTanh => pooled.gelu()?,
            Act::Relu => pooled.relu()?,
            Act::Tanh => pooled.tanh()?,
        };
        self.classifier.forward(&pooled)
    }

    fn num_params(&self) -> usize {
        self.num_params
    }

    fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out = self.body.linears_mut();
        out.extend([&mut self.pooler, &mut self.classifier]);
        out
    }
}

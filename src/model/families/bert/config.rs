//! `config.json` of the BERT family, parsed with serde: BERT, RoBERTa and XLM-R share
//! `BertConfig`'s field names; DistilBERT has its own (`dim`, `n_layers`, …).

use serde::Deserialize;

use crate::model::error::{ModelError, Result};

/// Which checkpoint layout of the family; decides weight names, position ids and head.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Variant {
    /// `BertForSequenceClassification`: pooler (dense + tanh on `[CLS]`) → classifier.
    Bert,
    /// `DistilBertForSequenceClassification`: pre_classifier + ReLU → classifier.
    DistilBert,
    /// `RobertaForSequenceClassification`: dense + tanh on `<s>` → out_proj.
    Roberta,
    /// `XLMRobertaForSequenceClassification`: the RoBERTa layout.
    XlmRoberta,
}

impl Variant {
    /// The variant of an HF `model_type`.
    pub fn from_model_type(model_type: &str) -> Option<Self> {
        match model_type {
            "bert" => Some(Self::Bert),
            "distilbert" => Some(Self::DistilBert),
            "roberta" => Some(Self::Roberta),
            "xlm-roberta" => Some(Self::XlmRoberta),
            _ => None,
        }
    }

    /// True for the RoBERTa family, whose position ids start after `pad_token_id`.
    pub fn offsets_positions(self) -> bool {
        matches!(self, Self::Roberta | Self::XlmRoberta)
    }
}

/// The activation inside each feed-forward block (HF `hidden_act` / `activation`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum Activation {
    /// Exact GELU, `x·Φ(x)` with erf (HF's `"gelu"`).
    #[serde(rename = "gelu")]
    GeluErf,
    /// tanh approximation of GELU.
    #[serde(alias = "gelu_new", alias = "gelu_pytorch_tanh", alias = "gelu_fast")]
    GeluTanh,
    /// `max(0, x)`.
    #[serde(rename = "relu")]
    Relu,
}

/// Encoder dimensions, whatever the variant's field names.
#[derive(Debug, Clone)]
pub struct EncoderConfig {
    /// Checkpoint layout.
    pub variant: Variant,
    /// Rows of the word embedding.
    pub vocab_size: usize,
    /// Width of every hidden state.
    pub hidden_size: usize,
    /// Width of the embeddings (ELECTRA, ALBERT: narrower, then projected); equals
    /// `hidden_size` elsewhere.
    pub embedding_size: usize,
    /// Number of transformer layers.
    pub num_layers: usize,
    /// Attention heads per layer; `hidden_size` is divisible by it.
    pub num_heads: usize,
    /// Width of the feed-forward block.
    pub intermediate_size: usize,
    /// Rows of the position embedding.
    pub max_position_embeddings: usize,
    /// Rows of the token-type embedding (0 for DistilBERT).
    pub type_vocab_size: usize,
    /// LayerNorm epsilon (DistilBERT hard-codes 1e-12).
    pub layer_norm_eps: f64,
    /// Padding token id; also the position offset of the RoBERTa variants.
    pub pad_token_id: u32,
    /// Feed-forward activation.
    pub activation: Activation,
}

fn default_type_vocab() -> usize {
    2
}
fn default_eps() -> f64 {
    1e-12
}
fn default_act() -> Activation {
    Activation::GeluErf
}

/// `BertConfig` / `RobertaConfig` / `XLMRobertaConfig` (HF transformers).
#[derive(Debug, Deserialize)]
struct BertConfig {
    vocab_size: usize,
    hidden_size: usize,
    num_hidden_layers: usize,
    num_attention_heads: usize,
    intermediate_size: usize,
    max_position_embeddings: usize,
    #[serde(default = "default_type_vocab")]
    type_vocab_size: usize,
    #[serde(default = "default_eps")]
    layer_norm_eps: f64,
    #[serde(default)]
    pad_token_id: Option<u32>,
    #[serde(default = "default_act")]
    hidden_act: Activation,
    /// ELECTRA and ALBERT only.
    #[serde(default)]
    embedding_size: Option<usize>,
}

/// `DistilBertConfig` (HF transformers).
#[derive(Debug, Deserialize)]
struct DistilBertConfig {
    vocab_size: usize,
    dim: usize,
    n_layers: usize,
    n_heads: usize,
    hidden_dim: usize,
    max_position_embeddings: usize,
    #[serde(default)]
    pad_token_id: Option<u32>,
    #[serde(default = "default_act")]
    activation: Activation,
}

impl EncoderConfig {
    /// Parses the dimensions of `variant` from a `config.json` document.
    ///
    /// Errors: [`ModelError::Config`] for a missing or mistyped field, an unsupported
    /// activation, or a width not divisible by the head count.
    pub fn from_json(json: &serde_json::Value, variant: Variant) -> Result<Self> {
        let bad = |e: serde_json::Error| ModelError::Config(e.to_string());
        let config = match variant {
            Variant::DistilBert => {
                let c = DistilBertConfig::deserialize(json).map_err(bad)?;
                Self {
                    variant,
                    vocab_size: c.vocab_size,
                    hidden_size: c.dim,
                    embedding_size: c.dim,
                    num_layers: c.n_layers,
                    num_heads: c.n_heads,
                    intermediate_size: c.hidden_dim,
                    max_position_embeddings: c.max_position_embeddings,
                    type_vocab_size: 0,
                    layer_norm_eps: 1e-12,
                    pad_token_id: c.pad_token_id.unwrap_or(0),
                    activation: c.activation,
                }
            }
            _ => {
                let c = BertConfig::deserialize(json).map_err(bad)?;
                Self {
                    variant,
                    vocab_size: c.vocab_size,
                    hidden_size: c.hidden_size,
                    embedding_size: c.embedding_size.unwrap_or(c.hidden_size),
                    num_layers: c.num_hidden_layers,
                    num_heads: c.num_attention_heads,
                    intermediate_size: c.intermediate_size,
                    max_position_embeddings: c.max_position_embeddings,
                    type_vocab_size: c.type_vocab_size,
                    layer_norm_eps: c.layer_norm_eps,
                    pad_token_id: c.pad_token_id.unwrap_or(0),
                    activation: c.hidden_act,
                }
            }
        };
        if config.num_heads == 0 || config.hidden_size % config.num_heads != 0 {
            return Err(ModelError::Config(format!(
                "hidden size {} is not divisible by {} heads",
                config.hidden_size, config.num_heads
            )));
        }
        Ok(config)
    }

    /// The longest input, in tokens including special tokens, that the position
    /// embedding can address. The RoBERTa variants reserve `pad_token_id + 1` rows.
    pub fn max_tokens(&self) -> usize {
        if self.variant.offsets_positions() {
            self.max_position_embeddings.saturating_sub(self.pad_token_id as usize + 1)
        } else {
            self.max_position_embeddings
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn both_field_spellings_parse_and_bad_values_are_errors() {
        let bert = json!({"vocab_size": 10, "hidden_size": 8, "num_hidden_layers": 2, "num_attention_heads": 2,
            "intermediate_size": 16, "max_position_embeddings": 66, "pad_token_id": 1, "hidden_act": "gelu_new"});
        let c = EncoderConfig::from_json(&bert, Variant::Roberta).unwrap();
        assert_eq!((c.hidden_size, c.activation, c.max_tokens()), (8, Activation::GeluTanh, 64));
        let distil = json!({"vocab_size": 10, "dim": 8, "n_layers": 2, "n_heads": 2, "hidden_dim": 16,
            "max_position_embeddings": 64, "activation": "gelu"});
        let c = EncoderConfig::from_json(&distil, Variant::DistilBert).unwrap();
        assert_eq!((c.intermediate_size, c.type_vocab_size, c.max_tokens()), (16, 0, 64));
        let mut odd = bert.clone();
        odd["num_attention_heads"] = json!(3);
        assert!(EncoderConfig::from_json(&odd, Variant::Bert).is_err());
        let mut act = bert;
        act["hidden_act"] = json!("swish");
        assert!(EncoderConfig::from_json(&act, Variant::Bert).is_err());
    }
}

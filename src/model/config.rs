//! The parts of a Hugging Face `config.json` that a sequence classifier needs.
//!
//! One [`ModelConfig`] covers BERT, DistilBERT, RoBERTa and XLM-RoBERTa: they share one
//! post-LayerNorm transformer encoder and differ in key names, position ids and head.

use serde_json::Value;

use super::error::{ModelError, Result};
use super::scores::ScoreFunction;

/// Which checkpoint family a model belongs to; decides weight names, position ids and
/// the classification head.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Serialize, utoipa::ToSchema)]
#[serde(rename_all = "kebab-case")]
pub enum Architecture {
    /// `BertForSequenceClassification`: pooler (dense + tanh on `[CLS]`) → classifier.
    Bert,
    /// `DistilBertForSequenceClassification`: pre_classifier + ReLU on `[CLS]` → classifier.
    DistilBert,
    /// `RobertaForSequenceClassification`: dense + tanh on `<s>` → out_proj.
    Roberta,
    /// `XLMRobertaForSequenceClassification`: same layout as RoBERTa.
    XlmRoberta,
}

impl Architecture {
    /// Parses HF's `model_type` (or, failing that, the first `architectures` entry).
    pub fn from_config(json: &Value) -> Result<Self> {
        let model_type = json.get("model_type").and_then(Value::as_str).unwrap_or("");
        match model_type {
            "bert" => return Ok(Self::Bert),
            "distilbert" => return Ok(Self::DistilBert),
            "roberta" => return Ok(Self::Roberta),
            "xlm-roberta" => return Ok(Self::XlmRoberta),
            _ => {}
        }
        let arch = json.get("architectures").and_then(|a| a.get(0)).and_then(Value::as_str).unwrap_or(model_type);
        match arch {
            a if a.starts_with("DistilBert") => Ok(Self::DistilBert),
            a if a.starts_with("XLMRoberta") => Ok(Self::XlmRoberta),
            a if a.starts_with("Roberta") => Ok(Self::Roberta),
            a if a.starts_with("Bert") => Ok(Self::Bert),
            other => Err(ModelError::UnsupportedArchitecture(other.to_string())),
        }
    }

    /// True for the RoBERTa family, whose position ids start after `pad_token_id`.
    pub fn offsets_positions(self) -> bool {
        matches!(self, Self::Roberta | Self::XlmRoberta)
    }
}

/// The activation inside each feed-forward block.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Activation {
    /// Exact GELU, `x·Φ(x)` with erf (HF's `"gelu"`).
    GeluErf,
    /// tanh approximation of GELU (HF's `"gelu_new"`, `"gelu_pytorch_tanh"`).
    GeluTanh,
    /// `max(0, x)`.
    Relu,
}

/// Encoder dimensions, labels and post-processing read from `config.json`.
#[derive(Debug, Clone)]
pub struct ModelConfig {
    /// Checkpoint family.
    pub architecture: Architecture,
    /// Token vocabulary size (rows of the word embedding).
    pub vocab_size: usize,
    /// Width of every hidden state (`hidden_size`, DistilBERT `dim`).
    pub hidden_size: usize,
    /// Number of transformer layers.
    pub num_layers: usize,
    /// Attention heads per layer; `hidden_size` must be divisible by it.
    pub num_heads: usize,
    /// Width of the feed-forward block (`intermediate_size`, DistilBERT `hidden_dim`).
    pub intermediate_size: usize,
    /// Rows of the position embedding.
    pub max_position_embeddings: usize,
    /// Rows of the token-type embedding (0 for DistilBERT).
    pub type_vocab_size: usize,
    /// LayerNorm epsilon (DistilBERT hard-codes 1e-12).
    pub layer_norm_eps: f64,
    /// Padding token id; also the position offset of the RoBERTa family.
    pub pad_token_id: u32,
    /// Feed-forward activation.
    pub activation: Activation,
    /// Label names by class index (`id2label`, or `LABEL_i`).
    pub id2label: Vec<String>,
    /// How logits become scores (softmax, sigmoid or none), as the transformers
    /// text-classification pipeline chooses it.
    pub function: ScoreFunction,
}

impl ModelConfig {
    /// Parses a `config.json` document.
    ///
    /// Errors: [`ModelError::UnsupportedArchitecture`] or [`ModelError::Config`] when a
    /// field is missing or inconsistent.
    pub fn from_json(json: &Value) -> Result<Self> {
        let architecture = Architecture::from_config(json)?;
        let distil = architecture == Architecture::DistilBert;
        let pick = |bert: &str, distilbert: &str| {
            if distil {
                distilbert.to_string()
            } else {
                bert.to_string()
            }
        };
        let usize_field = |name: String| -> Result<usize> {
            json.get(&name)
                .and_then(Value::as_u64)
                .map(|v| v as usize)
                .ok_or_else(|| ModelError::Config(format!("missing integer field `{name}`")))
        };
        let hidden_size = usize_field(pick("hidden_size", "dim"))?;
        let num_heads = usize_field(pick("num_attention_heads", "n_heads"))?;
        if num_heads == 0 || hidden_size % num_heads != 0 {
            return Err(ModelError::Config(format!("hidden size {hidden_size} is not divisible by {num_heads} heads")));
        }
        let act_name = json.get(pick("hidden_act", "activation")).and_then(Value::as_str).unwrap_or("gelu");
        let activation = match act_name {
            "gelu" => Activation::GeluErf,
            "gelu_new" | "gelu_pytorch_tanh" | "gelu_fast" => Activation::GeluTanh,
            "relu" => Activation::Relu,
            other => return Err(ModelError::Config(format!("unsupported activation `{other}`"))),
        };
        let id2label = parse_id2label(json)?;
        let problem_type = json.get("problem_type").and_then(Value::as_str);
        Ok(Self {
            architecture,
            vocab_size: usize_field("vocab_size".into())?,
            hidden_size,
            num_layers: usize_field(pick("num_hidden_layers", "n_layers"))?,
            num_heads,
            intermediate_size: usize_field(pick("intermediate_size", "hidden_dim"))?,
            max_position_embeddings: usize_field("max_position_embeddings".into())?,
            type_vocab_size: if distil { 0 } else { usize_field("type_vocab_size".into()).unwrap_or(2) },
            layer_norm_eps: if distil {
                1e-12
            } else {
                json.get("layer_norm_eps").and_then(Value::as_f64).unwrap_or(1e-12)
            },
            pad_token_id: json.get("pad_token_id").and_then(Value::as_u64).unwrap_or(0) as u32,
            activation,
            function: ScoreFunction::for_problem(problem_type, id2label.len()),
            id2label,
        })
    }

    /// The longest input, in tokens including special tokens, that the position
    /// embedding can address. The RoBERTa family reserves `pad_token_id + 1` rows.
    pub fn max_tokens(&self) -> usize {
        if self.architecture.offsets_positions() {
            self.max_position_embeddings.saturating_sub(self.pad_token_id as usize + 1)
        } else {
            self.max_position_embeddings
        }
    }

    /// Number of classes the head outputs.
    pub fn num_labels(&self) -> usize {
        self.id2label.len()
    }
}

/// Reads `id2label` (string keys `"0"`, `"1"`, ...), falling back to `num_labels`
/// with names `LABEL_i` as transformers does.
fn parse_id2label(json: &Value) -> Result<Vec<String>> {
    if let Some(map) = json.get("id2label").and_then(Value::as_object) {
        let mut labels = vec![None; map.len()];
        for (key, value) in map {
            let index: usize =
                key.parse().map_err(|_| ModelError::Config(format!("id2label key `{key}` is not an integer")))?;
            let name = value.as_str().ok_or_else(|| ModelError::Config(format!("id2label[{key}] is not a string")))?;
            let slot = labels
                .get_mut(index)
                .ok_or_else(|| ModelError::Config(format!("id2label key {index} is out of range")))?;
            *slot = Some(name.to_string());
        }
        if !labels.is_empty() {
            return Ok(labels.into_iter().map(Option::unwrap_or_default).collect());
        }
    }
    let n = json.get("num_labels").and_then(Value::as_u64).unwrap_or(2) as usize;
    Ok((0..n).map(|i| format!("LABEL_{i}")).collect())
}

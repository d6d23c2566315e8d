#![allow(dead_code)]
//! Randomly initialised checkpoints in HF layout, for benchmarks (included by
//! `benches/*.rs` and `tests/synthetic.rs` with `#[path]`; not part of the library): inference speed does
//! not depend on the weights' values, so a model of any published shape can be
//! measured without downloading it.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use sentiserve::model::{ModelError, Result};

/// The shape of a DistilBERT encoder (`DistilBertConfig` fields).
#[derive(Debug, Clone, Copy)]
pub struct DistilBertShape {
    /// Hidden width (`dim`).
    pub dim: usize,
    /// Feed-forward width (`hidden_dim`).
    pub hidden_dim: usize,
    /// Transformer layers (`n_layers`).
    pub layers: usize,
    /// Attention heads (`n_heads`).
    pub heads: usize,
    /// Vocabulary size.
    pub vocab: usize,
}

impl DistilBertShape {
    /// `distilbert-base-uncased`: 768 wide, 6 layers, 12 heads, FFN 3072, 30,522 tokens
    /// (66.96M parameters with a 2-label head).
    pub const BASE: Self = Self { dim: 768, hidden_dim: 3072, layers: 6, heads: 12, vocab: 30522 };
}

/// The shape of a DeBERTa-v2/v3 encoder with relative attention (`DebertaV2Config`).
#[derive(Debug, Clone, Copy)]
pub struct DebertaV2Shape {
    /// Hidden width.
    pub hidden: usize,
    /// Feed-forward width.
    pub intermediate: usize,
    /// Transformer layers.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Vocabulary size.
    pub vocab: usize,
    /// Log-bucketed relative positions (`position_buckets`).
    pub buckets: usize,
}

impl DebertaV2Shape {
    /// `microsoft/deberta-v3-base`: 768 wide, 12 layers, 12 heads, FFN 3072, 128,100
    /// tokens, 256 position buckets, shared attention keys (184M parameters).
    pub const V3_BASE: Self =
        Self { hidden: 768, intermediate: 3072, layers: 12, heads: 12, vocab: 128_100, buckets: 256 };
}

/// The shape of a ModernBERT encoder (`ModernBertConfig`).
#[derive(Debug, Clone, Copy)]
pub struct ModernBertShape {
    /// Hidden width.
    pub hidden: usize,
    /// GeGLU width (`intermediate_size`; `Wi` is twice as wide).
    pub intermediate: usize,
    /// Transformer layers.
    pub layers: usize,
    /// Attention heads.
    pub heads: usize,
    /// Vocabulary size.
    pub vocab: usize,
}

impl ModernBertShape {
    /// `answerdotai/ModernBERT-base`: 768 wide, 22 layers, 12 heads, GeGLU 1152,
    /// 50,368 tokens, global attention every 3 layers, 128-token local window (150M).
    pub const BASE: Self = Self { hidden: 768, intermediate: 1152, layers: 22, heads: 12, vocab: 50_368 };
}

/// Tensors of a random checkpoint: N(0, 0.02) weights, unit LayerNorm scales.
struct Random {
    device: Device,
    tensors: HashMap<String, Tensor>,
}

impl Random {
    fn new() -> Self {
        Self { device: Device::Cpu, tensors: HashMap::new() }
    }

    fn normal(&mut self, name: impl Into<String>, shape: &[usize]) -> Result<()> {
        self.tensors.insert(name.into(), Tensor::randn(0f32, 0.02, shape, &self.device)?);
        Ok(())
    }

    fn linear(&mut self, prefix: &str, out_dim: usize, in_dim: usize, bias: bool) -> Result<()> {
        self.normal(format!("{prefix}.weight"), &[out_dim, in_dim])?;
        if bias {
            self.normal(format!("{prefix}.bias"), &[out_dim])?;
        }
        Ok(())
    }

    fn norm(&mut self, prefix: &str, dim: usize, bias: bool) -> Result<()> {
        self.tensors.insert(format!("{prefix}.weight"), Tensor::ones(dim, DType::F32, &self.device)?);
        if bias {
            self.tensors.insert(format!("{prefix}.bias"), Tensor::zeros(dim, DType::F32, &self.device)?);
        }
        Ok(())
    }

    /// Writes `config.json`, `model.safetensors` and a copy of `tokenizer_from`'s
    /// `tokenizer.json` into `dir`.
    fn save(self, dir: &Path, config: serde_json::Value, tokenizer_from: &Path) -> Result<()> {
        self.save_with(dir, config, tokenizer_from, None)
    }

    /// [`Random::save`], plus a `tokenizer_config.json` when given (transformers'
    /// `AutoTokenizer` needs it to know the padding token of some tokenizers).
    fn save_with(
        self,
        dir: &Path,
        config: serde_json::Value,
        tokenizer_from: &Path,
        tokenizer_config: Option<serde_json::Value>,
    ) -> Result<()> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| ModelError::Io { path, source }
        };
        std::fs::create_dir_all(dir).map_err(io(dir))?;
        let config_path = dir.join("config.json");
        std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap_or_default())
            .map_err(io(&config_path))?;
        let source = tokenizer_from.join("tokenizer.json");
        std::fs::copy(&source, dir.join("tokenizer.json")).map_err(io(&source))?;
        if let Some(tokenizer_config) = tokenizer_config {
            let path = dir.join("tokenizer_config.json");
            std::fs::write(&path, serde_json::to_vec_pretty(&tokenizer_config).unwrap_or_default())
                .map_err(io(&path))?;
        }
        candle_core::safetensors::save(&self.tensors, dir.join("model.safetensors"))?;
        Ok(())
    }
}

fn labels() -> (serde_json::Value, serde_json::Value) {
    (serde_json::json!({"0": "NEGATIVE", "1": "POSITIVE"}), serde_json::json!({"NEGATIVE": 0, "POSITIVE": 1}))
}

/// Writes a 2-label `DistilBertForSequenceClassification` of `shape` into `dir`
/// (`config.json`, `model.safetensors`), with `tokenizer.json` copied from
/// `tokenizer_from` (a directory with a matching vocabulary).
///
/// Errors: [`ModelError::Io`] or [`ModelError::Tensor`].
pub fn write_distilbert(dir: &Path, shape: DistilBertShape, tokenizer_from: &Path) -> Result<()> {
    let DistilBertShape { dim, hidden_dim, layers, heads, vocab } = shape;
    let (id2label, label2id) = labels();
    let config = serde_json::json!({
        "architectures": ["DistilBertForSequenceClassification"], "model_type": "distilbert",
        "activation": "gelu", "dim": dim, "hidden_dim": hidden_dim, "n_layers": layers, "n_heads": heads,
        "vocab_size": vocab, "max_position_embeddings": 512, "pad_token_id": 0,
        "id2label": id2label, "label2id": label2id,
    });
    let mut w = Random::new();
    for i in 0..layers {
        let p = format!("distilbert.transformer.layer.{i}");
        for name in ["q_lin", "k_lin", "v_lin", "out_lin"] {
            w.linear(&format!("{p}.attention.{name}"), dim, dim, true)?;
        }
        w.linear(&format!("{p}.ffn.lin1"), hidden_dim, dim, true)?;
        w.linear(&format!("{p}.ffn.lin2"), dim, hidden_dim, true)?;
        w.norm(&format!("{p}.sa_layer_norm"), dim, true)?;
        w.norm(&format!("{p}.output_layer_norm"), dim, true)?;
    }
    w.linear("pre_classifier", dim, dim, true)?;
    w.linear("classifier", 2, dim, true)?;
    w.normal("distilbert.embeddings.word_embeddings.weight", &[vocab, dim])?;
    w.normal("distilbert.embeddings.position_embeddings.weight", &[512, dim])?;
    w.norm("distilbert.embeddings.LayerNorm", dim, true)?;
    w.save(dir, config, tokenizer_from)
}

/// Writes a 2-label `DebertaV2ForSequenceClassification` of `shape` (v3 settings:
/// relative attention, `p2c|c2p`, shared keys, LayerNorm on the relative embeddings,
/// no absolute positions) into `dir`, tokenizer copied from `tokenizer_from`.
///
/// Errors: [`ModelError::Io`] or [`ModelError::Tensor`].
pub fn write_deberta_v2(dir: &Path, shape: DebertaV2Shape, tokenizer_from: &Path) -> Result<()> {
    let DebertaV2Shape { hidden: h, intermediate: i, layers, heads, vocab, buckets } = shape;
    let (id2label, label2id) = labels();
    let config = serde_json::json!({
        "architectures": ["DebertaV2ForSequenceClassification"], "model_type": "deberta-v2",
        "hidden_size": h, "intermediate_size": i, "num_hidden_layers": layers, "num_attention_heads": heads,
        "vocab_size": vocab, "hidden_act": "gelu", "layer_norm_eps": 1e-7, "max_position_embeddings": 512,
        "max_relative_positions": -1, "norm_rel_ebd": "layer_norm", "pos_att_type": ["p2c", "c2p"],
        "position_biased_input": false, "position_buckets": buckets, "relative_attention": true,
        "share_att_key": true, "type_vocab_size": 0, "pad_token_id": 0, "pooler_hidden_size": h,
        "pooler_hidden_act": "gelu", "pooler_dropout": 0, "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1, "initializer_range": 0.02,
        "id2label": id2label, "label2id": label2id,
    });
    let mut w = Random::new();
    w.normal("deberta.embeddings.word_embeddings.weight", &[vocab, h])?;
    w.norm("deberta.embeddings.LayerNorm", h, true)?;
    for l in 0..layers {
        let p = format!("deberta.encoder.layer.{l}");
        for name in ["query_proj", "key_proj", "value_proj"] {
            w.linear(&format!("{p}.attention.self.{name}"), h, h, true)?;
        }
        w.linear(&format!("{p}.attention.output.dense"), h, h, true)?;
        w.norm(&format!("{p}.attention.output.LayerNorm"), h, true)?;
        w.linear(&format!("{p}.intermediate.dense"), i, h, true)?;
        w.linear(&format!("{p}.output.dense"), h, i, true)?;
        w.norm(&format!("{p}.output.LayerNorm"), h, true)?;
    }
    w.normal("deberta.encoder.rel_embeddings.weight", &[2 * buckets, h])?;
    w.norm("deberta.encoder.LayerNorm", h, true)?;
    w.linear("pooler.dense", h, h, true)?;
    w.linear("classifier", 2, h, true)?;
    w.save(dir, config, tokenizer_from)
}

/// Writes a 2-label `ModernBertForSequenceClassification` of `shape` (no biases,
/// CLS pooling, global attention every 3 layers, 128-token window) into `dir`,
/// tokenizer copied from `tokenizer_from`.
///
/// Errors: [`ModelError::Io`] or [`ModelError::Tensor`].
pub fn write_modernbert(dir: &Path, shape: ModernBertShape, tokenizer_from: &Path) -> Result<()> {
    let ModernBertShape { hidden: h, intermediate: i, layers, heads, vocab } = shape;
    let (id2label, label2id) = labels();
    let config = serde_json::json!({
        "architectures": ["ModernBertForSequenceClassification"], "model_type": "modernbert",
        "hidden_size": h, "intermediate_size": i, "num_hidden_layers": layers, "num_attention_heads": heads,
        "vocab_size": vocab, "max_position_embeddings": 8192, "norm_eps": 1e-5, "norm_bias": false,
        "attention_bias": false, "mlp_bias": false, "classifier_bias": false, "hidden_activation": "gelu",
        "classifier_activation": "gelu", "classifier_pooling": "cls", "global_attn_every_n_layers": 3,
        "local_attention": 128, "global_rope_theta": 160000.0, "local_rope_theta": 10000.0,
        "pad_token_id": 0, "cls_token_id": 101, "sep_token_id": 102, "bos_token_id": 101, "eos_token_id": 102,
        "id2label": id2label, "label2id": label2id,
    });
    let mut w = Random::new();
    w.normal("model.embeddings.tok_embeddings.weight", &[vocab, h])?;
    w.norm("model.embeddings.norm", h, false)?;
    for l in 0..layers {
        let p = format!("model.layers.{l}");
        if l > 0 {
            w.norm(&format!("{p}.attn_norm"), h, false)?;
        }
        w.linear(&format!("{p}.attn.Wqkv"), 3 * h, h, false)?;
        w.linear(&format!("{p}.attn.Wo"), h, h, false)?;
        w.norm(&format!("{p}.mlp_norm"), h, false)?;
        w.linear(&format!("{p}.mlp.Wi"), 2 * i, h, false)?;
        w.linear(&format!("{p}.mlp.Wo"), h, i, false)?;
    }
    w.norm("model.final_norm", h, false)?;
    w.linear("head.dense", h, h, false)?;
    w.norm("head.norm", h, false)?;
    w.linear("classifier", 2, h, true)?;
    let tokenizer_config = serde_json::json!({"pad_token": "[PAD]", "cls_token": "[CLS]", "sep_token": "[SEP]",
        "unk_token": "[UNK]", "mask_token": "[MASK]", "model_max_length": 8192});
    w.save_with(dir, config, tokenizer_from, Some(tokenizer_config))
}

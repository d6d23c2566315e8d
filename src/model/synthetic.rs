//! Randomly initialised checkpoints in HF layout, for benchmarks: inference speed does
//! not depend on the weights' values, so a model of any published shape can be
//! measured without downloading it.

use std::collections::HashMap;
use std::path::Path;

use candle_core::{DType, Device, Tensor};

use super::error::{ModelError, Result};

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

/// Writes `config.json` and `model.safetensors` (N(0, 0.02) weights, unit LayerNorms)
/// of a 2-label `DistilBertForSequenceClassification` into `dir`, and copies
/// `tokenizer.json` from `tokenizer_from` (a directory with a matching vocabulary).
///
/// Errors: [`ModelError::Io`] or [`ModelError::Tensor`].
pub fn write_distilbert(dir: &Path, shape: DistilBertShape, tokenizer_from: &Path) -> Result<()> {
    let io = |path: &Path| {
        let path = path.to_path_buf();
        move |source| ModelError::Io { path, source }
    };
    std::fs::create_dir_all(dir).map_err(io(dir))?;
    let DistilBertShape { dim, hidden_dim, layers, heads, vocab } = shape;
    let config = serde_json::json!({
        "architectures": ["DistilBertForSequenceClassification"], "model_type": "distilbert",
        "activation": "gelu", "dim": dim, "hidden_dim": hidden_dim, "n_layers": layers, "n_heads": heads,
        "vocab_size": vocab, "max_position_embeddings": 512, "pad_token_id": 0,
        "id2label": {"0": "NEGATIVE", "1": "POSITIVE"}, "label2id": {"NEGATIVE": 0, "POSITIVE": 1},
    });
    let config_path = dir.join("config.json");
    std::fs::write(&config_path, serde_json::to_vec_pretty(&config).unwrap_or_default()).map_err(io(&config_path))?;
    let source = tokenizer_from.join("tokenizer.json");
    std::fs::copy(&source, dir.join("tokenizer.json")).map_err(io(&source))?;

    let device = Device::Cpu;
    let mut tensors: HashMap<String, Tensor> = HashMap::new();
    let mut normal = |name: String, shape: &[usize]| -> Result<()> {
        tensors.insert(name, Tensor::randn(0f32, 0.02, shape, &device)?);
        Ok(())
    };
    let mut linear = |prefix: String, out_dim: usize, in_dim: usize| -> Result<()> {
        normal(format!("{prefix}.weight"), &[out_dim, in_dim])?;
        normal(format!("{prefix}.bias"), &[out_dim])
    };
    for i in 0..layers {
        let p = format!("distilbert.transformer.layer.{i}");
        for name in ["q_lin", "k_lin", "v_lin", "out_lin"] {
            linear(format!("{p}.attention.{name}"), dim, dim)?;
        }
        linear(format!("{p}.ffn.lin1"), hidden_dim, dim)?;
        linear(format!("{p}.ffn.lin2"), dim, hidden_dim)?;
    }
    linear("pre_classifier".into(), dim, dim)?;
    linear("classifier".into(), 2, dim)?;
    normal("distilbert.embeddings.word_embeddings.weight".into(), &[vocab, dim])?;
    normal("distilbert.embeddings.position_embeddings.weight".into(), &[512, dim])?;
    let mut norms = vec!["distilbert.embeddings.LayerNorm".to_string()];
    for i in 0..layers {
        norms.push(format!("distilbert.transformer.layer.{i}.sa_layer_norm"));
        norms.push(format!("distilbert.transformer.layer.{i}.output_layer_norm"));
    }
    for norm in norms {
        tensors.insert(format!("{norm}.weight"), Tensor::ones(dim, DType::F32, &device)?);
        tensors.insert(format!("{norm}.bias"), Tensor::zeros(dim, DType::F32, &device)?);
    }
    candle_core::safetensors::save(&tensors, dir.join("model.safetensors"))?;
    Ok(())
}

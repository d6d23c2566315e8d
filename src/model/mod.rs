//! A loaded sequence classifier: tokenizer + encoder + head + `id2label`.
//!
//! This layer knows nothing of HTTP or caching: texts in, logits out.

pub mod attention;
pub mod config;
mod cpu;
pub mod device;
pub mod encoder;
pub mod error;
pub mod gelu;
pub mod head;
pub mod linear;
pub mod norm;
pub mod scores;
pub mod source;
pub mod synthetic;
pub mod tokenize;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

pub use config::{Architecture, ModelConfig};
pub use device::DeviceSpec;
pub use error::{ModelError, Result};
pub use scores::{Classification, LabelScore, ScoreFunction};
pub use source::{ModelFiles, ModelSource, Weights};
pub use tokenize::Encoded;

use encoder::Encoder;
use head::Head;
use tokenize::TextEncoder;

/// How a batch is laid out for the encoder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Execution {
    /// Tokens of all texts back to back, no padding, fused attention kernel (CPU only;
    /// the default there).
    Packed,
    /// Right-padded `[batch, seq_len]` with an attention mask, candle ops (any device;
    /// the default on GPUs).
    Padded,
}

/// A sequence classifier ready to run. Read-only after load: share it as `Arc<Model>`.
pub struct Model {
    config: ModelConfig,
    text: TextEncoder,
    encoder: Encoder,
    head: Head,
    device: Device,
    execution: Execution,
}

impl Model {
    /// Loads a model from resolved files onto `device`, in F32.
    ///
    /// Blocking (reads and transposes every weight): call it from a blocking thread.
    ///
    /// Errors: [`ModelError::Io`]/[`ModelError::Config`] for a bad `config.json`,
    /// [`ModelError::UnsupportedArchitecture`], [`ModelError::Tokenizer`], and
    /// [`ModelError::Tensor`] for a missing or misshapen weight.
    pub fn load(files: &ModelFiles, device: &Device) -> Result<Self> {
        let raw =
            std::fs::read(&files.config).map_err(|source| ModelError::Io { path: files.config.clone(), source })?;
        let json: serde_json::Value = serde_json::from_slice(&raw).map_err(|e| ModelError::Config(e.to_string()))?;
        let config = ModelConfig::from_json(&json)?;
        let text = TextEncoder::from_file(
            &files.tokenizer,
            config.max_tokens(),
            config.pad_token_id,
            config.architecture.offsets_positions(),
        )?;
        let root = match &files.weights {
            // SAFETY: the file is memory-mapped read-only; like every mmap reader we rely
            // on it not being truncated while mapped. Weights are copied (transposed)
            // at load, so the mapping is dropped before serving.
            Weights::Safetensors(path) => unsafe { VarBuilder::from_mmaped_safetensors(&[path], DType::F32, device)? },
            Weights::Pth(path) => VarBuilder::from_pth(path, DType::F32, device)?,
        };
        let prefix = match config.architecture {
            Architecture::Bert => "bert",
            Architecture::DistilBert => "distilbert",
            Architecture::Roberta | Architecture::XlmRoberta => "roberta",
        };
        let model_vb = if root.contains_tensor(&format!("{prefix}.embeddings.word_embeddings.weight")) {
            root.pp(prefix)
        } else {
            root.clone()
        };
        let encoder = Encoder::load(model_vb.clone(), &config)?;
        let head = Head::load(&root, &model_vb, &config)?;
        let execution = if device.is_cpu() { Execution::Packed } else { Execution::Padded };
        Ok(Self { config, text, encoder, head, device: device.clone(), execution })
    }

    /// The parsed `config.json`.
    pub fn config(&self) -> &ModelConfig {
        &self.config
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Number of parameters (encoder + head).
    pub fn num_params(&self) -> usize {
        self.encoder.num_params() + self.head.num_params()
    }

    /// Tokenizes one text with the model's truncation.
    ///
    /// Errors: [`ModelError::Tokenizer`].
    pub fn tokenize(&self, text: &str) -> Result<Encoded> {
        self.text.encode(text)
    }

    /// Chooses the batch layout (packed needs the CPU).
    ///
    /// Errors: [`ModelError::Device`] for packed execution on another device.
    pub fn set_execution(&mut self, execution: Execution) -> Result<()> {
        if execution == Execution::Packed && !self.device.is_cpu() {
            return Err(ModelError::Device("packed execution runs on the CPU only".into()));
        }
        self.execution = execution;
        Ok(())
    }

    /// Runs one batch and returns one logits row `[num_labels]` per item, in input
    /// order. Batch composition does not change any row's logits.
    ///
    /// Errors: [`ModelError::Tensor`]; an empty batch is an error.
    pub fn logits(&self, batch: &[&Encoded]) -> Result<Vec<Vec<f32>>> {
        let first = match self.execution {
            Execution::Packed => self.encoder.forward_packed(&self.text.pack(batch, &self.device)?)?,
            Execution::Padded => self.encoder.forward(&self.text.batch(batch, &self.device)?)?,
        };
        Ok(self.head.forward(&first)?.to_vec2::<f32>()?)
    }

    /// Labels and scores for one logits row.
    pub fn classification(&self, logits: &[f32]) -> Classification {
        Classification::from_logits(logits, &self.config.id2label, self.config.function)
    }

    /// Tokenizes `texts`, runs them as one padded batch and classifies each.
    ///
    /// Errors: as [`Model::tokenize`] and [`Model::logits`].
    pub fn classify(&self, texts: &[&str]) -> Result<Vec<Classification>> {
        let encoded = texts.iter().map(|t| self.tokenize(t)).collect::<Result<Vec<_>>>()?;
        let refs: Vec<&Encoded> = encoded.iter().collect();
        Ok(self.logits(&refs)?.iter().map(|row| self.classification(row)).collect())
    }
}

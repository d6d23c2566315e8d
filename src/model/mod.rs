//! A loaded sequence classifier: tokenizer + family body/head + `id2label`.
//!
//! This layer knows nothing of HTTP or caching: texts in, logits out. Layout:
//! - [`hf`]: Hugging Face formats (shared `config.json` fields, sources, tokenizer,
//!   scores);
//! - [`families`]: one module per model family behind [`SequenceClassifier`];
//! - [`layers`] and [`kernels`]: the building blocks and the CPU kernels they run.

pub mod classifier;
pub mod device;
pub mod dtype;
pub mod error;
pub mod families;
pub mod hf;
pub mod input;
pub mod kernels;
pub mod layers;

use std::sync::Arc;

use candle_core::{DType, Device};
use candle_nn::VarBuilder;

pub use classifier::{Execution, SequenceClassifier};
pub use device::DeviceSpec;
pub use dtype::Dtype;
pub use error::{ModelError, Result};
pub use hf::scores::{Classification, LabelScore, ScoreFunction};
pub use hf::source::{ModelFiles, ModelSource, Weights};
pub use hf::tokenize::{Encoded, TextInput, Token, TokenCount, TruncationSide};

use hf::config::ClassifierConfig;
use hf::tokenize::TextEncoder;

/// Logits of one text, `[num_labels]`.
pub type Logits = Arc<[f32]>;

/// What the model computed for one input: what the prediction cache stores.
#[derive(Debug, Clone, PartialEq)]
pub struct Prediction {
    /// The logits row, `[num_labels]`.
    pub logits: Logits,
    /// Whether the input was cut to the model's limit before the forward pass.
    pub truncated: bool,
}

/// A sequence classifier ready to run. Read-only after load: share it as `Arc<Model>`.
pub struct Model {
    architecture: &'static str,
    id2label: Vec<String>,
    function: ScoreFunction,
    max_tokens: usize,
    text: TextEncoder,
    classifier: Box<dyn SequenceClassifier>,
    device: Device,
    execution: Execution,
    hidden_size: usize,
    dtype: Dtype,
}

impl Model {
    /// Loads a model from resolved files onto `device`, computing in F32 (f16 and bf16
    /// checkpoints are converted at load).
    ///
    /// Blocking (reads and transposes every weight): call it from a blocking thread.
    ///
    /// Errors: [`ModelError::Io`]/[`ModelError::Config`] for a bad `config.json`,
    /// [`ModelError::UnsupportedArchitecture`], [`ModelError::Tokenizer`], and
    /// [`ModelError::Tensor`] for a missing or misshapen weight.
    pub fn load(files: &ModelFiles, device: &Device) -> Result<Self> {
        Self::load_with(files, device, None, Dtype::F32)
    }

    /// [`Model::load`] with a truncation limit in tokens (`max_tokens`), at most the
    /// model's own (larger values are capped to it), and the [`Dtype`] of the linear
    /// layers (bf16 and int8 on the CPU only).
    ///
    /// Errors: as [`Model::load`]; [`ModelError::Config`] for bf16/int8 off the CPU.
    pub fn load_with(files: &ModelFiles, device: &Device, max_tokens: Option<usize>, dtype: Dtype) -> Result<Self> {
        if dtype != Dtype::F32 && !device.is_cpu() {
            return Err(ModelError::Config(format!("dtype {dtype} runs on the CPU only")));
        }
        let raw =
            std::fs::read(&files.config).map_err(|source| ModelError::Io { path: files.config.clone(), source })?;
        let json: serde_json::Value = serde_json::from_slice(&raw).map_err(|e| ModelError::Config(e.to_string()))?;
        let shared = ClassifierConfig::from_json(&json)?;
        let (family, model_type) = families::resolve(&shared)?;
        let id2label = shared.id2label()?;
        let weights = match &files.weights {
            // SAFETY: the file is memory-mapped read-only; like every mmap reader we rely
            // on it not being truncated while mapped. Weights are copied (transposed)
            // at load, so the mapping is dropped before serving.
            Weights::Safetensors(path) => unsafe { VarBuilder::from_mmaped_safetensors(&[path], DType::F32, device)? },
            Weights::Pth(path) => VarBuilder::from_pth(path, DType::F32, device)?,
        };
        let mut loaded = (family.load)(&families::LoadContext {
            json: &json,
            model_type,
            weights: &weights,
            num_labels: id2label.len(),
        })?;
        for linear in loaded.classifier.linears_mut() {
            linear.convert(dtype)?;
        }
        if let Some(limit) = max_tokens.filter(|&limit| limit > loaded.max_tokens) {
            tracing::warn!(
                configured = limit,
                applied = loaded.max_tokens,
                "max_tokens is above the model's own limit; capped"
            );
        }
        let max_tokens = max_tokens.map_or(loaded.max_tokens, |limit| limit.clamp(2, loaded.max_tokens));
        let text = TextEncoder::from_file(&files.tokenizer, max_tokens)?;
        let execution = if device.is_cpu() { Execution::Packed } else { Execution::Padded };
        let hidden_size = ["hidden_size", "dim", "d_model"]
            .iter()
            .find_map(|key| json.get(*key).and_then(serde_json::Value::as_u64))
            .unwrap_or(0) as usize;
        Ok(Self {
            architecture: model_type,
            function: shared.score_function(id2label.len()),
            id2label,
            max_tokens,
            hidden_size,
            text,
            classifier: loaded.classifier,
            device: device.clone(),
            execution,
            dtype,
        })
    }

    /// The dtype the linear layers run in.
    pub fn dtype(&self) -> Dtype {
        self.dtype
    }

    /// The kernel the linear layers run on ([`kernels::linear_kernel`]).
    pub fn kernel(&self) -> &'static str {
        kernels::linear_kernel(self.dtype, self.device.is_cpu())
    }

    /// The width of the hidden states (`hidden_size`), 0 when the config does not say.
    pub fn hidden_size(&self) -> usize {
        self.hidden_size
    }

    /// The HF `model_type` of the checkpoint, e.g. `bert`.
    pub fn architecture(&self) -> &'static str {
        self.architecture
    }

    /// Label names by class index.
    pub fn id2label(&self) -> &[String] {
        &self.id2label
    }

    /// How logits become scores by default.
    pub fn score_function(&self) -> ScoreFunction {
        self.function
    }

    /// The longest input in tokens (special tokens included); longer texts are
    /// truncated.
    pub fn max_tokens(&self) -> usize {
        self.max_tokens
    }

    /// The device the weights live on.
    pub fn device(&self) -> &Device {
        &self.device
    }

    /// Number of parameters (body + head).
    pub fn num_params(&self) -> usize {
        self.classifier.num_params()
    }

    /// Tokenizes one text with the model's truncation.
    ///
    /// Errors: [`ModelError::Tokenizer`].
    pub fn tokenize(&self, text: &str) -> Result<Encoded> {
        self.text.encode(text)
    }

    /// Tokenizes a text or a text pair with the model's truncation, cut on `side`.
    ///
    /// Errors: [`ModelError::Tokenizer`].
    pub fn tokenize_input(&self, input: &TextInput, side: TruncationSide) -> Result<Encoded> {
        self.text.encode_input(input, side)
    }

    /// Every token of `text`, untruncated, with byte offsets.
    ///
    /// Errors: [`ModelError::Tokenizer`].
    pub fn tokens(&self, text: &str, add_special_tokens: bool) -> Result<Vec<Token>> {
        self.text.tokens(text, add_special_tokens)
    }

    /// The text of token `ids`.
    ///
    /// Errors: [`ModelError::Tokenizer`].
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.text.decode(ids, skip_special_tokens)
    }

    /// Tokens `input` has before truncation (special tokens included).
    ///
    /// Errors: [`ModelError::Tokenizer`].
    pub fn count_tokens(&self, input: &TextInput) -> Result<TokenCount> {
        self.text.count_tokens(input)
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
    /// Errors: [`ModelError::EmptyBatch`] for an empty batch or text,
    /// [`ModelError::Tensor`] for device failures.
    pub fn logits(&self, batch: &[&Encoded]) -> Result<Vec<Vec<f32>>> {
        Ok(self.classifier.forward(batch, self.execution, &self.device)?.to_vec2::<f32>()?)
    }

    /// Labels and scores for one logits row, with the model's default function.
    pub fn classification(&self, logits: &[f32]) -> Classification {
        Classification::from_logits(logits, &self.id2label, self.function)
    }

    /// Labels and scores for one logits row with `function` (transformers'
    /// `function_to_apply`) in place of the model's default.
    pub fn classification_with(&self, logits: &[f32], function: ScoreFunction) -> Classification {
        Classification::from_logits(logits, &self.id2label, function)
    }
}

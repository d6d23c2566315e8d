//! The seam between serving and computing: what the batcher, the registry and the
//! service need of a model, whatever computes it.
//!
//! - [`Engine`]: tokenize, logits for a batch, labels and limits ([`EngineInfo`]).
//! - [`Loader`]: turns a configured source into an engine plus the content hash of
//!   what it loaded. The real one is [`hf::HfLoader`] (Hugging Face files on candle);
//!   tests plug in a deterministic fake (`tests/common/fake.rs`).
//! - [`LogitsSettings`]: everything besides the files that changes an engine's
//!   logits; with the files' content hash it makes the cache's
//!   [`crate::cache::Identity`].
//!
//! This module depends on [`crate::model`] (for its input and output types) and
//! nothing above it; the registry, batcher and service depend on this trait, never on
//! `model::Model`.

pub mod hf;
pub mod settings;

use std::sync::Arc;

use crate::model::{Dtype, Encoded, ModelError, ModelSource, ScoreFunction, TextInput, Token, TokenCount};

pub use settings::{LogitsSettings, TruncationSide};

/// What an engine is and what it computes with: reported in `GET /models`, TEI's
/// `/info`, logs, and (through [`EngineInfo::settings`]) part of its cache identity.
#[derive(Debug, Clone)]
pub struct EngineInfo {
    /// HF `model_type` of the checkpoint, e.g. `bert`.
    pub architecture: String,
    /// Label names by class index, `[num_labels]`.
    pub id2label: Vec<String>,
    /// How logits become scores by default (transformers' `function_to_apply` rule).
    pub score_function: ScoreFunction,
    /// Where it computes, as shown to users (`cpu`, `cuda:0`).
    pub device: String,
    /// The kernel its linear layers run on, e.g. `f32-packed-avx2`, `int8-avx512vnni`
    /// (see [`crate::model::kernels::linear_kernel`]).
    pub kernel: &'static str,
    /// Number of parameters (body + head).
    pub parameters: usize,
    /// Estimated bytes of the weights as held in memory (linear layers in their
    /// dtype).
    pub weight_bytes: u64,
    /// Estimated bytes of activations per token of a batch at the forward pass's peak.
    pub activation_bytes_per_token: u64,
    /// Everything besides the files that changes logits.
    pub settings: LogitsSettings,
}

impl EngineInfo {
    /// The longest input in tokens (special tokens included); longer inputs are
    /// truncated.
    pub fn max_tokens(&self) -> usize {
        self.settings.max_tokens
    }

    /// The dtype of the linear layers.
    pub fn dtype(&self) -> Dtype {
        self.settings.dtype
    }
}

/// A loaded classifier: texts in, logits out. Read-only after load and shared as
/// `Arc<dyn Engine>`; the batcher calls it from one inference thread per model, the
/// service from the blocking pool (token counts).
pub trait Engine: Send + Sync {
    /// Its labels, limits and settings.
    fn info(&self) -> &EngineInfo;

    /// Tokenizes a text or a text pair with the engine's truncation limit, cutting an
    /// over-long input on `side`.
    ///
    /// Errors: [`ModelError::Tokenizer`] (or the engine's equivalent).
    fn tokenize(&self, input: &TextInput, side: TruncationSide) -> Result<Encoded, ModelError>;

    /// Every token of `text`, untruncated, with byte offsets (TEI's `/tokenize`).
    ///
    /// Errors: as [`Engine::tokenize`].
    fn tokens(&self, text: &str, add_special_tokens: bool) -> Result<Vec<Token>, ModelError>;

    /// The text of token `ids` (TEI's `/decode`); ids outside the vocabulary are
    /// skipped.
    ///
    /// Errors: as [`Engine::tokenize`].
    fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, ModelError>;

    /// Tokens `input` has before truncation (special tokens included).
    ///
    /// Errors: as [`Engine::tokenize`].
    fn count_tokens(&self, input: &TextInput) -> Result<TokenCount, ModelError>;

    /// One logits row `[num_labels]` per item of `batch`, in order. Batch composition
    /// must not change any row (the cache relies on it).
    ///
    /// Errors: [`ModelError::EmptyBatch`], [`ModelError::Tensor`] (device failures).
    fn logits(&self, batch: &[&Encoded]) -> Result<Vec<Vec<f32>>, ModelError>;
}

/// What a [`Loader`] is asked to load.
#[derive(Debug, Clone)]
pub struct LoadRequest<'a> {
    /// The model's configured name.
    pub name: &'a str,
    /// Where its files come from.
    pub source: &'a ModelSource,
    /// The device to load onto.
    pub device: &'a candle_core::Device,
    /// Dtype of the linear layers.
    pub dtype: Dtype,
    /// Truncation limit in tokens (`None`: the model's own; larger values are capped).
    pub max_tokens: Option<usize>,
    /// Re-resolve remote revisions (a reload) instead of reusing a cached snapshot.
    pub refresh: bool,
}

/// What a [`Loader`] loaded.
pub struct LoadedEngine {
    /// The engine, ready to run.
    pub engine: Arc<dyn Engine>,
    /// A content hash of the files it was loaded from (not their paths), hex.
    pub content_hash: String,
    /// The resolved remote revision (a Hub commit), if any.
    pub revision: Option<String>,
}

/// Turns a configured source into an [`Engine`]. Blocking (file system, network,
/// weight conversion): the registry calls it on the blocking pool.
pub trait Loader: Send + Sync {
    /// Loads `request.source`.
    ///
    /// Errors: [`ModelError`] (missing files, bad config, unsupported architecture,
    /// download failure, …).
    fn load(&self, request: &LoadRequest<'_>) -> Result<LoadedEngine, ModelError>;
}

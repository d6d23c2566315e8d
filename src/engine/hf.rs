//! The real engine: a Hugging Face checkpoint ([`crate::model::Model`]) on candle, and
//! the loader that resolves its files (local directory or Hub) and hashes them.

use std::sync::Arc;

use super::{Engine, EngineInfo, LoadRequest, LoadedEngine, Loader, LogitsSettings, TruncationSide};
use crate::model::device::device_name;
use crate::model::hf::source;
use crate::model::{Encoded, Model, ModelError, TextInput, Token, TokenCount};

/// Bytes of one f32 value.
const F32_BYTES: u64 = 4;
/// f32 values held per token and hidden unit at the peak of a forward pass (the
/// fused QKV output, attention context and output, the FFN's 4× intermediate, the
/// residual stream and LayerNorm buffers): the activation estimate's factor.
const ACTIVATION_FLOATS_PER_HIDDEN: u64 = 12;

/// A [`Model`] behind the [`Engine`] seam.
pub struct CandleEngine {
    model: Model,
    info: EngineInfo,
}

impl CandleEngine {
    /// Wraps a loaded model.
    pub fn new(model: Model) -> Self {
        let info = EngineInfo {
            architecture: model.architecture().to_string(),
            id2label: model.id2label().to_vec(),
            score_function: model.score_function(),
            device: device_name(model.device()),
            kernel: model.kernel(),
            parameters: model.num_params(),
            weight_bytes: model.num_params() as u64 * model.dtype().bytes_per_weight(),
            activation_bytes_per_token: model.hidden_size() as u64 * ACTIVATION_FLOATS_PER_HIDDEN * F32_BYTES,
            settings: LogitsSettings {
                engine: "candle",
                dtype: model.dtype(),
                max_tokens: model.max_tokens(),
                truncation: TruncationSide::Right,
            },
        };
        Self { model, info }
    }

    /// The model inside.
    pub fn model(&self) -> &Model {
        &self.model
    }
}

impl Engine for CandleEngine {
    fn info(&self) -> &EngineInfo {
        &self.info
    }

    fn tokenize(&self, input: &TextInput, side: TruncationSide) -> Result<Encoded, ModelError> {
        self.model.tokenize_input(input, side)
    }

    fn tokens(&self, text: &str, add_special_tokens: bool) -> Result<Vec<Token>, ModelError> {
        self.model.tokens(text, add_special_tokens)
    }

    fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String, ModelError> {
        self.model.decode(ids, skip_special_tokens)
    }

    fn count_tokens(&self, input: &TextInput) -> Result<TokenCount, ModelError> {
        self.model.count_tokens(input)
    }

    fn logits(&self, batch: &[&Encoded]) -> Result<Vec<Vec<f32>>, ModelError> {
        self.model.logits(batch)
    }
}

/// Loads Hugging Face checkpoints: a local directory, or a Hub id read from (or
/// downloaded into) the HF cache.
#[derive(Debug, Clone, Copy, Default)]
pub struct HfLoader;

impl Loader for HfLoader {
    fn load(&self, request: &LoadRequest<'_>) -> Result<LoadedEngine, ModelError> {
        let files = source::resolve_with(request.source, false, request.refresh)?;
        let content_hash = files.content_hash()?;
        let model = Model::load_with(&files, request.device, request.max_tokens, request.dtype)?;
        Ok(LoadedEngine { engine: Arc::new(CandleEngine::new(model)), content_hash, revision: files.revision })
    }
}

//! The tokenizer on its own (TEI's `/tokenize` and `/decode`): texts to tokens with
//! byte offsets, and token ids back to text. No model runs and nothing is cached.

use std::sync::Arc;

use super::{Service, ServiceError};
use crate::engine::Engine;
use crate::model::{ModelError, Token};

impl Service {
    /// Every token of each of `texts` (untruncated), with byte offsets, by `model`'s
    /// tokenizer (or the default's), loading it if needed; `[texts][tokens]`.
    ///
    /// Errors: [`ServiceError::Registry`] for an unknown name or a failed load;
    /// [`ServiceError::Tokenizer`] when the tokenizer fails.
    pub async fn tokens(
        &self,
        model: Option<&str>,
        texts: Vec<String>,
        add_special_tokens: bool,
    ) -> Result<Vec<Vec<Token>>, ServiceError> {
        self.with_tokenizer(model, move |engine| {
            texts.iter().map(|text| engine.tokens(text, add_special_tokens)).collect()
        })
        .await
    }

    /// The text of each list of token ids in `ids` (`[batch][seq_len]`), by `model`'s
    /// tokenizer; ids outside its vocabulary are skipped.
    ///
    /// Errors: as [`Service::tokens`].
    pub async fn decode(
        &self,
        model: Option<&str>,
        ids: Vec<Vec<u32>>,
        skip_special_tokens: bool,
    ) -> Result<Vec<String>, ServiceError> {
        self.with_tokenizer(model, move |engine| {
            ids.iter().map(|ids| engine.decode(ids, skip_special_tokens)).collect()
        })
        .await
    }

    /// Runs `work` with `model`'s engine on the blocking pool, sharing the permits of
    /// the request path's tokenizations.
    async fn with_tokenizer<T, F>(&self, model: Option<&str>, work: F) -> Result<T, ServiceError>
    where
        T: Send + 'static,
        F: FnOnce(&dyn Engine) -> Result<T, ModelError> + Send + 'static,
    {
        let name = model.unwrap_or_else(|| self.registry.default_name()).to_string();
        let loaded = self.registry.get(&name).await?;
        let engine = Arc::clone(&loaded.engine);
        // The semaphore is never closed, so a permit always comes.
        let _permit = self.tokenizers.acquire().await.ok();
        tokio::task::spawn_blocking(move || work(engine.as_ref()))
            .await
            .unwrap_or_else(|e| Err(ModelError::Panic { during: "tokenization", message: e.to_string() }))
            .map_err(|source| ServiceError::Tokenizer { model: name, source: Arc::new(source) })
    }
}

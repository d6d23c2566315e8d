//! Text → token ids with the server's own truncation and no padding.
//!
//! Many `tokenizer.json` files carry a fixed padding (e.g. to 128) and a truncation
//! that do not match the model's limit, so both are replaced at load; batching and
//! padding happen later (`model::input`).

use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::model::error::{ModelError, Result};

/// One tokenized text.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Encoded {
    /// Token ids including special tokens, `[len]`, at most the model's limit.
    pub ids: Vec<u32>,
    /// Segment (token-type) ids, `[len]`.
    pub type_ids: Vec<u32>,
    /// Whether the text was cut to fit the model's limit.
    pub truncated: bool,
}

/// A tokenizer with the server's own truncation and no padding.
pub struct TextEncoder {
    tokenizer: Tokenizer,
}

impl TextEncoder {
    /// Loads `tokenizer.json`, clears its padding and truncates at `max_tokens`
    /// (special tokens included; the closing special token is kept).
    ///
    /// Errors: [`ModelError::Tokenizer`] for an unreadable file or a limit too small
    /// to hold the special tokens.
    pub fn from_file(path: &std::path::Path, max_tokens: usize) -> Result<Self> {
        let mut tokenizer =
            Tokenizer::from_file(path).map_err(|e| ModelError::Tokenizer(format!("{}: {e}", path.display())))?;
        tokenizer.with_padding(None);
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        Ok(Self { tokenizer })
    }

    /// Tokenizes one text with special tokens. CPU-bound: tens of µs per sentence.
    ///
    /// Errors: [`ModelError::Tokenizer`] (e.g. a tokenizer whose normalizer fails).
    pub fn encode(&self, text: &str) -> Result<Encoded> {
        let enc = self.tokenizer.encode(text, true).map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        Ok(Encoded {
            ids: enc.get_ids().to_vec(),
            type_ids: enc.get_type_ids().to_vec(),
            truncated: !enc.get_overflowing().is_empty(),
        })
    }
}

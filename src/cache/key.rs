//! What identifies one cached prediction: the exact input, or the model input its
//! tokenizer made of it.

use std::sync::Arc;

use sha2::{Digest, Sha256};

use super::identity::Identity;
use crate::model::{Prediction, TextInput};

/// Bookkeeping bytes moka keeps per entry beyond the key and value (an estimate used
/// by the byte bound).
const ENTRY_OVERHEAD_BYTES: usize = 96;

/// The model input a tokenizer made of a text or pair: 16 bytes of SHA-256 over the
/// token ids and token type ids after truncation (each length-prefixed, `u32` LE).
/// With the model's [`Identity`] (tokenizer files, `max_tokens`, truncation side)
/// it fixes the logits: texts that differ only where the tokenizer does not look
/// (case for an uncased model, runs of whitespace, anything past the limit) share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub struct TokenDigest(pub [u8; 16]);

impl TokenDigest {
    /// The digest of `ids` and `type_ids` (both `[seq_len]`).
    pub fn of(ids: &[u32], type_ids: &[u32]) -> Self {
        let mut hasher = Sha256::new();
        hasher.update(b"sentiserve-tokens\0");
        for sequence in [ids, type_ids] {
            hasher.update((sequence.len() as u64).to_le_bytes());
            for id in sequence {
                hasher.update(id.to_le_bytes());
            }
        }
        let digest = hasher.finalize();
        let mut out = [0u8; 16];
        out.copy_from_slice(&digest[..16]);
        Self(out)
    }
}

/// What a [`CacheKey`] names the input by.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub enum KeyInput {
    /// The exact text (or text pair): the first level, looked up without tokenizing.
    Text(TextInput),
    /// The token ids it became: the second level, looked up after a text misses.
    Tokens(TokenDigest),
}

impl From<TextInput> for KeyInput {
    fn from(input: TextInput) -> Self {
        Self::Text(input)
    }
}

impl KeyInput {
    /// Bytes the input adds to a memory entry.
    fn len_bytes(&self) -> usize {
        match self {
            Self::Text(input) => input.len_bytes(),
            Self::Tokens(digest) => digest.0.len(),
        }
    }
}

/// The key of one prediction: the model, the [`Identity`] of the logits it computes
/// (files' content and settings), and the input (exact, or by its tokens).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct CacheKey {
    /// The model's configured name (for per-model clearing).
    pub model: Arc<str>,
    /// The loaded model's identity.
    pub identity: Identity,
    /// The model's label count: a stored value with another number of logits is
    /// foreign (a miss), never an answer.
    pub num_labels: usize,
    /// The input.
    pub input: KeyInput,
}

impl CacheKey {
    /// The same model's key for the token ids `digest`.
    pub fn for_tokens(&self, digest: TokenDigest) -> Self {
        Self {
            model: Arc::clone(&self.model),
            identity: self.identity.clone(),
            num_labels: self.num_labels,
            input: KeyInput::Tokens(digest),
        }
    }

    /// Estimated bytes one memory entry holds: key strings, logits and moka's
    /// bookkeeping.
    pub fn weight(&self, prediction: &Prediction) -> u32 {
        let logits = &prediction.logits;
        let bytes = self.input.len_bytes()
            + self.model.len()
            + self.identity.as_str().len()
            + std::mem::size_of_val::<[f32]>(logits)
            + ENTRY_OVERHEAD_BYTES;
        u32::try_from(bytes).unwrap_or(u32::MAX)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_digests_separate_ids_type_ids_and_their_boundary() {
        let base = TokenDigest::of(&[101, 7, 102], &[0, 0, 0]);
        assert_eq!(base, TokenDigest::of(&[101, 7, 102], &[0, 0, 0]));
        assert_ne!(base, TokenDigest::of(&[101, 8, 102], &[0, 0, 0]));
        assert_ne!(base, TokenDigest::of(&[101, 7, 102], &[0, 1, 1]));
        assert_ne!(TokenDigest::of(&[1, 2], &[3]), TokenDigest::of(&[1], &[2, 3]));
    }
}

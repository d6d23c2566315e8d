//! Text → token ids with the server's own truncation and no padding.
//!
//! Many `tokenizer.json` files carry a fixed padding (e.g. to 128) and a truncation
//! that do not match the model's limit, so both are replaced at load; batching and
//! padding happen later (`model::input`).

use std::sync::Arc;

use tokenizers::{EncodeInput, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

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

/// One model input: a text, or a text pair (premise/hypothesis for NLI,
/// query/passage for relevance), encoded with the tokenizer's pair template
/// (`[CLS] a [SEP] b [SEP]` with `token_type_ids` 0…0 1…1 for BERT).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct TextInput {
    /// The text (the first sequence of a pair).
    pub text: Arc<str>,
    /// The second sequence (`text_pair` in transformers), if any.
    pub pair: Option<Arc<str>>,
}

impl TextInput {
    /// A single text.
    pub fn single(text: impl Into<Arc<str>>) -> Self {
        Self { text: text.into(), pair: None }
    }

    /// A text pair.
    pub fn pair(text: impl Into<Arc<str>>, pair: impl Into<Arc<str>>) -> Self {
        Self { text: text.into(), pair: Some(pair.into()) }
    }

    /// Bytes of text held (both sequences).
    pub fn len_bytes(&self) -> usize {
        self.text.len() + self.pair.as_ref().map_or(0, |p| p.len())
    }

    fn encode_input(&self) -> EncodeInput<'_> {
        match &self.pair {
            None => EncodeInput::Single(self.text.as_ref().into()),
            Some(pair) => EncodeInput::Dual(self.text.as_ref().into(), pair.as_ref().into()),
        }
    }
}

/// A tokenizer with the server's own truncation and no padding.
pub struct TextEncoder {
    tokenizer: Tokenizer,
    /// The same tokenizer without truncation: counts the tokens of an over-long input
    /// (`truncate: false` requests).
    untruncated: Tokenizer,
    max_tokens: usize,
    /// Bytes of a single text tokenized first when it is longer than this: enough for
    /// `max_tokens` tokens of the vocabulary's longest entry, twice over.
    prefix_bytes: usize,
}

/// Safety factor on the prefix bound (normalizers and stripped characters).
const PREFIX_MARGIN: usize = 2;

/// `text` cut at the last whitespace at or before `bytes` (or at the char boundary
/// there when a long stretch has no whitespace), so the prefix's words are whole.
fn whole_word_prefix(text: &str, bytes: usize) -> &str {
    let mut end = bytes.min(text.len());
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    match text[..end].rfind(char::is_whitespace) {
        Some(space) if space >= end / 2 => &text[..space],
        _ => &text[..end],
    }
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
        let mut untruncated = tokenizer.clone();
        untruncated.with_truncation(None).map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        tokenizer
            .with_truncation(Some(TruncationParams {
                max_length: max_tokens,
                strategy: TruncationStrategy::LongestFirst,
                stride: 0,
                direction: TruncationDirection::Right,
            }))
            .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        let longest_entry = tokenizer.get_vocab(true).keys().map(String::len).max().unwrap_or(1).max(1);
        let prefix_bytes = max_tokens.saturating_mul(longest_entry).saturating_mul(PREFIX_MARGIN);
        Ok(Self { tokenizer, untruncated, max_tokens, prefix_bytes })
    }

    /// Tokenizes one text with special tokens. CPU-bound: tens of µs per sentence.
    ///
    /// Errors: [`ModelError::Tokenizer`] (e.g. a tokenizer whose normalizer fails).
    pub fn encode(&self, text: &str) -> Result<Encoded> {
        self.encode_input(&TextInput::single(text))
    }

    /// Tokenizes a text or a text pair with special tokens (pairs are truncated
    /// longest-first, as transformers' `truncation=True` does).
    ///
    /// Errors: [`ModelError::Tokenizer`].
    pub fn encode_input(&self, input: &TextInput) -> Result<Encoded> {
        // Bound the work on huge single texts: tokenize a whole-word prefix first; when
        // it alone overflows the limit, its first tokens are the full text's.
        if input.pair.is_none() && input.text.len() > self.prefix_bytes {
            let prefix = whole_word_prefix(&input.text, self.prefix_bytes);
            let encoded = self.encode_raw(&TextInput::single(prefix))?;
            if encoded.truncated {
                return Ok(encoded);
            }
        }
        self.encode_raw(input)
    }

    fn encode_raw(&self, input: &TextInput) -> Result<Encoded> {
        let enc =
            self.tokenizer.encode(input.encode_input(), true).map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        Ok(Encoded {
            ids: enc.get_ids().to_vec(),
            type_ids: enc.get_type_ids().to_vec(),
            truncated: !enc.get_overflowing().is_empty(),
        })
    }

    /// Tokens `input` has without truncation, special tokens included, counted
    /// exactly up to a bound: a single text over the prefix bound whose prefix alone
    /// overflows is reported as [`TokenCount::AtLeast`] the prefix's count, so a
    /// megabyte of text costs no more than the prefix.
    ///
    /// Errors: [`ModelError::Tokenizer`].
    pub fn count_tokens(&self, input: &TextInput) -> Result<TokenCount> {
        if input.pair.is_none() && input.text.len() > self.prefix_bytes {
            let prefix = whole_word_prefix(&input.text, self.prefix_bytes);
            let enc = self
                .untruncated
                .encode(TextInput::single(prefix).encode_input(), true)
                .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
            if enc.get_ids().len() > self.max_tokens {
                return Ok(TokenCount::AtLeast(enc.get_ids().len()));
            }
        }
        let truncated = self.encode_raw(input)?;
        if !truncated.truncated {
            return Ok(TokenCount::Exactly(truncated.ids.len()));
        }
        let enc =
            self.untruncated.encode(input.encode_input(), true).map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        Ok(TokenCount::Exactly(enc.get_ids().len().max(self.max_tokens + 1)))
    }
}

/// A token count, exact or a lower bound (for texts too long to count whole).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum TokenCount {
    /// The exact count.
    Exactly(usize),
    /// At least this many.
    AtLeast(usize),
}

impl TokenCount {
    /// The count (or its lower bound).
    pub fn value(self) -> usize {
        match self {
            Self::Exactly(n) | Self::AtLeast(n) => n,
        }
    }
}

impl std::fmt::Display for TokenCount {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Exactly(n) => write!(f, "{n}"),
            Self::AtLeast(n) => write!(f, "at least {n}"),
        }
    }
}

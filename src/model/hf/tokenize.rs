//! Text → token ids with the server's own truncation and no padding.
//!
//! Many `tokenizer.json` files carry a fixed padding (e.g. to 128) and a truncation
//! that do not match the model's limit, so both are replaced at load; batching and
//! padding happen later (`model::input`).

use std::sync::Arc;

use serde::Serialize;

use tokenizers::{EncodeInput, Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use crate::model::error::{ModelError, Result};

/// Which end of an over-long input is cut (tokenizers' `TruncationDirection`; TEI's
/// and transformers' `truncation_side`).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Hash, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum TruncationSide {
    /// Keep the start, cut the end (transformers' default).
    #[default]
    Right,
    /// Keep the end, cut the start (a review's verdict is often in its last lines).
    Left,
}

impl TruncationSide {
    fn direction(self) -> TruncationDirection {
        match self {
            Self::Right => TruncationDirection::Right,
            Self::Left => TruncationDirection::Left,
        }
    }
}

/// One token of [`TextEncoder::tokens`] (TEI's `SimpleToken`).
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Token {
    /// Its id in the vocabulary.
    pub id: u32,
    /// The text it covers (a special token: its own name, e.g. `[CLS]`).
    pub text: String,
    /// Whether the tokenizer added it (`[CLS]`, `[SEP]`, `<s>`…).
    pub special: bool,
    /// Byte offset of its first byte in the input; `None` for a special token.
    pub start: Option<usize>,
    /// Byte offset past its last byte; `None` for a special token.
    pub stop: Option<usize>,
}

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
    /// Truncates at `max_tokens` on the right.
    tokenizer: Tokenizer,
    /// The same, truncating on the left.
    left: Tokenizer,
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

/// `text` from the first whitespace at or after its last `bytes` bytes (or from the
/// char boundary there when a long stretch has no whitespace), so the suffix's words
/// are whole: [`whole_word_prefix`] for left truncation.
fn whole_word_suffix(text: &str, bytes: usize) -> &str {
    let mut start = text.len().saturating_sub(bytes);
    while !text.is_char_boundary(start) {
        start += 1;
    }
    let tail = &text[start..];
    match tail.find(char::is_whitespace) {
        Some(space) if space <= tail.len() / 2 => &tail[space..],
        _ => tail,
    }
}

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
        let truncating = |side: TruncationSide| {
            let mut truncating = tokenizer.clone();
            truncating
                .with_truncation(Some(TruncationParams {
                    max_length: max_tokens,
                    strategy: TruncationStrategy::LongestFirst,
                    stride: 0,
                    direction: side.direction(),
                }))
                .map_err(|e| ModelError::Tokenizer(e.to_string()))?;
            Ok::<_, ModelError>(truncating)
        };
        let (tokenizer, left) = (truncating(TruncationSide::Right)?, truncating(TruncationSide::Left)?);
        let longest_entry = tokenizer.get_vocab(true).keys().map(String::len).max().unwrap_or(1).max(1);
        let prefix_bytes = max_tokens.saturating_mul(longest_entry).saturating_mul(PREFIX_MARGIN);
        Ok(Self { tokenizer, left, untruncated, max_tokens, prefix_bytes })
    }

    /// Tokenizes one text with special tokens. CPU-bound: tens of µs per sentence.
    ///
    /// Errors: [`ModelError::Tokenizer`] (e.g. a tokenizer whose normalizer fails).
    pub fn encode(&self, text: &str) -> Result<Encoded> {
        self.encode_input(&TextInput::single(text), TruncationSide::Right)
    }

    /// Tokenizes a text or a text pair with special tokens, cut on `side` (pairs are
    /// truncated longest-first, as transformers' `truncation=True` does).
    ///
    /// Errors: [`ModelError::Tokenizer`].
    pub fn encode_input(&self, input: &TextInput, side: TruncationSide) -> Result<Encoded> {
        // Bound the work on huge single texts: tokenize a whole-word prefix (a suffix
        // when cutting on the left) first; when it alone overflows the limit, the
        // tokens it keeps are the full text's.
        if input.pair.is_none() && input.text.len() > self.prefix_bytes {
            let part = match side {
                TruncationSide::Right => whole_word_prefix(&input.text, self.prefix_bytes),
                TruncationSide::Left => whole_word_suffix(&input.text, self.prefix_bytes),
            };
            let encoded = self.encode_raw(&TextInput::single(part), side)?;
            if encoded.truncated {
                return Ok(encoded);
            }
        }
        self.encode_raw(input, side)
    }

    /// Every token of `text`, untruncated, with its byte offsets (TEI's `/tokenize`).
    ///
    /// Errors: [`ModelError::Tokenizer`].
    pub fn tokens(&self, text: &str, add_special_tokens: bool) -> Result<Vec<Token>> {
        let enc =
            self.untruncated.encode(text, add_special_tokens).map_err(|e| ModelError::Tokenizer(e.to_string()))?;
        let tokens =
            enc.get_ids().iter().zip(enc.get_offsets()).zip(enc.get_special_tokens_mask()).zip(enc.get_tokens());
        Ok(tokens
            .map(|(((&id, &(start, stop)), &special), token)| match special == 1 {
                true => Token { id, text: token.clone(), special: true, start: None, stop: None },
                false => Token {
                    id,
                    text: String::from_utf8_lossy(text.as_bytes().get(start..stop).unwrap_or_default()).into_owned(),
                    special: false,
                    start: Some(start),
                    stop: Some(stop),
                },
            })
            .collect())
    }

    /// The text of token `ids` (ids outside the vocabulary are skipped), without the
    /// special tokens when `skip_special_tokens` (TEI's `/decode`).
    ///
    /// Errors: [`ModelError::Tokenizer`] (a decoder that fails).
    pub fn decode(&self, ids: &[u32], skip_special_tokens: bool) -> Result<String> {
        self.untruncated.decode(ids, skip_special_tokens).map_err(|e| ModelError::Tokenizer(e.to_string()))
    }

    fn encode_raw(&self, input: &TextInput, side: TruncationSide) -> Result<Encoded> {
        let tokenizer = match side {
            TruncationSide::Right => &self.tokenizer,
            TruncationSide::Left => &self.left,
        };
        let enc = tokenizer.encode(input.encode_input(), true).map_err(|e| ModelError::Tokenizer(e.to_string()))?;
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
        let truncated = self.encode_raw(input, TruncationSide::Right)?;
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

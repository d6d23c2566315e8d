//! Text → token ids, and token ids → padded encoder inputs.
//!
//! The server sets its own padding and truncation: many `tokenizer.json` files carry a
//! fixed padding (e.g. to 128) and a truncation that do not match the model's limit.

use candle_core::{Device, Tensor};
use tokenizers::{Tokenizer, TruncationDirection, TruncationParams, TruncationStrategy};

use super::error::{ModelError, Result};

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

/// A padded batch ready for the encoder; every tensor lives on the model's device.
#[derive(Debug)]
pub struct EncoderInput {
    /// Token ids, `[batch, seq_len]`, u32, right-padded with `pad_token_id`.
    pub input_ids: Tensor,
    /// Segment ids, `[batch, seq_len]`, u32.
    pub type_ids: Tensor,
    /// Position ids, `[batch, seq_len]`, u32.
    pub position_ids: Tensor,
    /// Additive attention bias, `[batch, 1, 1, seq_len]`, f32: 0 for tokens, `f32::MIN`
    /// for padding (as HF's extended attention mask).
    pub attention_bias: Tensor,
}

/// A batch packed without padding: the tokens of every text one after another; used
/// on the CPU (see [`super::attention`]).
#[derive(Debug)]
pub struct PackedInput {
    /// Token ids, `[total_tokens]`, u32.
    pub input_ids: Tensor,
    /// Segment ids, `[total_tokens]`, u32.
    pub type_ids: Tensor,
    /// Position ids, `[total_tokens]`, u32.
    pub position_ids: Tensor,
    /// `(first row, length)` of each text.
    pub segments: super::attention::Segments,
    /// The row of each text's first token, `[texts]`, u32.
    pub first_rows: Tensor,
}

/// A tokenizer with the server's own truncation and no padding.
pub struct TextEncoder {
    tokenizer: Tokenizer,
    pad_id: u32,
    /// RoBERTa family: positions start at `pad_id + 1` and padding sits at `pad_id`
    /// (HF `create_position_ids_from_input_ids`).
    offset_positions: bool,
}

impl TextEncoder {
    /// Loads `tokenizer.json`, clears its padding and truncates at `max_tokens`
    /// (special tokens included; the closing special token is kept).
    ///
    /// Errors: [`ModelError::Tokenizer`] for an unreadable file or a limit too small
    /// to hold the special tokens.
    pub fn from_file(path: &std::path::Path, max_tokens: usize, pad_id: u32, offset_positions: bool) -> Result<Self> {
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
        Ok(Self { tokenizer, pad_id, offset_positions })
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

    /// Concatenates `items` without padding.
    ///
    /// Errors: [`ModelError::Tensor`]; an empty batch or text is a
    /// [`ModelError::Tokenizer`] error.
    pub fn pack(&self, items: &[&Encoded], device: &Device) -> Result<PackedInput> {
        if items.is_empty() || items.iter().any(|e| e.ids.is_empty()) {
            return Err(ModelError::Tokenizer("empty batch or text".into()));
        }
        let total: usize = items.iter().map(|e| e.ids.len()).sum();
        let (mut ids, mut types, mut positions) =
            (Vec::with_capacity(total), Vec::with_capacity(total), Vec::with_capacity(total));
        let mut segments = Vec::with_capacity(items.len());
        for item in items {
            segments.push((ids.len(), item.ids.len()));
            ids.extend_from_slice(&item.ids);
            types.extend_from_slice(&item.type_ids);
            let offset = if self.offset_positions { self.pad_id + 1 } else { 0 };
            positions.extend((0..item.ids.len() as u32).map(|t| offset + t));
        }
        let first_rows: Vec<u32> = segments.iter().map(|&(first, _)| first as u32).collect();
        Ok(PackedInput {
            input_ids: Tensor::from_vec(ids, total, device)?,
            type_ids: Tensor::from_vec(types, total, device)?,
            position_ids: Tensor::from_vec(positions, total, device)?,
            first_rows: Tensor::from_vec(first_rows, items.len(), device)?,
            segments: segments.into(),
        })
    }

    /// Right-pads `items` to the longest and builds the encoder's input tensors.
    ///
    /// Errors: [`ModelError::Tensor`] on a device failure; an empty batch is a
    /// [`ModelError::Tokenizer`] error.
    pub fn batch(&self, items: &[&Encoded], device: &Device) -> Result<EncoderInput> {
        let batch = items.len();
        let seq_len = items.iter().map(|e| e.ids.len()).max().unwrap_or(0);
        if batch == 0 || seq_len == 0 {
            return Err(ModelError::Tokenizer("empty batch".into()));
        }
        let n = batch * seq_len;
        let (mut ids, mut types, mut positions) = (vec![self.pad_id; n], vec![0u32; n], vec![0u32; n]);
        let mut bias = vec![f32::MIN; n];
        for (row, item) in items.iter().enumerate() {
            let base = row * seq_len;
            for (t, (&id, &ty)) in item.ids.iter().zip(&item.type_ids).enumerate() {
                ids[base + t] = id;
                types[base + t] = ty;
                bias[base + t] = 0.0;
                positions[base + t] = if self.offset_positions { self.pad_id + 1 + t as u32 } else { t as u32 };
            }
            for t in item.ids.len()..seq_len {
                positions[base + t] = if self.offset_positions { self.pad_id } else { t as u32 };
            }
        }
        Ok(EncoderInput {
            input_ids: Tensor::from_vec(ids, (batch, seq_len), device)?,
            type_ids: Tensor::from_vec(types, (batch, seq_len), device)?,
            position_ids: Tensor::from_vec(positions, (batch, seq_len), device)?,
            attention_bias: Tensor::from_vec(bias, (batch, 1, 1, seq_len), device)?,
        })
    }
}

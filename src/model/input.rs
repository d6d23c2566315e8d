//! Encoded texts → the tensors an encoder reads: packed (no padding) or right-padded.
//!
//! Which position ids a family uses is its own business ([`Positions`]); everything
//! else (concatenation, padding, `attention_mask`) is the same for every family.

use candle_core::{Device, Tensor};

use super::error::{ModelError, Result};
use super::hf::tokenize::Encoded;
use super::kernels::attention::Segments;

/// How position ids are numbered.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Positions {
    /// `0, 1, 2, …` (BERT, DistilBERT); padding positions continue the count.
    FromZero,
    /// `pad + 1, pad + 2, …` with padding at `pad` (RoBERTa family, HF
    /// `create_position_ids_from_input_ids`).
    AfterPad(u32),
}

impl Positions {
    fn of(self, t: usize) -> u32 {
        match self {
            Self::FromZero => t as u32,
            Self::AfterPad(pad) => pad + 1 + t as u32,
        }
    }

    fn padding(self, t: usize) -> u32 {
        match self {
            Self::FromZero => t as u32,
            Self::AfterPad(pad) => pad,
        }
    }
}

/// A batch packed without padding: the tokens of every text one after another.
#[derive(Debug)]
pub struct PackedInput {
    /// Token ids, `[total_tokens]`, u32.
    pub input_ids: Tensor,
    /// Segment ids (`token_type_ids`), `[total_tokens]`, u32.
    pub token_type_ids: Tensor,
    /// Position ids, `[total_tokens]`, u32.
    pub position_ids: Tensor,
    /// `(first row, length)` of each text (the `cu_seqlens` of varlen attention).
    pub segments: Segments,
    /// The row of each text's first token, `[texts]`, u32.
    pub first_rows: Tensor,
}

/// A right-padded batch; every tensor lives on the model's device.
#[derive(Debug)]
pub struct PaddedInput {
    /// Token ids, `[batch, seq_len]`, u32, right-padded with the pad id.
    pub input_ids: Tensor,
    /// Segment ids (`token_type_ids`), `[batch, seq_len]`, u32.
    pub token_type_ids: Tensor,
    /// Position ids, `[batch, seq_len]`, u32.
    pub position_ids: Tensor,
    /// `attention_mask`, `[batch, seq_len]`, f32: 1 for tokens, 0 for padding.
    pub attention_mask: Tensor,
    /// Additive attention bias, `[batch, 1, 1, seq_len]`, f32: 0 for tokens,
    /// `f32::MIN` for padding (HF's extended attention mask).
    pub attention_bias: Tensor,
}

fn check(items: &[&Encoded]) -> Result<()> {
    if items.is_empty() || items.iter().any(|e| e.ids.is_empty()) {
        return Err(ModelError::EmptyBatch);
    }
    Ok(())
}

/// Concatenates `items` without padding.
///
/// Errors: [`ModelError::EmptyBatch`] for an empty batch or text;
/// [`ModelError::Tensor`] on a device failure.
pub fn packed(items: &[&Encoded], positions: Positions, device: &Device) -> Result<PackedInput> {
    check(items)?;
    let total: usize = items.iter().map(|e| e.ids.len()).sum();
    let (mut ids, mut types, mut position_ids) =
        (Vec::with_capacity(total), Vec::with_capacity(total), Vec::with_capacity(total));
    let mut segments = Vec::with_capacity(items.len());
    for item in items {
        segments.push((ids.len(), item.ids.len()));
        ids.extend_from_slice(&item.ids);
        types.extend_from_slice(&item.type_ids);
        position_ids.extend((0..item.ids.len()).map(|t| positions.of(t)));
    }
    let first_rows: Vec<u32> = segments.iter().map(|&(first, _)| first as u32).collect();
    Ok(PackedInput {
        input_ids: Tensor::from_vec(ids, total, device)?,
        token_type_ids: Tensor::from_vec(types, total, device)?,
        position_ids: Tensor::from_vec(position_ids, total, device)?,
        first_rows: Tensor::from_vec(first_rows, items.len(), device)?,
        segments: segments.into(),
    })
}

/// Right-pads `items` to the longest with `pad_id`.
///
/// Errors: [`ModelError::EmptyBatch`] for an empty batch or text;
/// [`ModelError::Tensor`] on a device failure.
pub fn padded(items: &[&Encoded], pad_id: u32, positions: Positions, device: &Device) -> Result<PaddedInput> {
    check(items)?;
    let batch = items.len();
    let seq_len = items.iter().map(|e| e.ids.len()).max().unwrap_or(0);
    let n = batch * seq_len;
    let (mut ids, mut types, mut position_ids) = (vec![pad_id; n], vec![0u32; n], vec![0u32; n]);
    let mut mask = vec![0f32; n];
    for (row, item) in items.iter().enumerate() {
        let base = row * seq_len;
        for (t, (&id, &ty)) in item.ids.iter().zip(&item.type_ids).enumerate() {
            ids[base + t] = id;
            types[base + t] = ty;
            mask[base + t] = 1.0;
            position_ids[base + t] = positions.of(t);
        }
        for t in item.ids.len()..seq_len {
            position_ids[base + t] = positions.padding(t);
        }
    }
    let bias: Vec<f32> = mask.iter().map(|&m| if m > 0.0 { 0.0 } else { f32::MIN }).collect();
    Ok(PaddedInput {
        input_ids: Tensor::from_vec(ids, (batch, seq_len), device)?,
        token_type_ids: Tensor::from_vec(types, (batch, seq_len), device)?,
        position_ids: Tensor::from_vec(position_ids, (batch, seq_len), device)?,
        attention_mask: Tensor::from_vec(mask, (batch, seq_len), device)?,
        attention_bias: Tensor::from_vec(bias, (batch, 1, 1, seq_len), device)?,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn encoded(ids: &[u32]) -> Encoded {
        Encoded { ids: ids.to_vec(), type_ids: vec![0; ids.len()], truncated: false }
    }

    #[test]
    fn packing_concatenates_and_numbers_positions_per_text() {
        let (a, b) = (encoded(&[5, 6, 7]), encoded(&[8, 9]));
        let input = packed(&[&a, &b], Positions::AfterPad(1), &Device::Cpu).unwrap();
        assert_eq!(input.input_ids.to_vec1::<u32>().unwrap(), [5, 6, 7, 8, 9]);
        assert_eq!(input.position_ids.to_vec1::<u32>().unwrap(), [2, 3, 4, 2, 3]);
        assert_eq!(&*input.segments, &[(0, 3), (3, 2)]);
        assert_eq!(input.first_rows.to_vec1::<u32>().unwrap(), [0, 3]);
    }

    #[test]
    fn padding_masks_and_positions_follow_the_family_rule() {
        let (a, b) = (encoded(&[5, 6, 7]), encoded(&[8]));
        let input = padded(&[&a, &b], 1, Positions::AfterPad(1), &Device::Cpu).unwrap();
        assert_eq!(input.input_ids.to_vec2::<u32>().unwrap(), [[5, 6, 7], [8, 1, 1]]);
        assert_eq!(input.position_ids.to_vec2::<u32>().unwrap(), [[2, 3, 4], [2, 1, 1]]);
        assert_eq!(input.attention_mask.to_vec2::<f32>().unwrap(), [[1.0, 1.0, 1.0], [1.0, 0.0, 0.0]]);
        let zero = padded(&[&b], 0, Positions::FromZero, &Device::Cpu).unwrap();
        assert_eq!(zero.position_ids.to_vec2::<u32>().unwrap(), [[0]]);
    }

    #[test]
    fn empty_batches_and_texts_are_errors() {
        assert!(matches!(packed(&[], Positions::FromZero, &Device::Cpu), Err(ModelError::EmptyBatch)));
        let empty = encoded(&[]);
        assert!(matches!(padded(&[&empty], 0, Positions::FromZero, &Device::Cpu), Err(ModelError::EmptyBatch)));
    }
}

//! The DeBERTa-v2 encoder (transformers' `DebertaV2Model`: `DebertaV2Embeddings`,
//! `DebertaV2Encoder`, `DisentangledSelfAttention`), ported to our layers.
//!
//! Attention of query `i` to key `j` at relative position `δ = i − j`, bucketed to
//! `r(δ) = clamp(span + bucket(δ), 0, 2·span − 1)` (`make_log_bucket_position`):
//!
//! `score(i, j) = (q_i·k_j + q_i·pk[r(δ)] + k_j·pq[r(δ)]) / √(head_dim · factor)`
//!
//! where `pk`/`pq` are the relative embeddings (after `encoder.LayerNorm` when
//! `norm_rel_ebd` says so) projected by the layer's key/query projections (or
//! `pos_key_proj`/`pos_query_proj` without `share_att_key`), the `c2p` term present when
//! `pos_att_type` names it, the `p2c` term likewise, and `factor` 1 + the number of
//! terms. `pk`/`pq` depend only on the weights, so they are computed once at load.

use candle_core::{Device, Module, Tensor, D};
use candle_nn::{Embedding, VarBuilder};

use std::sync::Arc;

use crate::model::error::Result;
use crate::model::input::PackedInput;
use crate::model::kernels::attention::{packed_attention_with, Relative, Variant};
use crate::model::layers::{Grid, LayerNorm, Linear};

/// Dimensions and switches the body reads (parsed from `DebertaV2Config` by the family).
#[derive(Debug, Clone)]
pub struct BodyConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub embedding_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub head_size: usize,
    pub intermediate_size: usize,
    pub max_position_embeddings: usize,
    pub type_vocab_size: usize,
    pub position_biased_input: bool,
    pub layer_norm_eps: f64,
    /// Exact GELU (`gelu`) or its tanh form in the feed-forward block.
    pub gelu_exact: bool,
    pub relative_attention: bool,
    /// `max_relative_positions`, already defaulted to `max_position_embeddings`.
    pub max_relative_positions: usize,
    /// `position_buckets` (0: no log buckets).
    pub position_buckets: usize,
    pub share_att_key: bool,
    pub c2p: bool,
    pub p2c: bool,
    pub norm_rel_ebd: bool,
}

impl BodyConfig {
    /// Rows of the relative embedding table used on each side (`pos_ebd_size`).
    pub fn span(&self) -> usize {
        if self.position_buckets > 0 {
            self.position_buckets
        } else {
            self.max_relative_positions
        }
    }

    /// `make_log_bucket_position` for one relative position (f32 arithmetic, as torch).
    pub fn bucket(&self, delta: i64) -> i64 {
        let (size, max) = (self.position_buckets as i64, self.max_relative_positions as i64);
        if size <= 0 || max <= 0 {
            return delta;
        }
        let mid = size / 2;
        let abs = if delta < mid && delta > -mid { mid - 1 } else { delta.abs() };
        if abs <= mid {
            return delta;
        }
        let log_pos = ((abs as f32 / mid as f32).ln() / ((max - 1) as f32 / mid as f32).ln() * (mid - 1) as f32).ceil()
            + mid as f32;
        (log_pos * delta.signum() as f32) as i64
    }

    /// `r(δ)`: the row of the relative tables for `δ = i − j`.
    fn relative_row(&self, delta: i64) -> u32 {
        let span = self.span() as i64;
        (self.bucket(delta) + span).clamp(0, 2 * span - 1) as u32
    }
}

/// One `DebertaV2Layer`: disentangled self-attention, output projection + residual +
/// LayerNorm, feed-forward + residual + LayerNorm (post-LN, as BERT).
struct Layer {
    /// Fused query/key/value projections, `[hidden, 3·all_head]`.
    qkv: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    ffn_in: Linear,
    ffn_out: Linear,
    out_norm: LayerNorm,
    /// Relative embeddings through the key projection, `[heads, 2·span, head_size]`.
    pos_key: Option<Tensor>,
    /// Relative embeddings through the query projection, `[heads, 2·span, head_size]`.
    pos_query: Option<Tensor>,
    /// The same tables as flat f32 for the packed CPU kernel.
    pos_key_rows: Option<Arc<[f32]>>,
    pos_query_rows: Option<Arc<[f32]>>,
}

/// The encoder: embeddings, then `num_layers` layers.
pub struct Body {
    cfg: BodyConfig,
    word: Embedding,
    position: Option<Embedding>,
    token_type: Option<Embedding>,
    projection: Option<Linear>,
    embed_norm: LayerNorm,
    layers: Vec<Layer>,
}

impl Body {
    /// Loads the body from `vb` at the `deberta` prefix and precomputes each layer's
    /// relative tables.
    ///
    /// Errors: a missing or misshapen weight.
    pub fn load(vb: VarBuilder, cfg: BodyConfig) -> Result<Self> {
        let (h, e) = (cfg.hidden_size, cfg.embedding_size);
        let emb = vb.pp("embeddings");
        let table = |name: &str, rows: usize| -> Result<Embedding> {
            Ok(Embedding::new(emb.pp(name).get((rows, e), "weight")?, e))
        };
        let word = table("word_embeddings", cfg.vocab_size)?;
        let position = if cfg.position_biased_input {
            Some(table("position_embeddings", cfg.max_position_embeddings)?)
        } else {
            None
        };
        let token_type =
            if cfg.type_vocab_size > 0 { Some(table("token_type_embeddings", cfg.type_vocab_size)?) } else { None };
        let projection = if e != h { Some(Linear::load_no_bias(emb.pp("embed_proj"), e, h)?) } else { None };
        let embed_norm = LayerNorm::load(emb.pp("LayerNorm"), h, cfg.layer_norm_eps)?;

        let encoder = vb.pp("encoder");
        let relative = if cfg.relative_attention {
            let table = encoder.pp("rel_embeddings").get((2 * cfg.span(), h), "weight")?;
            Some(if cfg.norm_rel_ebd {
                LayerNorm::load(encoder.pp("LayerNorm"), h, cfg.layer_norm_eps)?.forward(&table)?
            } else {
                table
            })
        } else {
            None
        };
        let layers = (0..cfg.num_layers)
            .map(|i| Layer::load(encoder.pp(format!("layer.{i}")), &cfg, relative.as_ref()))
            .collect::<Result<Vec<_>>>()?;
        Ok(Self { cfg, word, position, token_type, projection, embed_norm, layers })
    }

    /// Runs a packed batch and returns each text's first-token hidden state,
    /// `[texts, hidden]`. Linear layers run on the packed `[tokens, hidden]` rows.
    /// Attention runs in the fused packed kernel on the CPU with `fused` (the last layer
    /// for first tokens only), else with candle ops on `[texts, heads, L, head_size]`
    /// with `L` the longest text (any device).
    ///
    /// Errors: device or shape failures.
    pub fn forward(&self, input: &PackedInput, fused: bool) -> Result<Tensor> {
        let device = input.input_ids.device();
        let mut x = self.word.forward(&input.input_ids)?;
        if let Some(position) = &self.position {
            x = (x + position.forward(&input.position_ids)?)?;
        }
        if let Some(token_type) = &self.token_type {
            x = (x + token_type.forward(&input.token_type_ids)?)?;
        }
        if let Some(projection) = &self.projection {
            x = projection.forward(&x)?;
        }
        let mut x = self.embed_norm.forward(&x)?;
        let last = self.layers.len().saturating_sub(1);
        if fused && device.is_cpu() {
            let longest = input.segments.iter().map(|&(_, len)| len).max().unwrap_or(0);
            let reach = longest as i64 - 1;
            let row_of_offset: Arc<[u32]> = (-reach..=reach).map(|delta| self.cfg.relative_row(delta)).collect();
            for (i, layer) in self.layers.iter().enumerate() {
                let qkv = layer.qkv.forward(&x)?;
                let variant = Variant {
                    scale: Some(1.0 / ((self.cfg.head_size * Layer::factor(&self.cfg)) as f32).sqrt()),
                    window: None,
                    relative: (layer.pos_key_rows.is_some() || layer.pos_query_rows.is_some()).then(|| Relative {
                        pos_key: layer.pos_key_rows.clone(),
                        pos_query: layer.pos_query_rows.clone(),
                        rows: 2 * self.cfg.span(),
                        row_of_offset: Arc::clone(&row_of_offset),
                        longest,
                    }),
                };
                let first_only = i == last;
                let context = packed_attention_with(&qkv, &input.segments, self.cfg.num_heads, first_only, &variant)?;
                let residual = if first_only { x.index_select(&input.first_rows, 0)? } else { x };
                x = layer.finish(&context, &residual, &self.cfg)?;
            }
            if self.layers.is_empty() {
                x = x.index_select(&input.first_rows, 0)?;
            }
            return Ok(x);
        }
        let layout = BatchLayout::new(&input.segments, &self.cfg, device)?;
        for (i, layer) in self.layers.iter().enumerate() {
            let context = layer.attention(&x, &layout, &self.cfg)?;
            x = if i == last {
                let first = &input.first_rows;
                layer.finish(&context.index_select(first, 0)?, &x.index_select(first, 0)?, &self.cfg)?
            } else {
                layer.finish(&context, &x, &self.cfg)?
            };
        }
        if self.layers.is_empty() {
            x = x.index_select(&input.first_rows, 0)?;
        }
        Ok(x)
    }

    /// Every linear layer of the layers.
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        // The embedding projection stays f32, as the embeddings do.
        let mut out: Vec<&mut Linear> = Vec::new();
        for layer in &mut self.layers {
            out.extend([&mut layer.qkv, &mut layer.attn_out, &mut layer.ffn_in, &mut layer.ffn_out]);
        }
        out
    }

    /// Parameters of the body (embeddings, layers, relative table and its norm).
    pub fn num_params(&self) -> usize {
        let c = &self.cfg;
        let (h, e, i) = (c.hidden_size, c.embedding_size, c.intermediate_size);
        let all = c.num_heads * c.head_size;
        let embeddings = self.word.embeddings().elem_count()
            + self.position.as_ref().map_or(0, |p| p.embeddings().elem_count())
            + self.token_type.as_ref().map_or(0, |t| t.embeddings().elem_count())
            + self.projection.as_ref().map_or(0, |_| e * h)
            + 2 * h;
        let separate = if c.share_att_key { 0 } else { (c.c2p as usize + c.p2c as usize) * (h * all + all) };
        let layer = 3 * (h * all + all) + all * h + h + 2 * h * i + i + h + 4 * h + separate;
        let relative = if c.relative_attention { 2 * c.span() * h + if c.norm_rel_ebd { 2 * h } else { 0 } } else { 0 };
        embeddings + c.num_layers * layer + relative
    }
}

/// The padded grid of a batch and the relative rows it needs.
struct BatchLayout {
    grid: Grid,
    /// `[2L − 1]`: `r(δ)` for `δ = −(L−1) … L−1`.
    relative_rows: Tensor,
    /// `[L, L]`: `δ + L − 1` at `[i, j]` with `δ = i − j` (u32, for `gather`).
    c2p_index: Tensor,
}

impl BatchLayout {
    fn new(segments: &[(usize, usize)], cfg: &BodyConfig, device: &Device) -> Result<Self> {
        let grid = Grid::new(segments, device)?;
        let longest = grid.longest;
        let span = longest as i64 - 1;
        let relative_rows: Vec<u32> = (-span..=span).map(|delta| cfg.relative_row(delta)).collect();
        let c2p_index: Vec<u32> =
            (0..longest).flat_map(|i| (0..longest).map(move |j| (i + longest - 1 - j) as u32)).collect();
        Ok(Self {
            grid,
            relative_rows: Tensor::from_vec(relative_rows, 2 * longest - 1, device)?,
            c2p_index: Tensor::from_vec(c2p_index, (longest, longest), device)?,
        })
    }
}

impl Layer {
    fn load(vb: VarBuilder, cfg: &BodyConfig, relative: Option<&Tensor>) -> Result<Self> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        let all = cfg.num_heads * cfg.head_size;
        let attn = vb.pp("attention.self");
        let query = Linear::load(attn.pp("query_proj"), h, all)?;
        let key = Linear::load(attn.pp("key_proj"), h, all)?;
        let value = Linear::load(attn.pp("value_proj"), h, all)?;
        // `[2·span, hidden]` → `[heads, 2·span, head_size]`.
        let heads = |t: Tensor| -> Result<Tensor> {
            let rows = t.dim(0)?;
            Ok(t.reshape((rows, cfg.num_heads, cfg.head_size))?.transpose(0, 1)?.contiguous()?)
        };
        let (mut pos_key, mut pos_query) = (None, None);
        if let Some(table) = relative {
            if cfg.c2p {
                let proj = if cfg.share_att_key { key.clone() } else { Linear::load(attn.pp("pos_key_proj"), h, all)? };
                pos_key = Some(heads(proj.forward(table)?)?);
            }
            if cfg.p2c {
                let proj =
                    if cfg.share_att_key { query.clone() } else { Linear::load(attn.pp("pos_query_proj"), h, all)? };
                pos_query = Some(heads(proj.forward(table)?)?);
            }
        }
        let rows = |t: &Option<Tensor>| -> Result<Option<Arc<[f32]>>> {
            Ok(match t {
                Some(t) if t.device().is_cpu() => Some(t.flatten_all()?.to_vec1::<f32>()?.into()),
                _ => None,
            })
        };
        Ok(Self {
            pos_key_rows: rows(&pos_key)?,
            pos_query_rows: rows(&pos_query)?,
            qkv: Linear::fuse(&[query, key, value])?,
            attn_out: Linear::load(vb.pp("attention.output.dense"), all, h)?,
            attn_norm: LayerNorm::load(vb.pp("attention.output.LayerNorm"), h, cfg.layer_norm_eps)?,
            ffn_in: Linear::load(vb.pp("intermediate.dense"), h, i)?,
            ffn_out: Linear::load(vb.pp("output.dense"), i, h)?,
            out_norm: LayerNorm::load(vb.pp("output.LayerNorm"), h, cfg.layer_norm_eps)?,
            pos_key,
            pos_query,
        })
    }

    /// Disentangled self-attention of packed rows `x` `[tokens, hidden]` → context
    /// `[tokens, heads·head_size]`.
    fn attention(&self, x: &Tensor, layout: &BatchLayout, cfg: &BodyConfig) -> Result<Tensor> {
        let (b, l, heads, d) = (layout.grid.texts, layout.grid.longest, cfg.num_heads, cfg.head_size);
        let all = heads * d;
        let grid = layout.grid.scatter(&self.qkv.forward(x)?)?.reshape((b, l, 3, heads, d))?;
        let part =
            |i: usize| -> Result<Tensor> { Ok(grid.narrow(2, i, 1)?.squeeze(2)?.transpose(1, 2)?.contiguous()?) };
        let (q, k, v) = (part(0)?, part(1)?, part(2)?);
        let factor = Self::factor(cfg);
        let mut scores = q.matmul(&k.t()?)?;
        let index = || -> Result<Tensor> { Ok(layout.c2p_index.broadcast_as((b, heads, l, l))?.contiguous()?) };
        if let Some(pos_key) = &self.pos_key {
            // [heads, 2L−1, d] → c2p[b, h, i, j] = q_i · pk[r(i − j)].
            let rows = pos_key.index_select(&layout.relative_rows, 1)?;
            let full = q.broadcast_matmul(&rows.t()?.unsqueeze(0)?)?;
            scores = (scores + full.contiguous()?.gather(&index()?, D::Minus1)?)?;
        }
        if let Some(pos_query) = &self.pos_query {
            // p2c[b, h, i, j] = k_j · pq[r(i − j)]: gathered per key row j at
            // column (i − j) + L − 1, i.e. the transposed index, then transposed back.
            let rows = pos_query.index_select(&layout.relative_rows, 1)?;
            let full = k.broadcast_matmul(&rows.t()?.unsqueeze(0)?)?;
            let by_key = full.contiguous()?.gather(&index()?.transpose(2, 3)?.contiguous()?, D::Minus1)?;
            scores = (scores + by_key.transpose(2, 3)?)?;
        }
        let scores = (scores / ((d * factor) as f64).sqrt())?.broadcast_add(&layout.grid.key_bias)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores.contiguous()?)?;
        let context = probs.matmul(&v)?.transpose(1, 2)?.reshape((b * l, all))?;
        layout.grid.gather(&context)
    }

    /// `1 +` the number of relative terms `pos_att_type` names (counted even without
    /// `relative_attention`, as transformers does): scores are divided by
    /// `√(head_size · factor)`.
    fn factor(cfg: &BodyConfig) -> usize {
        1 + usize::from(cfg.c2p) + usize::from(cfg.p2c)
    }

    /// Output projection + residual + LayerNorm, feed-forward + residual + LayerNorm;
    /// `context`, `residual`: `[rows, …]`.
    fn finish(&self, context: &Tensor, residual: &Tensor, cfg: &BodyConfig) -> Result<Tensor> {
        let x = self.attn_norm.forward_residual(&self.attn_out.forward(context)?, residual)?;
        let inner = if cfg.gelu_exact { self.ffn_in.forward_gelu_erf(&x)? } else { self.ffn_in.forward(&x)?.gelu()? };
        self.out_norm.forward_residual(&self.ffn_out.forward(&inner)?, &x)
    }
}

#[cfg(test)]
#[path = "body_tests.rs"]
mod tests;

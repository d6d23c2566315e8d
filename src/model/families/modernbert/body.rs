//! The ModernBERT encoder (transformers' `ModernBertModel`), ported to our layers:
//! `tok_embeddings` → LayerNorm; per layer `x += Wo(attn(RoPE(Wqkv(LN(x)))))` (no
//! LayerNorm before layer 0's attention) and `x += Wo(GELU(a) ⊙ g)` with
//! `[a, g] = Wi(LN(x))` (GeGLU); a final LayerNorm. No biases anywhere.
//!
//! Attention is global in every `global_attn_every_n_layers`-th layer (from layer 0)
//! and limited to `|i − j| ≤ local_attention / 2` in the others; each kind has its own
//! RoPE base (`rope_theta`). Linear layers run packed on our kernels; attention runs on
//! the padded grid of the batch.

use std::sync::Arc;

use candle_core::{Device, Tensor};
use candle_nn::{Embedding, Module, VarBuilder};

use crate::model::error::Result;
use crate::model::input::PackedInput;
use crate::model::kernels::attention::{packed_attention_with, Variant};
use crate::model::kernels::gelu::gelu_erf;
use crate::model::kernels::rope::{rope_packed, RopeTables};
use crate::model::layers::{Grid, LayerNorm, Linear};

/// Dimensions the body reads (parsed from `ModernBertConfig` by the family).
#[derive(Debug, Clone)]
pub struct BodyConfig {
    pub vocab_size: usize,
    pub hidden_size: usize,
    pub intermediate_size: usize,
    pub num_layers: usize,
    pub num_heads: usize,
    pub max_position_embeddings: usize,
    pub norm_eps: f64,
    /// Layer `i` attends globally when `i % global_every == 0`.
    pub global_every: usize,
    /// Window of the local layers, in tokens (`local_attention`).
    pub local_attention: usize,
    pub global_rope_theta: f64,
    pub local_rope_theta: f64,
}

/// One RoPE base: tables for the packed kernel and `[max_position_embeddings,
/// head_size / 2]` tensors for candle's `rope` (the non-interleaved `rotate_half` form
/// transformers uses) on other devices.
struct Rope {
    tables: RopeTables,
    cos: Tensor,
    sin: Tensor,
}

impl Rope {
    fn new(theta: f64, head_size: usize, positions: usize, device: &Device) -> Result<Self> {
        let tables = RopeTables::new(theta, head_size, positions);
        Ok(Self { cos: tables.cos(device)?, sin: tables.sin(device)?, tables })
    }

    /// Rotates `x` `[texts, heads, L, head_size]` at positions `0..L`.
    fn apply(&self, x: &Tensor) -> Result<Tensor> {
        let l = x.dim(2)?;
        Ok(candle_nn::rotary_emb::rope(&x.contiguous()?, &self.cos.narrow(0, 0, l)?, &self.sin.narrow(0, 0, l)?)?)
    }
}

struct Layer {
    attn_norm: Option<LayerNorm>,
    /// `[hidden, 3·hidden]`.
    wqkv: Linear,
    wo: Linear,
    mlp_norm: LayerNorm,
    /// `[hidden, 2·intermediate]`: the GELU input, then the gate.
    wi: Linear,
    mlp_out: Linear,
    global: bool,
}

/// The encoder.
pub struct Body {
    cfg: BodyConfig,
    embeddings: Embedding,
    embed_norm: LayerNorm,
    layers: Vec<Layer>,
    final_norm: LayerNorm,
    global_rope: Rope,
    local_rope: Rope,
}

impl Body {
    /// Loads the body from `vb` at the `model` prefix.
    ///
    /// Errors: a missing or misshapen weight.
    pub fn load(vb: VarBuilder, cfg: BodyConfig) -> Result<Self> {
        let (h, i, eps) = (cfg.hidden_size, cfg.intermediate_size, cfg.norm_eps);
        let emb = vb.pp("embeddings");
        let embeddings = Embedding::new(emb.pp("tok_embeddings").get((cfg.vocab_size, h), "weight")?, h);
        let layers = (0..cfg.num_layers)
            .map(|l| -> Result<Layer> {
                let lv = vb.pp(format!("layers.{l}"));
                Ok(Layer {
                    attn_norm: if l == 0 { None } else { Some(LayerNorm::load_no_bias(lv.pp("attn_norm"), h, eps)?) },
                    wqkv: Linear::load_no_bias(lv.pp("attn.Wqkv"), h, 3 * h)?,
                    wo: Linear::load_no_bias(lv.pp("attn.Wo"), h, h)?,
                    mlp_norm: LayerNorm::load_no_bias(lv.pp("mlp_norm"), h, eps)?,
                    wi: Linear::load_no_bias(lv.pp("mlp.Wi"), h, 2 * i)?,
                    mlp_out: Linear::load_no_bias(lv.pp("mlp.Wo"), i, h)?,
                    global: l % cfg.global_every == 0,
                })
            })
            .collect::<Result<Vec<_>>>()?;
        let head_size = h / cfg.num_heads;
        let device = vb.device();
        Ok(Self {
            embed_norm: LayerNorm::load_no_bias(emb.pp("norm"), h, eps)?,
            final_norm: LayerNorm::load_no_bias(vb.pp("final_norm"), h, eps)?,
            global_rope: Rope::new(cfg.global_rope_theta, head_size, cfg.max_position_embeddings, device)?,
            local_rope: Rope::new(cfg.local_rope_theta, head_size, cfg.max_position_embeddings, device)?,
            embeddings,
            layers,
            cfg,
        })
    }

    /// Runs a packed batch and returns the final hidden states of every token,
    /// `[tokens, hidden]`, or with `first_only` of each text's first token,
    /// `[texts, hidden]`. Attention runs in the fused packed kernel on the CPU with
    /// `fused`, else with candle ops on the padded grid (any device).
    ///
    /// Errors: device or shape failures.
    pub fn forward(&self, input: &PackedInput, fused: bool, first_only: bool) -> Result<Tensor> {
        let device = input.input_ids.device();
        if fused && device.is_cpu() {
            return self.forward_fused(input, first_only);
        }
        let hidden = self.forward_grid(input)?;
        Ok(if first_only { hidden.index_select(&input.first_rows, 0)? } else { hidden })
    }

    /// The CPU path: RoPE and attention as packed kernels; the last layer computes only
    /// first tokens when `first_only`.
    fn forward_fused(&self, input: &PackedInput, first_only: bool) -> Result<Tensor> {
        let positions: Arc<[u32]> = input.position_ids.to_vec1::<u32>()?.into();
        let (heads, i) = (self.cfg.num_heads, self.cfg.intermediate_size);
        let local = Variant { window: Some(self.cfg.local_attention / 2), ..Variant::default() };
        let global = Variant::default();
        let mut x = self.embed_norm.forward(&self.embeddings.forward(&input.input_ids)?)?;
        let last = self.layers.len().saturating_sub(1);
        for (l, layer) in self.layers.iter().enumerate() {
            let normed = match &layer.attn_norm {
                Some(norm) => norm.forward(&x)?,
                None => x.clone(),
            };
            let (rope, variant) = if layer.global { (&self.global_rope, &global) } else { (&self.local_rope, &local) };
            let qkv = rope_packed(&layer.wqkv.forward(&normed)?, &positions, &rope.tables, heads)?;
            let firsts = first_only && l == last;
            let context = packed_attention_with(&qkv, &input.segments, heads, firsts, variant)?;
            let residual = if firsts { x.index_select(&input.first_rows, 0)? } else { x };
            x = (residual + layer.wo.forward(&context)?)?;
            let inner = layer.wi.forward(&layer.mlp_norm.forward(&x)?)?;
            let gated = (gelu_erf(&inner.narrow(1, 0, i)?.contiguous()?)? * inner.narrow(1, i, i)?)?;
            x = (x + layer.mlp_out.forward(&gated)?)?;
        }
        if first_only && self.layers.is_empty() {
            x = x.index_select(&input.first_rows, 0)?;
        }
        self.final_norm.forward(&x)
    }

    /// The device-generic path: attention with candle ops on the padded grid.
    fn forward_grid(&self, input: &PackedInput) -> Result<Tensor> {
        let device = input.input_ids.device();
        let grid = Grid::new(&input.segments, device)?;
        let local_bias = self.window_bias(&grid, device)?;
        let mut x = self.embed_norm.forward(&self.embeddings.forward(&input.input_ids)?)?;
        for layer in &self.layers {
            let normed = match &layer.attn_norm {
                Some(norm) => norm.forward(&x)?,
                None => x.clone(),
            };
            let (rope, bias) =
                if layer.global { (&self.global_rope, &grid.key_bias) } else { (&self.local_rope, &local_bias) };
            let context = self.attention(&layer.wqkv.forward(&normed)?, &grid, rope, bias)?;
            x = (x + layer.wo.forward(&context)?)?;
            let inner = layer.wi.forward(&layer.mlp_norm.forward(&x)?)?;
            let i = self.cfg.intermediate_size;
            let gated = (gelu_erf(&inner.narrow(1, 0, i)?.contiguous()?)? * inner.narrow(1, i, i)?)?;
            x = (x + layer.mlp_out.forward(&gated)?)?;
        }
        self.final_norm.forward(&x)
    }

    /// Key padding plus the sliding window, `[texts, 1, L, L]`.
    fn window_bias(&self, grid: &Grid, device: &Device) -> Result<Tensor> {
        let (l, radius) = (grid.longest, self.cfg.local_attention / 2);
        let window: Vec<f32> =
            (0..l).flat_map(|i| (0..l).map(move |j| if i.abs_diff(j) > radius { f32::MIN } else { 0.0 })).collect();
        let window = Tensor::from_vec(window, (1, 1, l, l), device)?;
        // f32::MIN + f32::MIN would overflow to -inf; clamp keeps it finite.
        Ok(grid.key_bias.broadcast_add(&window)?.clamp(f32::MIN, 0f32)?)
    }

    /// Multi-head attention of packed `qkv` `[tokens, 3·hidden]` → `[tokens, hidden]`.
    fn attention(&self, qkv: &Tensor, grid: &Grid, rope: &Rope, bias: &Tensor) -> Result<Tensor> {
        let (b, l, heads) = (grid.texts, grid.longest, self.cfg.num_heads);
        let (h, d) = (self.cfg.hidden_size, self.cfg.hidden_size / heads);
        let cells = grid.scatter(qkv)?.reshape((b, l, 3, heads, d))?;
        let part =
            |i: usize| -> Result<Tensor> { Ok(cells.narrow(2, i, 1)?.squeeze(2)?.transpose(1, 2)?.contiguous()?) };
        let (q, k, v) = (rope.apply(&part(0)?)?, rope.apply(&part(1)?)?, part(2)?);
        let scores = (q.matmul(&k.t()?)? / (d as f64).sqrt())?.broadcast_add(bias)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores.contiguous()?)?;
        let context = probs.matmul(&v)?.transpose(1, 2)?.reshape((b * l, h))?;
        grid.gather(&context)
    }

    /// Every linear layer of the body.
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        let mut out = Vec::new();
        for layer in &mut self.layers {
            out.extend([&mut layer.wqkv, &mut layer.wo, &mut layer.wi, &mut layer.mlp_out]);
        }
        out
    }

    /// Parameters of the body.
    pub fn num_params(&self) -> usize {
        let c = &self.cfg;
        let (h, i) = (c.hidden_size, c.intermediate_size);
        // Embeddings and their norm; per layer Wqkv, Wo, Wi, Wo and two norms (layer 0
        // has no attention norm); the final norm.
        c.vocab_size * h + h + c.num_layers * (4 * h * h + 3 * h * i + 2 * h) - h + h
    }
}

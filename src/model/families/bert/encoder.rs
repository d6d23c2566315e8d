//! One post-LayerNorm transformer encoder for BERT, DistilBERT, RoBERTa, XLM-RoBERTa,
//! ELECTRA and ALBERT.
//!
//! Ported from transformers' `BertModel` / `DistilBertModel` / `RobertaModel` /
//! `ElectraModel` / `AlbertModel` (Devlin et al. 2019, "BERT"; Sanh et al. 2019,
//! "DistilBERT"; Liu et al. 2019, "RoBERTa"; Clark et al. 2020, "ELECTRA"; Lan et al.
//! 2020, "ALBERT"). They differ only in weight names ([`LayerNames`]), position ids,
//! whether a token-type embedding exists, whether embeddings are narrower than the
//! hidden state (ELECTRA, ALBERT: a projection follows) and whether layers share
//! weights (ALBERT); [`Layout`] describes those, so one implementation reads all six.
//! Linear weights are stored transposed (`[in, out]`) and Q/K/V are fused into one
//! matrix, so each layer runs three large `x · W` products on `[tokens, hidden]`.

use candle_core::{IndexOp, Module, Tensor};
use candle_nn::{Embedding, VarBuilder};

use super::config::{Activation, EncoderConfig};
use crate::model::error::Result;
use crate::model::input::{PackedInput, PaddedInput};
use crate::model::kernels::attention::packed_attention;
use crate::model::layers::{LayerNorm, Linear};

/// Weight names inside one layer (relative to the layer), per checkpoint layout.
#[derive(Debug)]
pub struct LayerNames {
    /// Query projection.
    pub q: &'static str,
    /// Key projection.
    pub k: &'static str,
    /// Value projection.
    pub v: &'static str,
    /// Attention output projection.
    pub attn_out: &'static str,
    /// LayerNorm after attention.
    pub attn_norm: &'static str,
    /// Feed-forward input projection.
    pub ffn_in: &'static str,
    /// Feed-forward output projection.
    pub ffn_out: &'static str,
    /// LayerNorm after the feed-forward block.
    pub out_norm: &'static str,
}

/// BERT's names (also RoBERTa, XLM-R and ELECTRA), under `encoder.layer.{i}`.
pub const BERT_NAMES: LayerNames = LayerNames {
    q: "attention.self.query",
    k: "attention.self.key",
    v: "attention.self.value",
    attn_out: "attention.output.dense",
    attn_norm: "attention.output.LayerNorm",
    ffn_in: "intermediate.dense",
    ffn_out: "output.dense",
    out_norm: "output.LayerNorm",
};

/// DistilBERT's names, under `transformer.layer.{i}`.
pub const DISTILBERT_NAMES: LayerNames = LayerNames {
    q: "attention.q_lin",
    k: "attention.k_lin",
    v: "attention.v_lin",
    attn_out: "attention.out_lin",
    attn_norm: "sa_layer_norm",
    ffn_in: "ffn.lin1",
    ffn_out: "ffn.lin2",
    out_norm: "output_layer_norm",
};

/// One transformer block: self-attention then feed-forward, each followed by a
/// residual add and LayerNorm (post-LN).
struct Layer {
    /// Fused Q, K, V projection: `[hidden, 3·hidden]`.
    qkv: Linear,
    attn_out: Linear,
    attn_norm: LayerNorm,
    ffn_in: Linear,
    ffn_out: Linear,
    out_norm: LayerNorm,
}

/// Where a checkpoint keeps its layers and what its embeddings look like (all paths
/// relative to the model prefix).
#[derive(Debug)]
pub struct Layout {
    /// Weight names inside each layer.
    pub names: &'static LayerNames,
    /// Path of each distinct layer's weights, e.g. `encoder.layer.3`.
    pub layers: Vec<String>,
    /// Which distinct layer runs at each depth (ALBERT repeats shared layers).
    pub schedule: Vec<usize>,
    /// Whether a token-type (segment) embedding exists (not in DistilBERT).
    pub token_type: bool,
    /// Width of the embeddings (`embedding_size`; the hidden size when absent).
    pub embedding_size: usize,
    /// Path of the `[embedding_size → hidden]` projection after the embedding
    /// LayerNorm (ELECTRA `embeddings_project`, ALBERT
    /// `encoder.embedding_hidden_mapping_in`), if any.
    pub projection: Option<&'static str>,
}

impl Layout {
    /// `count` unshared layers at `{prefix}.{i}`, embeddings as wide as the hidden state.
    pub fn stacked(names: &'static LayerNames, prefix: &str, count: usize, token_type: bool, hidden: usize) -> Self {
        Self {
            names,
            layers: (0..count).map(|i| format!("{prefix}.{i}")).collect(),
            schedule: (0..count).collect(),
            token_type,
            embedding_size: hidden,
            projection: None,
        }
    }
}

/// The encoder: embeddings (+ projection), then one block per depth.
pub struct Encoder {
    word: Embedding,
    position: Embedding,
    token_type: Option<Embedding>,
    embed_norm: LayerNorm,
    projection: Option<Linear>,
    layers: Vec<Layer>,
    schedule: Vec<usize>,
    num_heads: usize,
    hidden: usize,
    activation: Activation,
}

impl Encoder {
    /// Loads the encoder from `vb`, which must already point at the model prefix
    /// (`bert.`, `distilbert.`, `roberta.`, `electra.`, `albert.` or none).
    ///
    /// Errors: a missing or misshapen weight, or a schedule naming a missing layer.
    pub fn load(vb: VarBuilder, cfg: &EncoderConfig, layout: &Layout) -> Result<Self> {
        let (h, e) = (cfg.hidden_size, layout.embedding_size);
        let emb = vb.pp("embeddings");
        let embedding = |name: &str, rows: usize| -> Result<Embedding> {
            Ok(Embedding::new(emb.pp(name).get((rows, e), "weight")?, e))
        };
        let token_type =
            if layout.token_type { Some(embedding("token_type_embeddings", cfg.type_vocab_size)?) } else { None };
        let layers =
            layout.layers.iter().map(|path| Layer::load(vb.pp(path), layout.names, cfg)).collect::<Result<Vec<_>>>()?;
        if let Some(&bad) = layout.schedule.iter().find(|&&i| i >= layers.len()) {
            return Err(crate::model::ModelError::Config(format!(
                "layer {bad} is scheduled but only {} exist",
                layers.len()
            )));
        }
        let projection = match layout.projection {
            Some(path) => Some(Linear::load(vb.pp(path), e, h)?),
            None => None,
        };
        Ok(Self {
            word: embedding("word_embeddings", cfg.vocab_size)?,
            position: embedding("position_embeddings", cfg.max_position_embeddings)?,
            token_type,
            embed_norm: LayerNorm::load(emb.pp("LayerNorm"), e, cfg.layer_norm_eps)?,
            projection,
            layers,
            schedule: layout.schedule.clone(),
            num_heads: cfg.num_heads,
            hidden: h,
            activation: cfg.activation,
        })
    }

    /// Every linear layer of the layers (shared layers once).
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        // The embedding projection stays f32, as the embeddings do.
        let mut out: Vec<&mut Linear> = Vec::new();
        for layer in &mut self.layers {
            out.extend([&mut layer.qkv, &mut layer.attn_out, &mut layer.ffn_in, &mut layer.ffn_out]);
        }
        out
    }

    /// Number of blocks run per forward (layers shared by ALBERT count once per use).
    pub fn depth(&self) -> usize {
        self.schedule.len()
    }

    /// The blocks in run order.
    fn scheduled(&self) -> impl Iterator<Item = &Layer> {
        self.schedule.iter().map(|&i| &self.layers[i])
    }

    /// Token + position (+ segment) embeddings, their LayerNorm and the projection to
    /// the hidden width; every id tensor `[n]` → `[n, hidden]`.
    fn embed(&self, ids: &Tensor, positions: &Tensor, types: &Tensor) -> Result<Tensor> {
        let mut x = (self.word.forward(ids)? + self.position.forward(positions)?)?;
        if let Some(token_type) = &self.token_type {
            x = (x + token_type.forward(types)?)?;
        }
        let x = self.embed_norm.forward(&x)?;
        match &self.projection {
            Some(projection) => projection.forward(&x),
            None => Ok(x),
        }
    }

    /// Runs the encoder on a packed batch (no padding; CPU only) and returns the final
    /// hidden state of each text's first token: `[texts, hidden]`. The last layer
    /// computes only those rows.
    pub fn forward_packed(&self, input: &PackedInput) -> Result<Tensor> {
        let mut x = self.embed(&input.input_ids, &input.position_ids, &input.token_type_ids)?;
        let last = self.depth().saturating_sub(1);
        for (i, layer) in self.scheduled().enumerate() {
            let qkv = layer.qkv.forward(&x)?;
            let first_only = i == last;
            let context = packed_attention(&qkv, &input.segments, self.num_heads, first_only)?;
            let residual = if first_only { x.index_select(&input.first_rows, 0)? } else { x };
            x = layer.finish(&context, &residual, self.activation)?;
        }
        Ok(x)
    }

    /// Runs the encoder on a right-padded batch (any device) and returns the final
    /// hidden state of each sequence's first token (`[CLS]` / `<s>`): `[batch, hidden]`.
    pub fn forward(&self, input: &PaddedInput) -> Result<Tensor> {
        let (batch, seq_len) = input.input_ids.dims2()?;
        let mut x = self.embed(
            &input.input_ids.flatten_all()?,
            &input.position_ids.flatten_all()?,
            &input.token_type_ids.flatten_all()?,
        )?;
        for layer in self.scheduled() {
            x = layer.forward(&x, batch, seq_len, self, &input.attention_bias)?;
        }
        Ok(x.reshape((batch, seq_len, self.hidden))?.i((.., 0, ..))?.contiguous()?)
    }

    /// Number of parameters of the encoder.
    pub fn num_params(&self) -> usize {
        let emb = self.word.embeddings().elem_count()
            + self.position.embeddings().elem_count()
            + self.token_type.as_ref().map_or(0, |t| t.embeddings().elem_count())
            + 2 * self.embed_norm_width()
            + self.projection.as_ref().map_or(0, Linear::num_params);
        let per_layer = |l: &Layer| {
            l.qkv.num_params()
                + l.attn_out.num_params()
                + l.ffn_in.num_params()
                + l.ffn_out.num_params()
                + 4 * self.hidden
        };
        emb + self.layers.iter().map(per_layer).sum::<usize>()
    }

    fn embed_norm_width(&self) -> usize {
        self.word.embeddings().dim(1).unwrap_or(self.hidden)
    }
}

impl Layer {
    fn load(vb: VarBuilder, names: &LayerNames, cfg: &EncoderConfig) -> Result<Self> {
        let (h, i) = (cfg.hidden_size, cfg.intermediate_size);
        let dense = |name: &str, a: usize, b: usize| Linear::load(vb.pp(name), a, b);
        Ok(Self {
            qkv: Linear::fuse(&[dense(names.q, h, h)?, dense(names.k, h, h)?, dense(names.v, h, h)?])?,
            attn_out: dense(names.attn_out, h, h)?,
            attn_norm: LayerNorm::load(vb.pp(names.attn_norm), h, cfg.layer_norm_eps)?,
            ffn_in: dense(names.ffn_in, h, i)?,
            ffn_out: dense(names.ffn_out, i, h)?,
            out_norm: LayerNorm::load(vb.pp(names.out_norm), h, cfg.layer_norm_eps)?,
        })
    }

    /// `x`: `[batch·seq_len, hidden]`; `bias`: `[batch, 1, 1, seq_len]`.
    fn forward(&self, x: &Tensor, batch: usize, seq_len: usize, enc: &Encoder, bias: &Tensor) -> Result<Tensor> {
        let (h, heads) = (enc.hidden, enc.num_heads);
        let head_dim = h / heads;
        let qkv = self.qkv.forward(x)?;
        let split = |i: usize| -> Result<Tensor> {
            Ok(qkv.narrow(1, i * h, h)?.reshape((batch, seq_len, heads, head_dim))?.transpose(1, 2)?.contiguous()?)
        };
        let q = (split(0)? * (1.0 / (head_dim as f64).sqrt()))?;
        let (k, v) = (split(1)?, split(2)?);
        let scores = q.matmul(&k.t()?)?.broadcast_add(bias)?;
        let probs = candle_nn::ops::softmax_last_dim(&scores)?;
        let context = probs.matmul(&v)?.transpose(1, 2)?.reshape((batch * seq_len, h))?;
        self.finish(&context, x, enc.activation)
    }

    /// Everything after attention: output projection + residual + LayerNorm, then the
    /// feed-forward block + residual + LayerNorm. `context`, `residual`: `[rows, hidden]`.
    fn finish(&self, context: &Tensor, residual: &Tensor, activation: Activation) -> Result<Tensor> {
        let x = self.attn_norm.forward_residual(&self.attn_out.forward(context)?, residual)?;
        let inner = match activation {
            Activation::GeluErf => self.ffn_in.forward_gelu_erf(&x)?,
            Activation::GeluTanh => self.ffn_in.forward(&x)?.gelu()?,
            Activation::Relu => self.ffn_in.forward(&x)?.relu()?,
        };
        self.out_norm.forward_residual(&self.ffn_out.forward(&inner)?, &x)
    }
}

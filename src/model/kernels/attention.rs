//! Packed (variable-length) multi-head self-attention for the CPU.
//!
//! The encoder keeps every token of a batch in one `[total_tokens, hidden]` matrix with
//! no padding; a sequence is a `(first row, length)` segment. This op reads Q, K and V
//! straight from the fused projection `[total_tokens, 3·hidden]` and writes the context
//! `[rows, hidden]`, one parallel task per (sequence, head): no split or transpose
//! copies, no padding, no mask, and one thread-pool dispatch per layer instead of two
//! small matrix products per head. It computes softmax(QKᵀ/√d)·V (Vaswani et al. 2017,
//! "Attention Is All You Need") exactly as the padded form with a −∞ mask does.
//!
//! With `first_only`, only each sequence's first query (`[CLS]`/`<s>`) is computed: the
//! classification head reads nothing else from the last layer.
//!
//! [`Variant`] adds what other encoders need on the same path: a scale other than
//! `1/√d`, a sliding window (`|i − j| ≤ radius`, ModernBERT's local layers), and
//! DeBERTa's disentangled relative terms `q_i·pk[r(i−j)] + k_j·pq[r(i−j)]` read from
//! per-head tables.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

use super::contiguous_f32;
use super::gelu::exp_nonpositive;

#[cfg(target_arch = "x86_64")]
mod avx512;

/// `(first row, length)` of each sequence in the packed matrix.
pub type Segments = Arc<[(usize, usize)]>;

/// Multiply-adds (Σ len² · hidden) from which attention splits its tasks over candle's
/// barrier pool (a spinning worker: a hand-off of microseconds), in parts of equal
/// work (texts of unequal length); below it a text's attention is cheaper than any
/// hand-off. A 23-token MiniLM text (203k) is split: its attention was ~15% of a
/// batch-1 forward on the calling thread alone while the worker spun. Batches went to
/// rayon's pool instead, whose threads then shared the cores with the spinning worker
/// while the calling thread waited: a batch of 32 ran its attention on one core
/// (Zen 5, `examples/profile_forward` under perf).
const HANDOFF_WORK: usize = 1 << 16;

/// Context of every query (`first_only = false`: `[total_tokens, hidden]`) or of each
/// sequence's first query (`[sequences, hidden]`), from `qkv` `[total_tokens, 3·hidden]`
/// (contiguous f32 on the CPU).
///
/// Errors: a non-CPU or non-f32 input, or a width not divisible into `heads`.
pub fn packed_attention(qkv: &Tensor, segments: &Segments, heads: usize, first_only: bool) -> Result<Tensor> {
    packed_attention_with(qkv, segments, heads, first_only, &Variant::default())
}

/// [`packed_attention`] with a [`Variant`].
///
/// Errors: as [`packed_attention`], and relative tables that do not fit.
pub fn packed_attention_with(
    qkv: &Tensor,
    segments: &Segments,
    heads: usize,
    first_only: bool,
    variant: &Variant,
) -> Result<Tensor> {
    qkv.apply_op1_no_bwd(&PackedAttention {
        segments: Arc::clone(segments),
        heads,
        first_only,
        variant: variant.clone(),
    })
}

/// What differs from BERT's attention.
#[derive(Debug, Clone, Default)]
pub struct Variant {
    /// Score scale; `1/√head_dim` when `None`.
    pub scale: Option<f32>,
    /// Keys farther than this from the query are not attended.
    pub window: Option<usize>,
    /// DeBERTa's relative terms.
    pub relative: Option<Relative>,
}

/// DeBERTa's disentangled attention terms (He et al. 2021): tables of relative
/// embeddings already projected per head, and the table row of each offset.
#[derive(Debug, Clone)]
pub struct Relative {
    /// `pk`, `[heads, rows, head_dim]` (content-to-position, `c2p`), if used.
    pub pos_key: Option<Arc<[f32]>>,
    /// `pq`, `[heads, rows, head_dim]` (position-to-content, `p2c`), if used.
    pub pos_query: Option<Arc<[f32]>>,
    /// Rows per head in the tables.
    pub rows: usize,
    /// Table row of offset `δ = i − j` at index `δ + longest − 1`, for
    /// `δ = −(longest−1) … longest−1`.
    pub row_of_offset: Arc<[u32]>,
    /// Longest sequence `row_of_offset` covers.
    pub longest: usize,
}

struct PackedAttention {
    segments: Segments,
    heads: usize,
    first_only: bool,
    variant: Variant,
}

/// A pointer to the output that tasks write through; see the SAFETY note in `cpu_fwd`.
#[derive(Clone, Copy)]
struct Output(*mut f32);
// SAFETY: tasks write disjoint cells (see `cpu_fwd`), and the buffer outlives them.
unsafe impl Send for Output {}
// SAFETY: as for `Send`: no two tasks touch the same cell.
unsafe impl Sync for Output {}

impl CustomOp1 for PackedAttention {
    fn name(&self) -> &'static str {
        "packed-attention"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (total, width) = layout.shape().dims2()?;
        let qkv = contiguous_f32(storage, layout, "packed-attention")?;
        if width % 3 != 0 || (width / 3) % self.heads != 0 {
            candle_core::bail!("packed-attention: width {width} does not split into Q, K, V of {} heads", self.heads)
        }
        if self.segments.iter().any(|&(first, len)| len == 0 || first + len > total) {
            candle_core::bail!("packed-attention: a segment lies outside the {total} rows")
        }
        let hidden = width / 3;
        if let Some(rel) = &self.variant.relative {
            let table = self.heads * rel.rows * (hidden / self.heads);
            let longest = self.segments.iter().map(|&(_, len)| len).max().unwrap_or(0);
            let fits = |t: &Option<Arc<[f32]>>| t.as_ref().is_none_or(|t| t.len() == table);
            if !fits(&rel.pos_key)
                || !fits(&rel.pos_query)
                || longest > rel.longest
                || rel.row_of_offset.len() < 2 * rel.longest - 1
                || rel.row_of_offset.iter().any(|&r| r as usize >= rel.rows)
            {
                candle_core::bail!(
                    "packed-attention: relative tables do not fit {} heads of width {hidden}",
                    self.heads
                )
            }
        }
        let rows = if self.first_only { self.segments.len() } else { total };
        let mut output = vec![0f32; rows * hidden];
        let out = Output(output.as_mut_ptr());
        let tasks = self.segments.len() * self.heads;
        let run = |task: usize| {
            let (index, head) = (task / self.heads, task % self.heads);
            let (first, len) = self.segments[index];
            let out_row = if self.first_only { index } else { first };
            let job =
                Job { qkv, hidden, head_dim: hidden / self.heads, head, first, len, out_row, variant: &self.variant };
            let queries = if self.first_only { 1 } else { len };
            // SAFETY: task (sequence, head) writes only rows `out_row..out_row + queries`
            // of columns `head·d..(head+1)·d`; sequences own disjoint row ranges and heads
            // disjoint column ranges, so no two tasks write the same cell, and `output`
            // lives until every task has returned.
            unsafe { attend(&job, queries, out) };
        };
        // Parallel only when the work (Σ len² · hidden multiply-adds) outweighs a
        // thread hand-off; tiny texts stay on the calling thread.
        let cost = |len: usize| len * if self.first_only { 1 } else { len };
        let work: usize = self.segments.iter().map(|&(_, len)| cost(len)).sum::<usize>() * hidden;
        if tasks > 1 && work >= HANDOFF_WORK {
            let costs: Vec<usize> = (0..tasks).map(|task| cost(self.segments[task / self.heads].1)).collect();
            super::split_by_cost_over_pool(&costs, |range| range.for_each(run));
        } else {
            (0..tasks).for_each(run);
        }
        Ok((CpuStorage::F32(output), Shape::from((rows, hidden))))
    }
}

struct Job<'a> {
    qkv: &'a [f32],
    hidden: usize,
    head_dim: usize,
    head: usize,
    first: usize,
    len: usize,
    out_row: usize,
    variant: &'a Variant,
}

/// Picks the widest vector unit available.
///
/// # Safety
/// As [`attend_generic`]: `out` must hold `(job.out_row + queries) × job.hidden` floats,
/// and no other thread may write rows `job.out_row..job.out_row + queries` of columns
/// `job.head·d..(job.head+1)·d` during the call.
unsafe fn attend(job: &Job, queries: usize, out: Output) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            if avx512::fits(job) {
                // SAFETY: the CPU supports AVX-512F (checked above); the caller upholds
                // the output contract.
                return unsafe { avx512::attend(job, queries, out) };
            }
            // SAFETY: as above.
            return unsafe { attend_avx512(job, queries, out) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA (checked above); the caller upholds
            // the output contract.
            return unsafe { attend_avx2(job, queries, out) };
        }
    }
    // SAFETY: the caller upholds the output contract.
    unsafe { attend_generic(job, queries, out) }
}

/// [`attend_generic`] compiled for AVX-512.
///
/// # Safety
/// The CPU must support AVX-512F, and the contract of [`attend_generic`] holds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn attend_avx512(job: &Job, queries: usize, out: Output) {
    // SAFETY: forwarded from the caller.
    unsafe { attend_generic(job, queries, out) }
}

/// [`attend_generic`] compiled for AVX2 + FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA, and the contract of [`attend_generic`] holds.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn attend_avx2(job: &Job, queries: usize, out: Output) {
    // SAFETY: forwarded from the caller.
    unsafe { attend_generic(job, queries, out) }
}

/// One (sequence, head): for each query, scores over the sequence's keys, softmax, and
/// the probability-weighted sum of its values.
///
/// # Safety
/// `out` must point to at least `(job.out_row + queries) × job.hidden` writable floats,
/// and no other thread may read or write rows `job.out_row..job.out_row + queries` of
/// columns `job.head·d..(job.head+1)·d` while the call runs.
#[inline(always)]
unsafe fn attend_generic(job: &Job, queries: usize, out: Output) {
    let Job { qkv, hidden, head_dim: d, head, first, len, out_row, variant } = *job;
    let width = 3 * hidden;
    let scale = variant.scale.unwrap_or(1.0 / (d as f32).sqrt());
    let column = head * d;
    let radius = variant.window.unwrap_or(usize::MAX);
    let relative = variant.relative.as_ref().map(|rel| {
        let range = head * rel.rows * d..(head + 1) * rel.rows * d;
        (rel.pos_key.as_deref().map(|t| &t[range.clone()]), rel.pos_query.as_deref().map(|t| &t[range]), rel)
    });
    let mut scores = vec![0f32; len];
    for i in 0..queries {
        let q = &qkv[(first + i) * width + column..][..d];
        let keys = i.saturating_sub(radius)..len.min(i.saturating_add(radius).saturating_add(1));
        let scores = &mut scores[..keys.len()];
        let mut max = f32::NEG_INFINITY;
        for (j, score) in keys.clone().zip(scores.iter_mut()) {
            let k = &qkv[(first + j) * width + hidden + column..][..d];
            let mut s = dot(q, k);
            if let Some((pos_key, pos_query, rel)) = &relative {
                let row = rel.row_of_offset[i + rel.longest - 1 - j] as usize;
                if let Some(pk) = pos_key {
                    s += dot(q, &pk[row * d..(row + 1) * d]);
                }
                if let Some(pq) = pos_query {
                    s += dot(k, &pq[row * d..(row + 1) * d]);
                }
            }
            *score = s * scale;
            max = max.max(*score);
        }
        let mut sum = 0f32;
        for score in scores.iter_mut() {
            *score = exp_nonpositive(*score - max);
            sum += *score;
        }
        let inv = 1.0 / sum;
        // SAFETY: the caller guarantees `out` holds this row and that this row/column
        // range belongs to this call alone (see `cpu_fwd`).
        let target = unsafe { std::slice::from_raw_parts_mut(out.0.add((out_row + i) * hidden + column), d) };
        for (j, &p) in keys.zip(scores.iter()) {
            let v = &qkv[(first + j) * width + 2 * hidden + column..][..d];
            let p = p * inv;
            for (t, &x) in target.iter_mut().zip(v) {
                *t += p * x;
            }
        }
    }
}

/// Dot product with 16 independent partial sums, so it vectorizes without reordering
/// a single accumulator.
#[inline(always)]
fn dot(a: &[f32], b: &[f32]) -> f32 {
    let mut acc = [0f32; 16];
    let (ca, cb) = (a.chunks_exact(16), b.chunks_exact(16));
    let (ra, rb) = (ca.remainder(), cb.remainder());
    for (x, y) in ca.zip(cb) {
        for l in 0..16 {
            acc[l] += x[l] * y[l];
        }
    }
    let mut total: f32 = acc.iter().sum();
    for (x, y) in ra.iter().zip(rb) {
        total += x * y;
    }
    total
}

#[cfg(test)]
mod tests;

//! Attention of one (sequence, head) in AVX-512 registers, for heads of 16–128 lanes
//! (`head_dim` a multiple of 16) without DeBERTa's relative terms.
//!
//! The portable form takes one dot product per (query, key) and sums its 16 lanes
//! horizontally, and accumulates each query's output in memory. Here `Kᵀ` of the head
//! is laid out once, `[head_dim, keys padded to 16]`, so a query's scores come 16 keys
//! at a time from `head_dim` FMAs with no horizontal sum; softmax's max, `exp` and sum
//! run 16 lanes wide; and the output row stays in `head_dim / 16` registers until it is
//! stored. Same math as [`super::attend_generic`] (softmax(QKᵀ·scale)·V over the
//! window's keys), summed in another order: within f32 rounding of it (tested).

use std::arch::x86_64::*;

use super::{Job, Output};

/// Whether [`attend`] takes `job`: no relative terms, `head_dim` = 16 · (1…8).
pub(super) fn fits(job: &Job) -> bool {
    job.variant.relative.is_none() && job.head_dim.is_multiple_of(16) && (1..=8).contains(&(job.head_dim / 16))
}

/// Runs `job` (which [`fits`]).
///
/// # Safety
/// The CPU has AVX-512F; the contract of [`super::attend_generic`] holds.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn attend(job: &Job, queries: usize, out: Output) {
    debug_assert!(fits(job));
    // SAFETY: forwarded from the caller; `fits` bounds the register count.
    unsafe {
        match job.head_dim / 16 {
            1 => head::<1>(job, queries, out),
            2 => head::<2>(job, queries, out),
            3 => head::<3>(job, queries, out),
            4 => head::<4>(job, queries, out),
            5 => head::<5>(job, queries, out),
            6 => head::<6>(job, queries, out),
            7 => head::<7>(job, queries, out),
            _ => head::<8>(job, queries, out),
        }
    }
}

/// The bits of keys `keys` among the 16 from `base`.
fn key_mask(base: usize, keys: &std::ops::Range<usize>) -> __mmask16 {
    let lo = keys.start.saturating_sub(base).min(16);
    let hi = keys.end.saturating_sub(base).min(16);
    (((1u32 << hi) - 1) & !((1u32 << lo) - 1)) as __mmask16
}

/// `e^y` for `y ≤ 0`, 16 lanes: [`crate::model::kernels::gelu::exp_nonpositive`]'s
/// range reduction and polynomial.
#[target_feature(enable = "avx512f")]
fn exp_nonpositive(y: __m512) -> __m512 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const ROUND: f32 = 12_582_912.0;
    let y = _mm512_max_ps(y, _mm512_set1_ps(-87.0));
    let round = _mm512_set1_ps(ROUND);
    let n = _mm512_sub_ps(_mm512_add_ps(_mm512_mul_ps(y, _mm512_set1_ps(std::f32::consts::LOG2_E)), round), round);
    let r = _mm512_sub_ps(
        _mm512_sub_ps(y, _mm512_mul_ps(n, _mm512_set1_ps(LN2_HI))),
        _mm512_mul_ps(n, _mm512_set1_ps(LN2_LO)),
    );
    let mut p = _mm512_set1_ps(1.0 / 720.0);
    for c in [1.0 / 120.0, 1.0 / 24.0, 1.0 / 6.0, 0.5, 1.0, 1.0] {
        p = _mm512_fmadd_ps(p, r, _mm512_set1_ps(c));
    }
    let scale =
        _mm512_castsi512_ps(_mm512_slli_epi32::<23>(_mm512_add_epi32(_mm512_cvtps_epi32(n), _mm512_set1_epi32(127))));
    _mm512_mul_ps(p, scale)
}

/// One (sequence, head) with `L` = `head_dim / 16` output registers.
///
/// # Safety
/// As [`attend`], with `job.head_dim == 16 · L`.
#[target_feature(enable = "avx512f")]
unsafe fn head<const L: usize>(job: &Job, queries: usize, out: Output) {
    let Job { qkv, hidden, head_dim: d, head, first, len, out_row, variant } = *job;
    let width = 3 * hidden;
    let scale = _mm512_set1_ps(variant.scale.unwrap_or(1.0 / (d as f32).sqrt()));
    let column = head * d;
    let radius = variant.window.unwrap_or(usize::MAX);
    let padded = len.next_multiple_of(16);
    // Kᵀ, [d, padded]; keys past `len` are zero (and masked out below).
    let mut keys_t = vec![0f32; d * padded];
    for j in 0..len {
        let k = &qkv[(first + j) * width + hidden + column..][..d];
        for (t, &value) in k.iter().enumerate() {
            keys_t[t * padded + j] = value;
        }
    }
    let mut scores = vec![0f32; padded];
    for i in 0..queries {
        let q = &qkv[(first + i) * width + column..][..d];
        let keys = i.saturating_sub(radius)..len.min(i.saturating_add(radius).saturating_add(1));
        let chunks = keys.start / 16..keys.end.div_ceil(16);
        // SAFETY: every load reads 16 floats inside `keys_t` or `scores` (both padded
        // to 16 keys), or `head_dim` floats of a row of `qkv`; the output row is this
        // call's alone (the caller's contract).
        unsafe {
            let mut max = _mm512_set1_ps(f32::NEG_INFINITY);
            for c in chunks.clone() {
                let (mut even, mut odd) = (_mm512_setzero_ps(), _mm512_setzero_ps());
                for t in (0..d).step_by(2) {
                    let row = keys_t.as_ptr().add(t * padded + 16 * c);
                    even = _mm512_fmadd_ps(_mm512_set1_ps(q[t]), _mm512_loadu_ps(row), even);
                    odd = _mm512_fmadd_ps(_mm512_set1_ps(q[t + 1]), _mm512_loadu_ps(row.add(padded)), odd);
                }
                let s = _mm512_mul_ps(_mm512_add_ps(even, odd), scale);
                _mm512_storeu_ps(scores.as_mut_ptr().add(16 * c), s);
                max = _mm512_mask_max_ps(max, key_mask(16 * c, &keys), max, s);
            }
            let max = _mm512_set1_ps(_mm512_reduce_max_ps(max));
            let mut sum = _mm512_setzero_ps();
            for c in chunks {
                let at = scores.as_mut_ptr().add(16 * c);
                let e = _mm512_maskz_mov_ps(
                    key_mask(16 * c, &keys),
                    exp_nonpositive(_mm512_sub_ps(_mm512_loadu_ps(at), max)),
                );
                _mm512_storeu_ps(at, e);
                sum = _mm512_add_ps(sum, e);
            }
            let inv = 1.0 / _mm512_reduce_add_ps(sum);
            let mut acc = [_mm512_setzero_ps(); L];
            for j in keys {
                let p = _mm512_set1_ps(scores[j] * inv);
                let v = qkv.as_ptr().add((first + j) * width + 2 * hidden + column);
                for (l, a) in acc.iter_mut().enumerate() {
                    *a = _mm512_fmadd_ps(p, _mm512_loadu_ps(v.add(16 * l)), *a);
                }
            }
            let target = out.0.add((out_row + i) * hidden + column);
            for (l, a) in acc.iter().enumerate() {
                _mm512_storeu_ps(target.add(16 * l), *a);
            }
        }
    }
}

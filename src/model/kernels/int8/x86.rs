//! The x86-64 int8 kernels: AVX-512 VNNI (`vpdpbusd`) and AVX2 (`vpmaddwd`), chosen
//! at run time by the parent module.

use std::arch::x86_64::*;
use std::ops::Range;

use super::{QuantizedWeight, BLOCK, GROUP, ROWS};

/// Groups (64-byte lines) ahead of the loads that the tiles prefetch (as the packed
/// f32 kernel does; measured on a Zen 3 for AVX2, on a Zen 5 for AVX-512).
const PREFETCH: usize = 16;

/// AVX-512 VNNI tile: blocks of 16 channels two at a time (the last alone when their
/// count is odd), per group of 4 steps one 64-byte weight load per block, one
/// broadcast of 4 activation bytes per row and one `vpdpbusd` per row and block:
/// `2 · tile` accumulators, in registers (the row count is a compile-time constant of
/// each variant, so no per-row branch sits in the loop).
///
/// # Safety
/// The CPU must have AVX-512 F, BW and VNNI; `x` holds `tile ≤ ROWS` rows of
/// `k_padded` bytes and `acc` at least `tile` rows of the padded output width.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
pub(super) unsafe fn tile_avx512(
    x: &[u8],
    tile: usize,
    k_padded: usize,
    weight: &QuantizedWeight,
    blocks: Range<usize>,
    acc: &mut [i32],
) {
    let width = blocks.len() * BLOCK;
    debug_assert!(tile <= ROWS && x.len() >= tile * k_padded && acc.len() >= tile * width);
    let mut b = 0;
    while b < blocks.len() {
        let two = b + 1 < blocks.len();
        let at = Panels { x, k_padded, weight, block: blocks.start + b, acc_column: b * BLOCK, width };
        // SAFETY: the caller's contract; `at` names blocks inside the weight and
        // columns inside `acc`'s rows.
        unsafe {
            match (tile, two) {
                (1, true) => rows::<1, 2>(&at, acc),
                (2, true) => rows::<2, 2>(&at, acc),
                (3, true) => rows::<3, 2>(&at, acc),
                (4, true) => rows::<4, 2>(&at, acc),
                (5, true) => rows::<5, 2>(&at, acc),
                (_, true) => rows::<6, 2>(&at, acc),
                (1, false) => rows::<1, 1>(&at, acc),
                (2, false) => rows::<2, 1>(&at, acc),
                (3, false) => rows::<3, 1>(&at, acc),
                (4, false) => rows::<4, 1>(&at, acc),
                (5, false) => rows::<5, 1>(&at, acc),
                (_, false) => rows::<6, 1>(&at, acc),
            }
        }
        b += if two { 2 } else { 1 };
    }
}

/// Where one call of [`rows`] reads and writes.
struct Panels<'a> {
    /// The tile's rows, `[tile, k_padded]` u8.
    x: &'a [u8],
    k_padded: usize,
    weight: &'a QuantizedWeight,
    /// The first block of the call.
    block: usize,
    /// Its first column in `acc`'s rows.
    acc_column: usize,
    /// `acc`'s row width.
    width: usize,
}

/// `R` rows × `P` consecutive blocks, sums in `R · P` registers, added to `acc`.
///
/// # Safety
/// As [`tile_avx512`], with `R` rows in `at.x` and blocks `at.block..at.block + P`
/// inside the weight and the call's block range.
#[target_feature(enable = "avx512f,avx512bw,avx512vnni")]
#[inline]
unsafe fn rows<const R: usize, const P: usize>(at: &Panels, acc: &mut [i32]) {
    let k_padded = at.k_padded;
    let groups = k_padded / GROUP;
    let panel_len = groups * BLOCK * GROUP;
    // SAFETY: every offset below stays inside `x` (R rows of k_padded), the P panels
    // of `panel_len` bytes, or `acc` (R rows of `width`).
    unsafe {
        let xp = at.x.as_ptr();
        let panels: [*const i8; P] = std::array::from_fn(|j| at.weight.packed.as_ptr().add((at.block + j) * panel_len));
        let mut sums = [[_mm512_setzero_si512(); P]; R];
        for g in 0..groups {
            let mut w = [_mm512_setzero_si512(); P];
            for (j, w) in w.iter_mut().enumerate() {
                let line = panels[j].add(g * BLOCK * GROUP);
                _mm_prefetch::<_MM_HINT_T0>(line.wrapping_add(PREFETCH * BLOCK * GROUP));
                *w = _mm512_loadu_si512(line as *const _);
            }
            for (t, row) in sums.iter_mut().enumerate() {
                let a = _mm512_set1_epi32((xp.add(t * k_padded + g * GROUP) as *const i32).read_unaligned());
                for (sum, w) in row.iter_mut().zip(&w) {
                    *sum = _mm512_dpbusd_epi32(*sum, a, *w);
                }
            }
        }
        for (t, row) in sums.iter().enumerate() {
            for (j, sum) in row.iter().enumerate() {
                let dst = acc.as_mut_ptr().add(t * at.width + at.acc_column + j * BLOCK);
                _mm512_storeu_si512(dst as *mut _, _mm512_add_epi32(_mm512_loadu_si512(dst as *const _), *sum));
            }
        }
    }
}

/// AVX2 tile: 8 channels per half block; bytes widened to i16 and multiplied with
/// `vpmaddwd` (pairs summed into i32 without saturation).
///
/// # Safety
/// The CPU must have AVX2; shapes as for [`tile_avx512`].
#[target_feature(enable = "avx2")]
pub(super) unsafe fn tile_avx2(
    x: &[u8],
    tile: usize,
    k_padded: usize,
    weight: &QuantizedWeight,
    blocks: Range<usize>,
    acc: &mut [i32],
) {
    let width = blocks.len() * BLOCK;
    let groups = k_padded / GROUP;
    debug_assert!(tile <= ROWS && x.len() >= tile * k_padded && acc.len() >= tile * width);
    // SAFETY: the caller guarantees the CPU features and the slice lengths; every
    // pointer offset below stays inside `x`, this block's weight panel or `acc`.
    unsafe {
        let xp = x.as_ptr();
        for (b, block) in blocks.enumerate() {
            let panel = weight.packed.as_ptr().add(block * groups * BLOCK * GROUP);
            // Four accumulators per row: lanes 0–3, 4–7, 8–11, 12–15 as i32 × 8 holding
            // pair sums; each group's 64 weight bytes are 4 × 16 bytes (4 channels × 4 steps).
            let mut sums = [[_mm256_setzero_si256(); 4]; ROWS];
            for g in 0..groups {
                let base = panel.add(g * BLOCK * GROUP);
                _mm_prefetch::<_MM_HINT_T0>(base.wrapping_add(PREFETCH * BLOCK * GROUP).cast::<i8>());
                let mut w16 = [_mm256_setzero_si256(); 4];
                for (q, w) in w16.iter_mut().enumerate() {
                    // SAFETY: 16 bytes at `base + 16q` are inside this group's 64 bytes.
                    *w = _mm256_cvtepi8_epi16(_mm_loadu_si128(base.add(16 * q) as *const __m128i));
                }
                for (t, row_sums) in sums.iter_mut().enumerate().take(tile) {
                    let four = (xp.add(t * k_padded + g * GROUP) as *const i32).read_unaligned();
                    // The 4 activation bytes widened to i16, repeated for 4 channels.
                    let a = _mm256_cvtepu8_epi16(_mm_set1_epi32(four));
                    for (q, sum) in row_sums.iter_mut().enumerate() {
                        *sum = _mm256_add_epi32(*sum, _mm256_madd_epi16(a, w16[q]));
                    }
                }
            }
            for (t, row_sums) in sums.iter().enumerate().take(tile) {
                let dst = acc.as_mut_ptr().add(t * width + b * BLOCK);
                for (q, sum) in row_sums.iter().enumerate() {
                    // `sum` holds 8 pair sums: channel (4q + j) is pairs 2j and 2j+1.
                    let hadd = _mm256_hadd_epi32(*sum, *sum);
                    let lanes: [i32; 8] = std::mem::transmute(hadd);
                    // hadd within 128-bit halves: [p0+p1, p2+p3, p0+p1, p2+p3 | p4+p5, p6+p7, ..]
                    let channel = [lanes[0], lanes[1], lanes[4], lanes[5]];
                    for (j, v) in channel.iter().enumerate() {
                        *dst.add(4 * q + j) += v;
                    }
                }
            }
        }
    }
}

/// `(min(row, 0), max(row, 0))` with NaNs ignored, as [`super::min_max`]: 16 lanes
/// at a time (the tail loaded under a mask as zeros, which cannot move either bound).
///
/// # Safety
/// The CPU must have AVX-512F.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn min_max_avx512(row: &[f32]) -> (f32, f32) {
    let (mut lo, mut hi) = (_mm512_setzero_ps(), _mm512_setzero_ps());
    let mut chunks = row.chunks_exact(16);
    // SAFETY: each load reads 16 floats of a 16-float chunk, or the tail's floats
    // under a mask that covers only them.
    unsafe {
        for chunk in chunks.by_ref() {
            let v = _mm512_loadu_ps(chunk.as_ptr());
            // `vminps`/`vmaxps` return the second operand when either is NaN, so a
            // NaN in `v` keeps the running bound, as `f32::min`/`max` do.
            lo = _mm512_min_ps(v, lo);
            hi = _mm512_max_ps(v, hi);
        }
        let tail = chunks.remainder();
        if !tail.is_empty() {
            let v = _mm512_maskz_loadu_ps((1u16 << tail.len()) - 1, tail.as_ptr());
            lo = _mm512_min_ps(v, lo);
            hi = _mm512_max_ps(v, hi);
        }
        (_mm512_reduce_min_ps(lo), _mm512_reduce_max_ps(hi))
    }
}

/// [`super::quantize_row`] 16 lanes at a time: the same multiply, add, clamp and
/// round-by-magic-number, each a separate rounding as in the scalar form, so the
/// bytes are identical.
///
/// # Safety
/// The CPU must have AVX-512F; `out.len() ≥ row.len()`.
#[target_feature(enable = "avx512f")]
pub(super) unsafe fn quantize_avx512(row: &[f32], inverse: f32, zero_point: f32, out: &mut [u8]) {
    debug_assert!(out.len() >= row.len());
    const MAGIC: f32 = 12_582_912.0;
    let (inv, zp) = (_mm512_set1_ps(inverse), _mm512_set1_ps(zero_point));
    let (zero, top, magic) = (_mm512_setzero_ps(), _mm512_set1_ps(255.0), _mm512_set1_ps(MAGIC));
    let convert = |v: __m512| -> __m128i {
        // `max(NaN, 0)` is 0 with `vmaxps`'s second operand, as with `f32::max`.
        let v = _mm512_max_ps(_mm512_add_ps(_mm512_mul_ps(v, inv), zp), zero);
        let v = _mm512_min_ps(_mm512_sub_ps(_mm512_add_ps(v, magic), magic), top);
        _mm512_cvtepi32_epi8(_mm512_cvtps_epi32(v))
    };
    let full = row.len() / 16 * 16;
    // SAFETY: loads read 16 floats inside `row`, stores write 16 bytes inside `out`
    // (as long as `row`); the tail goes through a local buffer.
    unsafe {
        for i in (0..full).step_by(16) {
            let bytes = convert(_mm512_loadu_ps(row.as_ptr().add(i)));
            _mm_storeu_si128(out.as_mut_ptr().add(i).cast(), bytes);
        }
        let tail = row.len() - full;
        if tail > 0 {
            let v = _mm512_maskz_loadu_ps((1u16 << tail) - 1, row.as_ptr().add(full));
            let mut bytes = [0u8; 16];
            _mm_storeu_si128(bytes.as_mut_ptr().cast(), convert(v));
            out[full..row.len()].copy_from_slice(&bytes[..tail]);
        }
    }
}

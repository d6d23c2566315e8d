//! `y = x·Wᵀ + b` with bf16 weights: weights are stored in bf16 (half the bytes of
//! f32), activations are rounded to bf16 per call, products of pairs accumulate in f32
//! with AVX-512 BF16's `vdpbf16ps` where the CPU has it. Elsewhere the caller converts
//! the bf16 weights to f32 once and runs the f32 kernel (`super::linear`), which gives
//! the same weights with f32 activations.
//!
//! bf16 (Kalamkar et al. 2019, "A Study of BFLOAT16 for Deep Learning Training") keeps
//! f32's exponent and 8 bits of mantissa; rounding is to nearest, ties to even.

use std::sync::OnceLock;

use super::tiling::{store_row, Chunking};
use super::{for_block_ranges, Epilogue, SharedOut};

/// Output channels per packed block (one AVX-512 register of f32).
const BLOCK: usize = 16;
/// Reduction steps per packed pair (`vdpbf16ps` sums 2 products per lane).
const PAIR: usize = 2;
/// Activation rows per micro-kernel tile.
const ROWS: usize = 6;
/// Channel blocks all row tiles of a chunk read before the next: `64 · k` bf16 values
/// (96 KiB at k = 768, 384 KiB at k = 3072), in L2 after the first tile.
const BLOCK_CHUNK: usize = 4;
/// Activation rows per chunk (8 tiles).
const ROW_CHUNK: usize = 8 * ROWS;
/// The traversal of a thread's share (see [`Chunking::for_each_tile`]).
const CHUNKING: Chunking = Chunking { tile_rows: ROWS, block: BLOCK, block_chunk: BLOCK_CHUNK, row_chunk: ROW_CHUNK };

/// Whether this CPU has AVX-512 BF16 (detected once).
pub fn native() -> bool {
    static NATIVE: OnceLock<bool> = OnceLock::new();
    *NATIVE.get_or_init(|| {
        #[cfg(target_arch = "x86_64")]
        {
            std::arch::is_x86_feature_detected!("avx512f") && std::arch::is_x86_feature_detected!("avx512bf16")
        }
        #[cfg(not(target_arch = "x86_64"))]
        {
            false
        }
    })
}

/// Rounds an f32 to bf16 bits (nearest, ties to even; NaN stays NaN).
pub fn to_bf16(v: f32) -> u16 {
    half::bf16::from_f32(v).to_bits()
}

/// The f32 value of bf16 bits.
pub fn from_bf16(bits: u16) -> f32 {
    f32::from_bits(u32::from(bits) << 16)
}

/// A weight matrix in bf16, packed for `vdpbf16ps`.
///
/// Layout: `[n_blocks][k_pairs][BLOCK][PAIR]` bf16: for each block of 16 output
/// channels and each pair of reduction steps, 64 contiguous bytes (one AVX-512 load).
/// Channels and steps past `n`/`k` are zero.
#[derive(Debug, Clone)]
pub struct Bf16Weight {
    k: usize,
    n: usize,
    k_padded: usize,
    packed: Vec<u16>,
}

impl Bf16Weight {
    /// Rounds `weight_t` (`[k, n]` row-major, `Wᵀ`) to bf16 and packs it.
    pub fn pack(weight_t: &[f32], k: usize, n: usize) -> Self {
        assert_eq!(weight_t.len(), k * n, "weight is [k, n]");
        let k_padded = k.next_multiple_of(PAIR);
        let n_blocks = n.div_ceil(BLOCK);
        let mut packed = vec![0u16; n_blocks * k_padded * BLOCK];
        for kk in 0..k {
            for c in 0..n {
                let (block, lane) = (c / BLOCK, c % BLOCK);
                let at = ((block * (k_padded / PAIR) + kk / PAIR) * BLOCK + lane) * PAIR + kk % PAIR;
                packed[at] = to_bf16(weight_t[kk * n + c]);
            }
        }
        Self { k, n, k_padded, packed }
    }

    /// The weight as f32 `[k, n]` (exactly the bf16 values), for the f32 fallback.
    pub fn to_f32(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.k * self.n];
        for kk in 0..self.k {
            for c in 0..self.n {
                let (block, lane) = (c / BLOCK, c % BLOCK);
                let at = ((block * (self.k_padded / PAIR) + kk / PAIR) * BLOCK + lane) * PAIR + kk % PAIR;
                out[kk * self.n + c] = from_bf16(self.packed[at]);
            }
        }
        out
    }

    /// Input features.
    pub fn in_features(&self) -> usize {
        self.k
    }

    /// Output channels.
    pub fn out_features(&self) -> usize {
        self.n
    }

    /// Bytes held.
    pub fn bytes(&self) -> usize {
        2 * self.packed.len()
    }

    fn n_blocks(&self) -> usize {
        self.n.div_ceil(BLOCK)
    }
}

/// Rounds `x` (`[m, k]`) to bf16 rows of `k_padded` (padding zero).
fn round_rows(x: &[f32], m: usize, k: usize, k_padded: usize) -> Vec<u16> {
    let mut out = vec![0u16; m * k_padded];
    for (row, dst) in x.chunks_exact(k).zip(out.chunks_exact_mut(k_padded)) {
        for (d, &v) in dst.iter_mut().zip(row) {
            *d = to_bf16(v);
        }
    }
    out
}

/// `x` `[m, k]` f32 → `[m, n]` f32 with bf16 products on the AVX-512 BF16 path, or on
/// the portable reference where the CPU lacks it (the model layer uses the f32 kernel
/// there instead; this keeps the function total).
///
/// Panics if `x.len() != m · k` or `bias.len() != n`.
pub fn linear(x: &[f32], m: usize, weight: &Bf16Weight, bias: &[f32]) -> Vec<f32> {
    linear_on(native(), x, m, weight, bias, Epilogue::None)
}

/// [`linear`] followed by `epilogue`, applied by each thread to its columns of each
/// row right after they are summed.
///
/// Panics as [`linear`].
pub fn linear_with(x: &[f32], m: usize, weight: &Bf16Weight, bias: &[f32], epilogue: Epilogue) -> Vec<f32> {
    linear_on(native(), x, m, weight, bias, epilogue)
}

/// [`linear_with`] with the path chosen: `native` needs [`native()`].
pub fn linear_on(
    native_path: bool,
    x: &[f32],
    m: usize,
    weight: &Bf16Weight,
    bias: &[f32],
    epilogue: Epilogue,
) -> Vec<f32> {
    let (k, n) = (weight.k, weight.n);
    assert_eq!(x.len(), m * k, "x is [m, k]");
    assert_eq!(bias.len(), n, "bias is [n]");
    assert!(!native_path || native(), "AVX-512 BF16 is not available on this CPU");
    let rows = round_rows(x, m, k, weight.k_padded);
    let mut out = Vec::with_capacity(m * n);
    let dst = SharedOut(out.as_mut_ptr());
    for_block_ranges(weight.n_blocks(), m * n * k, |blocks| {
        // SAFETY: the ranges are disjoint channel blocks, hence disjoint columns of
        // `out`, which outlives every part.
        unsafe { product(native_path, &rows, m, weight, bias, blocks, dst, epilogue) };
    });
    // SAFETY: the parts cover every channel block, and each wrote every row of its
    // columns, so all m·n values are initialized.
    unsafe { out.set_len(m * n) };
    out
}

/// Computes the columns of `blocks` for all `m` rows into `out`, then `epilogue` on
/// each row's columns: chunks of [`ROW_CHUNK`] rows, in each [`BLOCK_CHUNK`] blocks at
/// a time for all the chunk's row tiles (as the int8 product; each weight byte read
/// from memory once per row chunk).
///
/// # Safety
/// `out` points to `m · n` floats (initialized or not: each cell of the columns of
/// `blocks` is written before it is read); no one else writes those columns; `native`
/// only if the CPU has AVX-512 BF16.
#[allow(clippy::too_many_arguments)]
unsafe fn product(
    native_path: bool,
    rows: &[u16],
    m: usize,
    weight: &Bf16Weight,
    bias: &[f32],
    blocks: std::ops::Range<usize>,
    out: SharedOut,
    epilogue: Epilogue,
) {
    let n = weight.n;
    let mut acc = vec![0f32; ROWS * BLOCK_CHUNK * BLOCK];
    CHUNKING.for_each_tile(m, n, blocks, |tile| {
        let width = tile.blocks.len() * BLOCK;
        let x = &rows[tile.row * weight.k_padded..(tile.row + tile.rows) * weight.k_padded];
        acc[..tile.rows * width].fill(0.0);
        #[cfg(target_arch = "x86_64")]
        if native_path {
            // SAFETY: the caller checked AVX-512 BF16; the slices fit as required.
            unsafe { x86::tile_avx512bf16(x, tile.rows, weight, tile.blocks.clone(), &mut acc) };
        } else {
            tile_portable(x, tile.rows, weight, tile.blocks.clone(), &mut acc);
        }
        #[cfg(not(target_arch = "x86_64"))]
        tile_portable(x, tile.rows, weight, tile.blocks.clone(), &mut acc);
        for t in 0..tile.rows {
            let sums = &acc[t * width..(t + 1) * width];
            // SAFETY: row + t < m, the columns lie inside n, and the caller gives us
            // these columns exclusively.
            unsafe { store_row(out, n, tile.row + t, tile.columns.clone(), epilogue, |j, c| sums[j] + bias[c]) };
        }
    });
}

/// Scalar reference: `acc[t, j] += Σ_pairs (x₀·w₀ + x₁·w₁)` in f32, pair by pair, the
/// order `vdpbf16ps` uses per lane.
fn tile_portable(x: &[u16], tile: usize, weight: &Bf16Weight, blocks: std::ops::Range<usize>, acc: &mut [f32]) {
    let width = blocks.len() * BLOCK;
    let pairs = weight.k_padded / PAIR;
    for (b, block) in blocks.enumerate() {
        let panel = &weight.packed[block * pairs * BLOCK * PAIR..(block + 1) * pairs * BLOCK * PAIR];
        for t in 0..tile {
            let row = &x[t * weight.k_padded..(t + 1) * weight.k_padded];
            let out = &mut acc[t * width + b * BLOCK..t * width + (b + 1) * BLOCK];
            for p in 0..pairs {
                let (x0, x1) = (from_bf16(row[p * PAIR]), from_bf16(row[p * PAIR + 1]));
                let ws = &panel[p * BLOCK * PAIR..(p + 1) * BLOCK * PAIR];
                for (lane, o) in out.iter_mut().enumerate() {
                    let (w0, w1) = (from_bf16(ws[lane * PAIR]), from_bf16(ws[lane * PAIR + 1]));
                    *o += x0 * w0 + x1 * w1;
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;
    use std::ops::Range;

    use super::{Bf16Weight, BLOCK, PAIR, ROWS};

    /// AVX-512 BF16 tile: blocks two at a time (the last alone when their count is
    /// odd), per pair of steps one 64-byte weight load per block, one broadcast of the
    /// row's pair and one `vdpbf16ps` per row and block: `2 · tile` independent sums in
    /// flight, in registers (the row count is a compile-time constant of each variant).
    ///
    /// # Safety
    /// The CPU must have AVX-512 F and BF16; `x` holds `tile ≤ ROWS` rows of
    /// `k_padded` bf16 and `acc` at least `tile` rows of the blocks' width.
    #[target_feature(enable = "avx512f,avx512bf16")]
    pub(super) unsafe fn tile_avx512bf16(
        x: &[u16],
        tile: usize,
        weight: &Bf16Weight,
        blocks: Range<usize>,
        acc: &mut [f32],
    ) {
        let width = blocks.len() * BLOCK;
        debug_assert!(tile <= ROWS && x.len() >= tile * weight.k_padded && acc.len() >= tile * width);
        let mut b = 0;
        while b < blocks.len() {
            let two = b + 1 < blocks.len();
            let at = Panels { x, weight, block: blocks.start + b, acc_column: b * BLOCK, width };
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
        /// The tile's rows, `[tile, k_padded]` bf16.
        x: &'a [u16],
        weight: &'a Bf16Weight,
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
    /// As [`tile_avx512bf16`], with `R` rows in `at.x` and blocks `at.block..at.block
    /// + P` inside the weight and the call's block range.
    #[target_feature(enable = "avx512f,avx512bf16")]
    #[inline]
    unsafe fn rows<const R: usize, const P: usize>(at: &Panels, acc: &mut [f32]) {
        let k_padded = at.weight.k_padded;
        let pairs = k_padded / PAIR;
        // SAFETY: every offset below stays inside `x` (R rows of k_padded), the P
        // panels of `pairs · BLOCK · PAIR` bf16, or `acc` (R rows of `width`).
        unsafe {
            let xp = at.x.as_ptr();
            let panel = |j: usize| at.weight.packed.as_ptr().add((at.block + j) * pairs * BLOCK * PAIR);
            let panels: [*const u16; P] = std::array::from_fn(panel);
            let mut sums = [[_mm512_setzero_ps(); P]; R];
            for p in 0..pairs {
                let mut w = [std::mem::transmute::<__m512i, __m512bh>(_mm512_setzero_si512()); P];
                for (j, w) in w.iter_mut().enumerate() {
                    *w = std::mem::transmute::<__m512i, __m512bh>(_mm512_loadu_si512(
                        panels[j].add(p * BLOCK * PAIR) as *const _
                    ));
                }
                for (t, row) in sums.iter_mut().enumerate() {
                    let pair = (xp.add(t * k_padded + p * PAIR) as *const i32).read_unaligned();
                    let a: __m512bh = std::mem::transmute(_mm512_set1_epi32(pair));
                    for (sum, w) in row.iter_mut().zip(&w) {
                        *sum = _mm512_dpbf16_ps(*sum, a, *w);
                    }
                }
            }
            for (t, row) in sums.iter().enumerate() {
                for (j, sum) in row.iter().enumerate() {
                    let dst = acc.as_mut_ptr().add(t * at.width + at.acc_column + j * BLOCK);
                    _mm512_storeu_ps(dst, _mm512_add_ps(_mm512_loadu_ps(dst), *sum));
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;

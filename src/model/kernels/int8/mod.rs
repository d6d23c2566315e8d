//! Dynamic int8 quantization of `y = x·Wᵀ + b`, as ONNX Runtime's
//! `quantize_dynamic`/`MatMulInteger` and PyTorch's `quantize_dynamic` do it:
//!
//! - weights are quantized once, at load, to int8 with one scale per output channel
//!   (symmetric: `w ≈ scale_w[n] · w_q`, `w_q ∈ [-127, 127]`, zero point 0);
//! - each activation row is quantized at run time to `u8`, asymmetric per row (as ORT's
//!   `DynamicQuantizeLinear`, per row instead of per tensor): `x ≈ scale_x[m]·(x_u −
//!   zp[m])` over `[min(x, 0), max(x, 0)]`, so post-GELU rows use all 256 levels;
//!   `vpdpbusd` multiplies unsigned by signed bytes;
//! - products accumulate in int32, exactly: `Σ x_u·w_q − zp·Σ w_q = Σ (x_u − zp)·w_q`;
//! - the epilogue dequantizes and adds the bias in f32:
//!   `y = scale_x[m] · scale_w[n] · acc + b[n]`.
//!
//! The int32 accumulation runs on the widest unit the CPU has, chosen at run time:
//! AVX-512 VNNI (`vpdpbusd`, 64 byte products per instruction), AVX2 (bytes widened to
//! i16, `vpmaddwd`, exact: no `vpmaddubsw` saturation), or portable Rust. All produce
//! the same integers, so outputs are bit-identical across paths (tested against the
//! scalar reference).

use std::sync::OnceLock;

use super::tiling::{store_row, Chunking};
use super::{for_block_ranges, Epilogue, SharedOut};

/// Output channels per packed block (one AVX-512 register of i32).
const BLOCK: usize = 16;
/// Reduction steps per packed group (`vpdpbusd` sums 4 byte products per lane).
const GROUP: usize = 4;
/// Activation rows per micro-kernel tile.
const ROWS: usize = 6;
/// Channel blocks whose packed weights every row tile of a chunk reads before the next
/// blocks start: 64 channels, `64 · k` bytes (48 KiB at k = 768, 192 KiB at k = 3072),
/// read from memory once and from L1/L2 by the chunk's other row tiles. Row tile by
/// row tile over a thread's whole share instead re-streamed it per tile: over 1 MiB
/// per thread for a feed-forward product of distilbert-base, past a Zen 5's L2.
const BLOCK_CHUNK: usize = 4;
/// Activation rows per chunk (8 tiles): their quantized bytes (up to 144 KiB at
/// k = 3072) stay in L2 while the chunk's weight blocks go by.
const ROW_CHUNK: usize = 8 * ROWS;
/// The traversal of a thread's share (see [`Chunking::for_each_tile`]).
const CHUNKING: Chunking = Chunking { tile_rows: ROWS, block: BLOCK, block_chunk: BLOCK_CHUNK, row_chunk: ROW_CHUNK };

/// The instruction set an int8 product runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Int8Isa {
    /// AVX-512 F/BW + VNNI (`vpdpbusd`).
    Avx512Vnni,
    /// AVX2 (`vpmaddwd` on bytes widened to i16).
    Avx2,
    /// Plain Rust (any CPU).
    Portable,
}

impl Int8Isa {
    /// The widest path this CPU runs (detected once).
    pub fn detect() -> Self {
        static ISA: OnceLock<Int8Isa> = OnceLock::new();
        *ISA.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            {
                if std::arch::is_x86_feature_detected!("avx512f")
                    && std::arch::is_x86_feature_detected!("avx512bw")
                    && std::arch::is_x86_feature_detected!("avx512vnni")
                {
                    return Int8Isa::Avx512Vnni;
                }
                if std::arch::is_x86_feature_detected!("avx2") {
                    return Int8Isa::Avx2;
                }
            }
            Int8Isa::Portable
        })
    }

    /// The path's name, as `GET /models` and `make bench` report it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512Vnni => "int8-avx512vnni",
            Self::Avx2 => "int8-avx2",
            Self::Portable => "int8-portable",
        }
    }

    /// Whether this CPU can run `self`.
    pub fn available(self) -> bool {
        match self {
            Self::Portable => true,
            Self::Avx2 => Self::detect() != Self::Portable,
            Self::Avx512Vnni => Self::detect() == Self::Avx512Vnni,
        }
    }
}

/// A weight matrix quantized per output channel and packed for the kernels.
///
/// Layout of `packed`: `[n_blocks][k_groups][BLOCK][GROUP]` int8, i.e. for each block
/// of 16 output channels and each group of 4 reduction steps, 64 contiguous bytes (one
/// AVX-512 load). Channels and steps past `n`/`k` are zero.
#[derive(Debug, Clone)]
pub struct QuantizedWeight {
    /// Reduction size (input features).
    k: usize,
    /// Output channels.
    n: usize,
    /// `k` rounded up to [`GROUP`].
    k_padded: usize,
    packed: Vec<i8>,
    /// `scale_w`, `[n]`.
    scales: Vec<f32>,
    /// `Σ_k w_q[n, k]`, `[n]`: times a row's zero point, its correction.
    column_sums: Vec<i32>,
}

impl QuantizedWeight {
    /// Quantizes `weight_t` (`[k, n]` row-major, i.e. `Wᵀ` as [`crate::model::layers::Linear`]
    /// keeps it) per output channel: `scale_w[n] = max_k |w[k, n]| / 127`.
    pub fn quantize(weight_t: &[f32], k: usize, n: usize) -> Self {
        assert_eq!(weight_t.len(), k * n, "weight is [k, n]");
        let k_padded = k.next_multiple_of(GROUP);
        let n_blocks = n.div_ceil(BLOCK);
        let mut scales = vec![0f32; n];
        for row in weight_t.chunks_exact(n) {
            for (s, &w) in scales.iter_mut().zip(row) {
                *s = s.max(w.abs());
            }
        }
        for s in &mut scales {
            *s = if *s > 0.0 { *s / 127.0 } else { 1.0 };
        }
        let mut packed = vec![0i8; n_blocks * k_padded * BLOCK];
        let mut column_sums = vec![0i32; n];
        for kk in 0..k {
            for c in 0..n {
                let q = (weight_t[kk * n + c] / scales[c]).round().clamp(-127.0, 127.0) as i8;
                let (block, lane) = (c / BLOCK, c % BLOCK);
                let at = ((block * (k_padded / GROUP) + kk / GROUP) * BLOCK + lane) * GROUP + kk % GROUP;
                packed[at] = q;
                column_sums[c] += i32::from(q);
            }
        }
        Self { k, n, k_padded, packed, scales, column_sums }
    }

    /// Output channels.
    pub fn out_features(&self) -> usize {
        self.n
    }

    /// Input features.
    pub fn in_features(&self) -> usize {
        self.k
    }

    /// Bytes held (packed weights, scales, corrections).
    pub fn bytes(&self) -> usize {
        self.packed.len() + 4 * (self.scales.len() + self.column_sums.len())
    }

    /// The dequantized weight `[k, n]` (for tests and the reference path).
    pub fn dequantize(&self) -> Vec<f32> {
        let mut out = vec![0f32; self.k * self.n];
        for kk in 0..self.k {
            for c in 0..self.n {
                out[kk * self.n + c] = f32::from(self.weight(kk, c)) * self.scales[c];
            }
        }
        out
    }

    fn weight(&self, kk: usize, c: usize) -> i8 {
        let (block, lane) = (c / BLOCK, c % BLOCK);
        self.packed[((block * (self.k_padded / GROUP) + kk / GROUP) * BLOCK + lane) * GROUP + kk % GROUP]
    }

    fn n_blocks(&self) -> usize {
        self.n.div_ceil(BLOCK)
    }
}

/// Activation rows quantized per row: `x_u8` `[m, k_padded]` (padding steps meet
/// zero weights), `scale_x` `[m]` and zero points `[m]`.
pub struct QuantizedRows {
    data: Vec<u8>,
    scales: Vec<f32>,
    zero_points: Vec<i32>,
    k_padded: usize,
}

/// Rounds `v ∈ [0, 2²²)` to the nearest integer, ties to even, without a libm call
/// (adding and subtracting 1.5·2²³ leaves the rounded value; vectorizes on SSE2).
#[inline(always)]
fn round_small(v: f32) -> f32 {
    const MAGIC: f32 = 12_582_912.0;
    (v + MAGIC) - MAGIC
}

/// Quantizes `x` (`[m, k]` row-major) per row, asymmetric over `[min(x, 0), max(x, 0)]`:
/// `scale = (max − min) / 255`, `zp = round(−min / scale)`, `x_u = clamp(round(x /
/// scale) + zp, 0, 255)`. An all-zero row gets scale 1 and zero point 0. On AVX-512
/// CPUs 16 values at a time, with the same operations in the same order (bit-identical
/// to the scalar form; at batch 1 the scalar loop was ~11% of a MiniLM int8 forward on
/// a Zen 5, on the calling thread while the worker waited).
pub fn quantize_rows(x: &[f32], m: usize, k: usize) -> QuantizedRows {
    quantize_rows_on(Int8Isa::detect() == Int8Isa::Avx512Vnni, x, m, k)
}

/// [`quantize_rows`] on AVX-512F (`vector`, which the CPU must have) or in scalar code.
fn quantize_rows_on(vector: bool, x: &[f32], m: usize, k: usize) -> QuantizedRows {
    let k_padded = k.next_multiple_of(GROUP);
    let mut data = vec![0u8; m * k_padded];
    let mut scales = vec![1f32; m];
    let mut zero_points = vec![0i32; m];
    for (r, (row, out)) in x.chunks_exact(k).zip(data.chunks_exact_mut(k_padded)).enumerate().take(m) {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `vector` only where the CPU has AVX-512F (the caller's contract).
        let (min, max) = if vector { unsafe { x86::min_max_avx512(row) } } else { min_max(row) };
        #[cfg(not(target_arch = "x86_64"))]
        let (min, max) = min_max(row);
        if max - min <= 0.0 {
            continue;
        }
        let scale = (max - min) / 255.0;
        let inverse = 1.0 / scale;
        let zero_point = round_small(-min * inverse).clamp(0.0, 255.0);
        #[cfg(target_arch = "x86_64")]
        if vector {
            // SAFETY: as above; `out` is at least as long as `row`.
            unsafe { x86::quantize_avx512(row, inverse, zero_point, out) };
        } else {
            quantize_row(row, inverse, zero_point, out);
        }
        #[cfg(not(target_arch = "x86_64"))]
        quantize_row(row, inverse, zero_point, out);
        scales[r] = scale;
        zero_points[r] = zero_point as i32;
    }
    QuantizedRows { data, scales, zero_points, k_padded }
}

/// `(min(row, 0), max(row, 0))`, NaNs ignored.
fn min_max(row: &[f32]) -> (f32, f32) {
    row.iter().fold((0f32, 0f32), |(lo, hi), &v| (lo.min(v), hi.max(v)))
}

/// `out[i] = min(round(max(row[i] · inverse + zero_point, 0)), 255)` as u8 (a NaN
/// gives 0); the reference of [`x86::quantize_avx512`].
fn quantize_row(row: &[f32], inverse: f32, zero_point: f32, out: &mut [u8]) {
    for (o, &v) in out.iter_mut().zip(row) {
        *o = round_small((v * inverse + zero_point).max(0.0)).min(255.0) as u8;
    }
}

/// `y = dequant(x_q · w_qᵀ) + b`: `x` `[m, k]` f32 → `[m, n]` f32 (threads chosen by the
/// amount of work).
///
/// Panics if `x.len() != m · k` or `bias.len() != n` (callers check shapes first).
pub fn linear(x: &[f32], m: usize, weight: &QuantizedWeight, bias: &[f32]) -> Vec<f32> {
    linear_on(Int8Isa::detect(), x, m, weight, bias, Epilogue::None)
}

/// [`linear`] followed by `epilogue`, applied by each thread to its columns of each
/// row right after dequantizing them.
///
/// Panics as [`linear`].
pub fn linear_with(x: &[f32], m: usize, weight: &QuantizedWeight, bias: &[f32], epilogue: Epilogue) -> Vec<f32> {
    linear_on(Int8Isa::detect(), x, m, weight, bias, epilogue)
}

/// [`linear`] on a given instruction set (which must be [`Int8Isa::available`]). Large
/// products split their output channels over threads (`super::for_block_ranges`).
pub fn linear_on(
    isa: Int8Isa,
    x: &[f32],
    m: usize,
    weight: &QuantizedWeight,
    bias: &[f32],
    epilogue: Epilogue,
) -> Vec<f32> {
    let (k, n) = (weight.k, weight.n);
    assert_eq!(x.len(), m * k, "x is [m, k]");
    assert_eq!(bias.len(), n, "bias is [n]");
    assert!(isa.available(), "{isa:?} is not available on this CPU");
    let rows = quantize_rows(x, m, k);
    let mut out = Vec::with_capacity(m * n);
    let dst = SharedOut(out.as_mut_ptr());
    for_block_ranges(weight.n_blocks(), m * n * k, |blocks| {
        // SAFETY: the ranges are disjoint channel blocks, hence disjoint columns of
        // `out`, which outlives every part.
        unsafe { product(isa, &rows, m, weight, bias, blocks, dst, epilogue) };
    });
    // SAFETY: the parts cover every channel block, and each wrote every row of its
    // columns, so all m·n values are initialized.
    unsafe { out.set_len(m * n) };
    out
}

/// Computes the columns of channel blocks `blocks` for all `m` rows into `out`, then
/// `epilogue` on each row's columns: chunks of [`ROW_CHUNK`] rows, in each chunk
/// [`BLOCK_CHUNK`] blocks at a time for all its row tiles (each weight byte read from
/// memory once per row chunk).
///
/// # Safety
/// `out` points to `m · n` floats (initialized or not: each cell of the columns of
/// `blocks` is written before it is read); no one else writes those columns meanwhile.
#[allow(clippy::too_many_arguments)]
unsafe fn product(
    isa: Int8Isa,
    rows: &QuantizedRows,
    m: usize,
    weight: &QuantizedWeight,
    bias: &[f32],
    blocks: std::ops::Range<usize>,
    out: SharedOut,
    epilogue: Epilogue,
) {
    let n = weight.n;
    let mut acc = vec![0i32; ROWS * BLOCK_CHUNK * BLOCK];
    CHUNKING.for_each_tile(m, n, blocks, |tile| {
        let width = tile.blocks.len() * BLOCK;
        let x = &rows.data[tile.row * rows.k_padded..(tile.row + tile.rows) * rows.k_padded];
        acc[..tile.rows * width].fill(0);
        let (sub, count) = (tile.blocks.clone(), tile.rows);
        match isa {
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `linear_on` checked that the CPU has AVX-512 F/BW/VNNI; the
            // slices have the lengths `tile_avx512` requires.
            Int8Isa::Avx512Vnni => unsafe { x86::tile_avx512(x, count, rows.k_padded, weight, sub, &mut acc) },
            #[cfg(target_arch = "x86_64")]
            // SAFETY: `linear_on` checked that the CPU has AVX2.
            Int8Isa::Avx2 => unsafe { x86::tile_avx2(x, count, rows.k_padded, weight, sub, &mut acc) },
            _ => tile_portable(x, count, rows.k_padded, weight, sub, &mut acc),
        }
        for t in 0..tile.rows {
            let r = tile.row + t;
            let (scale_x, zero_point) = (rows.scales[r], rows.zero_points[r]);
            let sums = &acc[t * width..(t + 1) * width];
            let value = |j: usize, c: usize| {
                let exact = sums[j] - zero_point * weight.column_sums[c];
                exact as f32 * (scale_x * weight.scales[c]) + bias[c]
            };
            // SAFETY: r < m, the columns lie inside n, and the caller gives us these
            // columns exclusively.
            unsafe { store_row(out, n, r, tile.columns.clone(), epilogue, value) };
        }
    });
}

/// `acc[t, j] = Σ_k x[t, k] · w[c, k]` for `tile` rows and the channels `c` of
/// `blocks` (`j` counts from the first); the scalar reference every vector path must
/// match exactly.
fn tile_portable(
    x: &[u8],
    tile: usize,
    k_padded: usize,
    weight: &QuantizedWeight,
    blocks: std::ops::Range<usize>,
    acc: &mut [i32],
) {
    let width = blocks.len() * BLOCK;
    let groups = k_padded / GROUP;
    for (b, block) in blocks.enumerate() {
        let panel = &weight.packed[block * groups * BLOCK * GROUP..(block + 1) * groups * BLOCK * GROUP];
        for t in 0..tile {
            let row = &x[t * k_padded..(t + 1) * k_padded];
            let out = &mut acc[t * width + b * BLOCK..t * width + (b + 1) * BLOCK];
            for g in 0..groups {
                let xs = &row[g * GROUP..(g + 1) * GROUP];
                let ws = &panel[g * BLOCK * GROUP..(g + 1) * BLOCK * GROUP];
                for (lane, o) in out.iter_mut().enumerate() {
                    let w = &ws[lane * GROUP..(lane + 1) * GROUP];
                    *o += xs.iter().zip(w).map(|(&a, &b)| i32::from(a) * i32::from(b)).sum::<i32>();
                }
            }
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
mod tests;

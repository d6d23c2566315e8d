//! `y = x·Wᵀ + b` in f32 with `Wᵀ` packed once, at load, into panels of 16 output
//! channels.
//!
//! gemm reads `Wᵀ` (`[k, n]` row-major) with a stride of `n` floats per reduction step
//! and re-packs it on every call. For the few-token rows of single requests that
//! dominates the product: on a Zen 3 (2 threads) gemm ran MiniLM's 23-row products at
//! 68–87 GFLOP/s and distilbert's 23×768×3072 at 28–45, latency-bound in its
//! micro-kernel. Here every panel is `[k][16]` contiguous, one 64-byte line per step,
//! so a product streams its weights linearly (prefetched) and never packs.
//!
//! The micro-kernel keeps a tile of 6 rows × 16 channels of sums in 12 AVX2 registers
//! (the Haswell shape of BLIS, Van Zee & van de Geijn 2015, "BLIS: A Framework for
//! Rapidly Instantiating BLAS Functionality"): per step two weight loads, six
//! broadcasts, twelve FMAs. Each panel is read from memory once per chunk of rows
//! (all rows of a single request) and served from L1/L2 for the other tiles.

use std::sync::OnceLock;

use super::{for_block_ranges, gelu::gelu_in_place, SharedOut};

/// Output channels per panel (two AVX2 registers of f32).
const BLOCK: usize = 16;
/// Activation rows per micro-kernel tile.
const ROWS: usize = 6;
/// Bytes of activation rows that one pass over a part's panels keeps hot in L2; larger
/// inputs take several passes (each streams the part's weights again).
const ROW_CHUNK_BYTES: usize = 192 * 1024;

/// One reduction step of a panel: 16 channels, on a 64-byte line of its own.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; BLOCK]);

/// The instruction set a packed f32 product runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum F32Isa {
    /// AVX2 + FMA (`vfmadd231ps` on 8 lanes).
    Avx2Fma,
    /// Plain Rust with `f32::mul_add`: the bit-exact reference of every vector path
    /// (the model uses gemm on CPUs without AVX2 + FMA, never this).
    Reference,
}

impl F32Isa {
    /// The vector path this CPU runs, if any (detected once).
    pub fn detect() -> Option<Self> {
        static ISA: OnceLock<Option<F32Isa>> = OnceLock::new();
        *ISA.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                return Some(F32Isa::Avx2Fma);
            }
            None
        })
    }

    /// Whether the model packs its f32 weights for this kernel on this CPU: where it
    /// runs, unless the CPU has AVX-512, where gemm's AVX-512 micro-kernels keep the
    /// weights until this kernel is measured against them there. On a Zen 3 (AVX2,
    /// 2 cores) it ran MiniLM's and distilbert's products 1.5–3.5× faster than gemm at
    /// 23 rows and within 5% at 600 (`examples/matmul_shapes.rs`, which compares both
    /// on any AVX2 CPU).
    pub fn chosen() -> Option<Self> {
        static CHOSEN: OnceLock<Option<F32Isa>> = OnceLock::new();
        *CHOSEN.get_or_init(|| {
            #[cfg(target_arch = "x86_64")]
            if std::arch::is_x86_feature_detected!("avx512f") {
                return None;
            }
            Self::detect()
        })
    }

    /// Whether this CPU can run `self`.
    pub fn available(self) -> bool {
        match self {
            Self::Reference => true,
            Self::Avx2Fma => Self::detect() == Some(Self::Avx2Fma),
        }
    }

    /// The path's name, as `GET /models` and `make bench` report it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Avx2Fma => "f32-packed-avx2",
            Self::Reference => "f32-packed-reference",
        }
    }
}

/// A weight matrix packed for [`linear`].
///
/// Layout: `[n_blocks][k][16]` f32: for each block of 16 output channels, its `k`
/// reduction steps as 64-byte lines. Channels past `n` are zero.
#[derive(Debug, Clone)]
pub struct PackedF32 {
    k: usize,
    n: usize,
    lines: Vec<Line>,
}

impl PackedF32 {
    /// Packs `weight_t` (`[k, n]` row-major, `Wᵀ`).
    ///
    /// Panics if `weight_t.len() != k · n`.
    pub fn pack(weight_t: &[f32], k: usize, n: usize) -> Self {
        assert_eq!(weight_t.len(), k * n, "weight is [k, n]");
        let n_blocks = n.div_ceil(BLOCK);
        let mut lines = vec![Line([0.0; BLOCK]); n_blocks * k];
        for (kk, row) in weight_t.chunks_exact(n.max(1)).enumerate().take(k) {
            for (c, &w) in row.iter().enumerate() {
                lines[(c / BLOCK) * k + kk].0[c % BLOCK] = w;
            }
        }
        Self { k, n, lines }
    }

    /// Input features (`k`).
    pub fn in_features(&self) -> usize {
        self.k
    }

    /// Output channels (`n`).
    pub fn out_features(&self) -> usize {
        self.n
    }

    /// Bytes held (padding included).
    pub fn bytes(&self) -> usize {
        std::mem::size_of_val(self.lines.as_slice())
    }

    fn n_blocks(&self) -> usize {
        self.n.div_ceil(BLOCK)
    }
}

/// What a product applies to its outputs while they are still in L1.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Epilogue {
    /// `x·Wᵀ + b` as is.
    None,
    /// Exact (erf) GELU of `x·Wᵀ + b`: a feed-forward input projection
    /// ([`super::gelu`]'s kernel, run by each thread on its own columns).
    GeluErf,
}

/// `x` `[m, k]` → `[m, n]` on this CPU's vector path.
///
/// Panics if the CPU lacks AVX2 + FMA (see [`F32Isa::detect`]), if
/// `x.len() != m · k` or `bias.len() != n`.
pub fn linear(x: &[f32], m: usize, weight: &PackedF32, bias: &[f32]) -> Vec<f32> {
    linear_with(x, m, weight, bias, Epilogue::None)
}

/// [`linear`] followed by `epilogue`.
///
/// Panics as [`linear`].
pub fn linear_with(x: &[f32], m: usize, weight: &PackedF32, bias: &[f32], epilogue: Epilogue) -> Vec<f32> {
    let isa = F32Isa::detect().expect("the packed f32 kernel needs AVX2 + FMA");
    linear_on(isa, x, m, weight, bias, epilogue)
}

/// [`linear_with`] on a given path. Every path sums `b + Σₖ x·w` in the same order
/// with fused multiply-adds, so all give bit-identical results.
///
/// Panics if `isa` is not available here, if `x.len() != m · k` or `bias.len() != n`.
pub fn linear_on(isa: F32Isa, x: &[f32], m: usize, weight: &PackedF32, bias: &[f32], epilogue: Epilogue) -> Vec<f32> {
    let (k, n) = (weight.k, weight.n);
    assert_eq!(x.len(), m * k, "x is [m, k]");
    assert_eq!(bias.len(), n, "bias is [n]");
    assert!(isa.available(), "{} is not available on this CPU", isa.name());
    let mut out = Vec::with_capacity(m * n);
    let dst = SharedOut(out.as_mut_ptr());
    for_block_ranges(weight.n_blocks(), m * k * n, |blocks| {
        // SAFETY: the ranges are disjoint panels, hence disjoint columns of `out`,
        // which outlives every part; `isa` was checked above.
        unsafe { product(isa, x, m, weight, bias, blocks, dst, epilogue) };
    });
    // SAFETY: the parts cover every panel, and each tile wrote every cell of its rows
    // and columns, so all m·n values are initialized.
    unsafe { out.set_len(m * n) };
    out
}

/// Computes the columns of `blocks` for all `m` rows into `out`: rows in chunks that
/// stay in L2, each chunk against every panel of the range, in tiles of [`ROWS`];
/// each tile's outputs then get `epilogue`.
///
/// # Safety
/// `out` points to `m · n` floats (initialized or not: every cell of the columns of
/// `blocks` is written before it is read) and no one else writes those columns; `isa`
/// is available; `x` is `[m, k]` and `bias` `[n]`.
#[allow(clippy::too_many_arguments)]
unsafe fn product(
    isa: F32Isa,
    x: &[f32],
    m: usize,
    weight: &PackedF32,
    bias: &[f32],
    blocks: std::ops::Range<usize>,
    out: SharedOut,
    epilogue: Epilogue,
) {
    let (k, n) = (weight.k, weight.n);
    let chunk = (ROW_CHUNK_BYTES / (4 * k.max(1))).max(ROWS) / ROWS * ROWS;
    let mut r0 = 0;
    while r0 < m {
        let r1 = m.min(r0 + chunk);
        for block in blocks.clone() {
            let panel = &weight.lines[block * k..(block + 1) * k];
            let c0 = block * BLOCK;
            let cols = BLOCK.min(n - c0);
            let mut first = [0f32; BLOCK];
            first[..cols].copy_from_slice(&bias[c0..c0 + cols]);
            let mut r = r0;
            while r < r1 {
                let rows = ROWS.min(r1 - r);
                let tile = Tile { x: &x[r * k..(r + rows) * k], rows, k, panel, bias: &first, cols };
                // SAFETY: rows r..r + rows < m and columns c0..c0 + cols of `out` are
                // inside the buffer and given to this part alone.
                let dst = unsafe { out.0.add(r * n + c0) };
                match isa {
                    #[cfg(target_arch = "x86_64")]
                    // SAFETY: `isa` is available, so the CPU has AVX2 and FMA; `dst`
                    // holds `rows` rows of `cols` floats `n` apart.
                    F32Isa::Avx2Fma => unsafe { x86::tile(&tile, dst, n) },
                    #[cfg(not(target_arch = "x86_64"))]
                    F32Isa::Avx2Fma => unreachable!("detected only on x86_64"),
                    // SAFETY: as above.
                    F32Isa::Reference => unsafe { tile_reference(&tile, dst, n) },
                }
                if epilogue == Epilogue::GeluErf {
                    for row in 0..rows {
                        // SAFETY: the tile just wrote these `cols` floats of row r + row.
                        gelu_in_place(unsafe { std::slice::from_raw_parts_mut(dst.add(row * n), cols) });
                    }
                }
                r += rows;
            }
        }
        r0 = r1;
    }
}

/// One micro-kernel call: `rows ≤ ROWS` rows of `x` against one panel.
struct Tile<'a> {
    /// `[rows, k]`.
    x: &'a [f32],
    rows: usize,
    k: usize,
    /// `[k]` lines of 16 channels.
    panel: &'a [Line],
    /// The bias of the panel's channels (zero past `cols`).
    bias: &'a [f32; BLOCK],
    /// Channels of the panel inside `n` (16 but for the last panel).
    cols: usize,
}

/// Scalar reference: per output `b`, then `acc = x·w + acc` step by step, fused.
///
/// # Safety
/// `dst` holds `tile.rows` rows of `tile.cols` writable floats, `ld` apart.
unsafe fn tile_reference(tile: &Tile, dst: *mut f32, ld: usize) {
    for r in 0..tile.rows {
        let row = &tile.x[r * tile.k..(r + 1) * tile.k];
        for c in 0..tile.cols {
            let mut acc = tile.bias[c];
            for (xv, line) in row.iter().zip(tile.panel) {
                acc = xv.mul_add(line.0[c], acc);
            }
            // SAFETY: the caller's contract on `dst`.
            unsafe { *dst.add(r * ld + c) = acc };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86 {
    use std::arch::x86_64::*;

    use super::{Tile, BLOCK, ROWS};

    /// Steps (64-byte lines) ahead of the loads that the tile prefetches.
    const PREFETCH: usize = 16;

    /// AVX2 + FMA tile, dispatched on the row count so each variant keeps its sums in
    /// registers.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `dst` holds `tile.rows ≤ ROWS` rows of `tile.cols`
    /// writable floats, `ld` apart.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tile(tile: &Tile, dst: *mut f32, ld: usize) {
        debug_assert!(tile.rows <= ROWS && tile.x.len() >= tile.rows * tile.k && tile.panel.len() >= tile.k);
        // SAFETY: the caller's contract, passed on.
        unsafe {
            match tile.rows {
                1 => rows::<1>(tile, dst, ld),
                2 => rows::<2>(tile, dst, ld),
                3 => rows::<3>(tile, dst, ld),
                4 => rows::<4>(tile, dst, ld),
                5 => rows::<5>(tile, dst, ld),
                _ => rows::<6>(tile, dst, ld),
            }
        }
    }

    /// `R` rows × 16 channels: `2·R` accumulators, started at the bias.
    ///
    /// # Safety
    /// As [`tile`], with `tile.rows == R`.
    #[target_feature(enable = "avx2,fma")]
    #[inline]
    unsafe fn rows<const R: usize>(tile: &Tile, dst: *mut f32, ld: usize) {
        let k = tile.k;
        // SAFETY: `x` holds R rows of k floats and `panel` k aligned lines of 16, so
        // every load below is in bounds; the stores follow the caller's contract.
        unsafe {
            let x = tile.x.as_ptr();
            let panel = tile.panel.as_ptr().cast::<f32>();
            let lo = _mm256_loadu_ps(tile.bias.as_ptr());
            let hi = _mm256_loadu_ps(tile.bias.as_ptr().add(8));
            let mut acc_lo = [lo; R];
            let mut acc_hi = [hi; R];
            for step in 0..k {
                _mm_prefetch::<_MM_HINT_T0>(panel.wrapping_add((step + PREFETCH) * BLOCK).cast::<i8>());
                let w_lo = _mm256_load_ps(panel.add(step * BLOCK));
                let w_hi = _mm256_load_ps(panel.add(step * BLOCK + 8));
                for r in 0..R {
                    let a = _mm256_broadcast_ss(&*x.add(r * k + step));
                    acc_lo[r] = _mm256_fmadd_ps(a, w_lo, acc_lo[r]);
                    acc_hi[r] = _mm256_fmadd_ps(a, w_hi, acc_hi[r]);
                }
            }
            if tile.cols == BLOCK {
                for r in 0..R {
                    _mm256_storeu_ps(dst.add(r * ld), acc_lo[r]);
                    _mm256_storeu_ps(dst.add(r * ld + 8), acc_hi[r]);
                }
            } else {
                let mut spill = [0f32; BLOCK];
                for r in 0..R {
                    _mm256_storeu_ps(spill.as_mut_ptr(), acc_lo[r]);
                    _mm256_storeu_ps(spill.as_mut_ptr().add(8), acc_hi[r]);
                    std::ptr::copy_nonoverlapping(spill.as_ptr(), dst.add(r * ld), tile.cols);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests;

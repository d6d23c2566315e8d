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
//! The AVX2 micro-kernel keeps a tile of 6 rows × 16 channels of sums in 12 AVX2
//! registers (the Haswell shape of BLIS, Van Zee & van de Geijn 2015, "BLIS: A
//! Framework for Rapidly Instantiating BLAS Functionality"): per step two weight loads,
//! six broadcasts, twelve FMAs. The AVX-512 one holds 12 rows × 16 channels in 12 zmm
//! registers: per step one weight load and twelve FMAs, each broadcasting its
//! activation from memory. Each panel is read from memory once per chunk of rows (all
//! rows of a single request) and served from L1/L2 for the other tiles.

mod isa;

pub use super::Epilogue;
use super::{for_block_ranges, gelu::gelu_in_place, SharedOut};
pub use isa::F32Isa;

/// Output channels per panel (two AVX2 registers of f32, or one AVX-512 register).
const BLOCK: usize = 16;
/// Activation rows per micro-kernel tile, at most (the AVX-512 tile's).
const ROWS: usize = 12;
/// Panels per micro-kernel tile, at most (the AVX-512 tile's at one row).
const MAX_PANELS: usize = 8;
/// Bytes of activation rows that one pass over a part's panels keeps hot in L2; larger
/// inputs take several passes (each streams the part's weights again).
const ROW_CHUNK_BYTES: usize = 192 * 1024;

/// One reduction step of a panel: 16 channels, on a 64-byte line of its own.
#[derive(Debug, Clone, Copy)]
#[repr(C, align(64))]
struct Line([f32; BLOCK]);

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

/// `x` `[m, k]` → `[m, n]` on this CPU's vector path.
///
/// Runs the [chosen](F32Isa::chosen) path, else the detected one. Panics if the CPU
/// has neither (no AVX2 + FMA, see [`F32Isa::detect`]), if `x.len() != m · k` or
/// `bias.len() != n`.
pub fn linear(x: &[f32], m: usize, weight: &PackedF32, bias: &[f32]) -> Vec<f32> {
    linear_with(x, m, weight, bias, Epilogue::None)
}

/// [`linear`] followed by `epilogue`.
///
/// Panics as [`linear`].
pub fn linear_with(x: &[f32], m: usize, weight: &PackedF32, bias: &[f32], epilogue: Epilogue) -> Vec<f32> {
    let isa = F32Isa::chosen().or(F32Isa::detect()).expect("the packed f32 kernel needs AVX2 + FMA");
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
/// stay in L2, each chunk against every panel of the range, in tiles of the path's rows;
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
    let tile_rows = isa.tile_rows();
    let chunk = (ROW_CHUNK_BYTES / (4 * k.max(1))).max(tile_rows) / tile_rows * tile_rows;
    // Runs the tile of `rows` rows from `r` against panels `panels` (consecutive, so
    // contiguous in `weight.lines`), then the epilogue.
    let run = |panels: std::ops::Range<usize>, r: usize, rows: usize| {
        let c0 = panels.start * BLOCK;
        let cols = (panels.len() * BLOCK).min(n - c0);
        let mut first = [0f32; BLOCK * MAX_PANELS];
        first[..cols].copy_from_slice(&bias[c0..c0 + cols]);
        let tile = Tile {
            x: &x[r * k..(r + rows) * k],
            rows,
            k,
            panel: &weight.lines[panels.start * k..panels.end * k],
            panels: panels.len(),
            bias: &first[..panels.len() * BLOCK],
            cols,
        };
        // SAFETY: rows r..r + rows < m and columns c0..c0 + cols of `out` are inside
        // the buffer and given to this part alone.
        let dst = unsafe { out.0.add(r * n + c0) };
        // SAFETY: `isa` is available (the caller's contract); `dst` holds `rows` rows
        // of `cols` floats `n` apart.
        unsafe { tile_on(isa, &tile, dst, n) };
        if epilogue == Epilogue::GeluErf {
            for row in 0..rows {
                // SAFETY: the tile just wrote these `cols` floats of row r + row.
                gelu_in_place(unsafe { std::slice::from_raw_parts_mut(dst.add(row * n), cols) });
            }
        }
    };
    let mut r0 = 0;
    while r0 < m {
        let r1 = m.min(r0 + chunk);
        // Panels go in groups as wide as the chunk's last (shortest) tile takes, so a
        // few rows still keep enough independent sums in flight; full tiles take the
        // group's panels one at a time. Each group is read from memory once per chunk.
        let last_rows = match (r1 - r0) % tile_rows {
            0 => tile_rows,
            rest => rest,
        };
        let group = isa.panels_per_tile(last_rows);
        let mut g0 = blocks.start;
        while g0 < blocks.end {
            let g1 = blocks.end.min(g0 + group);
            let mut r = r0;
            while r < r1 {
                let rows = tile_rows.min(r1 - r);
                if g1 - g0 > 1 && isa.panels_per_tile(rows) == g1 - g0 {
                    run(g0..g1, r, rows);
                } else {
                    for block in g0..g1 {
                        run(block..block + 1, r, rows);
                    }
                }
                r += rows;
            }
            g0 = g1;
        }
        r0 = r1;
    }
}

/// Runs `tile` on `isa`.
///
/// # Safety
/// `isa` is available; `dst` holds `tile.rows` rows of `tile.cols` writable floats,
/// `ld` apart.
unsafe fn tile_on(isa: F32Isa, tile: &Tile, dst: *mut f32, ld: usize) {
    match isa {
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` is available, so the CPU has AVX-512F; the rest is the caller's.
        F32Isa::Avx512F => unsafe { x86::tile_avx512(tile, dst, ld) },
        #[cfg(target_arch = "x86_64")]
        // SAFETY: `isa` is available, so the CPU has AVX2 and FMA; the rest is the
        // caller's. The AVX2 tile takes one panel at a time.
        F32Isa::Avx2Fma => unsafe { tile.each_panel(dst, |one, dst| x86::tile(one, dst, ld)) },
        #[cfg(not(target_arch = "x86_64"))]
        F32Isa::Avx512F | F32Isa::Avx2Fma => unreachable!("detected only on x86_64"),
        // SAFETY: the caller's contract.
        F32Isa::Reference => unsafe { tile_reference(tile, dst, ld) },
    }
}

/// One micro-kernel call: `rows ≤ ROWS` rows of `x` against `panels ≤ MAX_PANELS`
/// consecutive panels.
struct Tile<'a> {
    /// `[rows, k]`.
    x: &'a [f32],
    rows: usize,
    k: usize,
    /// `[panels][k]` lines of 16 channels.
    panel: &'a [Line],
    panels: usize,
    /// The bias of the panels' channels, `[16 · panels]` (zero past `cols`).
    bias: &'a [f32],
    /// Channels of the panels inside `n` (`16 · panels` but for the last panel).
    cols: usize,
}

impl Tile<'_> {
    /// Calls `f` with each panel as a tile of its own and its first output column.
    ///
    /// # Safety
    /// `dst` holds `self.rows` rows of `self.cols` floats; `f` gets a pointer to the
    /// panel's first column of them.
    unsafe fn each_panel(&self, dst: *mut f32, mut f: impl FnMut(&Tile, *mut f32)) {
        for j in 0..self.panels {
            let one = Tile {
                x: self.x,
                rows: self.rows,
                k: self.k,
                panel: &self.panel[j * self.k..(j + 1) * self.k],
                panels: 1,
                bias: &self.bias[j * BLOCK..(j + 1) * BLOCK],
                cols: BLOCK.min(self.cols - j * BLOCK),
            };
            // SAFETY: column j·16 < cols of the caller's rows.
            f(&one, unsafe { dst.add(j * BLOCK) });
        }
    }
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
            let panel = &tile.panel[(c / BLOCK) * tile.k..(c / BLOCK + 1) * tile.k];
            for (xv, line) in row.iter().zip(panel) {
                acc = xv.mul_add(line.0[c % BLOCK], acc);
            }
            // SAFETY: the caller's contract on `dst`.
            unsafe { *dst.add(r * ld + c) = acc };
        }
    }
}

#[cfg(target_arch = "x86_64")]
mod x86;

#[cfg(test)]
mod tests;

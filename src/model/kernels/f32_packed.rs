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

use std::sync::OnceLock;

pub use super::Epilogue;
use super::{for_block_ranges, gelu::gelu_in_place, SharedOut};

/// The environment variable that overrides [`F32Isa::chosen`].
const KERNEL_VAR: &str = "SENTISERVE_F32_KERNEL";
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

/// The instruction set a packed f32 product runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum F32Isa {
    /// AVX-512F (`vfmadd231ps` on 16 lanes, the activation broadcast from memory).
    Avx512F,
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
            {
                if std::arch::is_x86_feature_detected!("avx512f") {
                    return Some(F32Isa::Avx512F);
                }
                if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                    return Some(F32Isa::Avx2Fma);
                }
            }
            None
        })
    }

    /// Panels one tile of `rows` rows takes on this path: on AVX-512 enough that
    /// `rows × panels ≥ 8` sums are in flight (two FMA units, four cycles each), so a
    /// product of a few rows is not bound by one chain's latency.
    fn panels_per_tile(self, rows: usize) -> usize {
        match (self, rows) {
            (Self::Avx512F, 1) => 8,
            (Self::Avx512F, 2) => 4,
            (Self::Avx512F, 3) => 3,
            (Self::Avx512F, 4..=7) => 2,
            _ => 1,
        }
    }

    /// Rows of one micro-kernel tile on this path.
    fn tile_rows(self) -> usize {
        match self {
            Self::Avx512F => 12,
            Self::Avx2Fma | Self::Reference => 6,
        }
    }

    /// Whether the model packs its f32 weights, and for which path: the detected one
    /// (`examples/matmul_shapes.rs` compares every path with gemm on any CPU). On a
    /// Zen 3 (AVX2, 2 cores) the AVX2 tile ran MiniLM's and distilbert's products
    /// 1.5–3.5× faster than gemm at 23 rows and within 5% at 600; on a Zen 5 (2 cores)
    /// the AVX-512 tile ran them at 400–450 GFLOP/s against gemm's 310–465, and a
    /// 23-token MiniLM forward took 2.16–2.28 ms against gemm's 2.43–2.52.
    ///
    /// `SENTISERVE_F32_KERNEL` overrides the choice, for comparisons: `f32-gemm`, or a
    /// path's [`name`](Self::name) that this CPU runs (`f32-packed-avx512`,
    /// `f32-packed-avx2`); any other value is ignored with a warning.
    pub fn chosen() -> Option<Self> {
        static CHOSEN: OnceLock<Option<F32Isa>> = OnceLock::new();
        *CHOSEN.get_or_init(|| {
            if let Ok(name) = std::env::var(KERNEL_VAR) {
                match Self::by_name(&name) {
                    Ok(choice) => return choice,
                    Err(why) => tracing::warn!("{KERNEL_VAR}={name} ignored: {why}"),
                }
            }
            Self::detect()
        })
    }

    /// The choice `name` asks for (`None`: gemm).
    ///
    /// Errors: a name of no path, or of a path this CPU cannot run.
    fn by_name(name: &str) -> Result<Option<Self>, &'static str> {
        if name == "f32-gemm" {
            return Ok(None);
        }
        match [Self::Avx512F, Self::Avx2Fma].into_iter().find(|isa| isa.name() == name) {
            Some(isa) if isa.available() => Ok(Some(isa)),
            Some(_) => Err("this CPU cannot run it"),
            None => Err("not f32-gemm, f32-packed-avx512 or f32-packed-avx2"),
        }
    }

    /// Whether this CPU can run `self`.
    pub fn available(self) -> bool {
        match self {
            Self::Reference => true,
            #[cfg(target_arch = "x86_64")]
            Self::Avx512F => std::arch::is_x86_feature_detected!("avx512f"),
            #[cfg(target_arch = "x86_64")]
            Self::Avx2Fma => std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma"),
            #[cfg(not(target_arch = "x86_64"))]
            Self::Avx512F | Self::Avx2Fma => false,
        }
    }

    /// The path's name, as `GET /models` and `make bench` report it.
    pub fn name(self) -> &'static str {
        match self {
            Self::Avx512F => "f32-packed-avx512",
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
mod x86 {
    use std::arch::x86_64::*;

    use super::{Tile, BLOCK, ROWS};

    /// Steps (64-byte lines) ahead of the loads that the tile prefetches.
    const PREFETCH: usize = 16;

    /// AVX-512F tile, dispatched on the row count so each variant keeps its sums in
    /// registers.
    ///
    /// # Safety
    /// The CPU has AVX-512F; `dst` holds `tile.rows ≤ ROWS` rows of `tile.cols`
    /// writable floats, `ld` apart.
    #[target_feature(enable = "avx512f")]
    pub(super) unsafe fn tile_avx512(tile: &Tile, dst: *mut f32, ld: usize) {
        debug_assert!(tile.rows <= ROWS && tile.x.len() >= tile.rows * tile.k);
        debug_assert!(tile.panel.len() >= tile.panels * tile.k && tile.bias.len() >= tile.panels * BLOCK);
        // SAFETY: the caller's contract, passed on.
        unsafe {
            match (tile.rows, tile.panels) {
                (1, 8) => rows512::<1, 8>(tile, dst, ld),
                (2, 4) => rows512::<2, 4>(tile, dst, ld),
                (3, 3) => rows512::<3, 3>(tile, dst, ld),
                (4, 2) => rows512::<4, 2>(tile, dst, ld),
                (5, 2) => rows512::<5, 2>(tile, dst, ld),
                (6, 2) => rows512::<6, 2>(tile, dst, ld),
                (7, 2) => rows512::<7, 2>(tile, dst, ld),
                (_, 1) => match tile.rows {
                    1 => rows512::<1, 1>(tile, dst, ld),
                    2 => rows512::<2, 1>(tile, dst, ld),
                    3 => rows512::<3, 1>(tile, dst, ld),
                    4 => rows512::<4, 1>(tile, dst, ld),
                    5 => rows512::<5, 1>(tile, dst, ld),
                    6 => rows512::<6, 1>(tile, dst, ld),
                    7 => rows512::<7, 1>(tile, dst, ld),
                    8 => rows512::<8, 1>(tile, dst, ld),
                    9 => rows512::<9, 1>(tile, dst, ld),
                    10 => rows512::<10, 1>(tile, dst, ld),
                    11 => rows512::<11, 1>(tile, dst, ld),
                    _ => rows512::<12, 1>(tile, dst, ld),
                },
                _ => tile.each_panel(dst, |one, dst| tile_avx512(one, dst, ld)),
            }
        }
    }

    /// `R` rows × `P` panels of 16 channels: `R · P` zmm accumulators, started at the
    /// bias; a ragged last panel is stored under a mask.
    ///
    /// # Safety
    /// As [`tile_avx512`], with `tile.rows == R` and `tile.panels == P`.
    #[target_feature(enable = "avx512f")]
    #[inline]
    unsafe fn rows512<const R: usize, const P: usize>(tile: &Tile, dst: *mut f32, ld: usize) {
        let k = tile.k;
        // SAFETY: `x` holds R rows of k floats and `panel` P · k aligned lines of 16,
        // so every load below is in bounds; the stores follow the caller's contract
        // (the masks keep them inside `cols`).
        unsafe {
            let x = tile.x.as_ptr();
            let lines = tile.panel.as_ptr().cast::<f32>();
            let mut acc = [[_mm512_setzero_ps(); P]; R];
            for row in acc.iter_mut() {
                for (j, sum) in row.iter_mut().enumerate() {
                    *sum = _mm512_loadu_ps(tile.bias.as_ptr().add(j * BLOCK));
                }
            }
            let mut w = [_mm512_setzero_ps(); P];
            for step in 0..k {
                for (j, w) in w.iter_mut().enumerate() {
                    let line = lines.wrapping_add((j * k + step) * BLOCK);
                    _mm_prefetch::<_MM_HINT_T0>(line.wrapping_add(PREFETCH * BLOCK).cast::<i8>());
                    *w = _mm512_load_ps(line);
                }
                for (r, row) in acc.iter_mut().enumerate() {
                    let a = _mm512_set1_ps(*x.add(r * k + step));
                    for (sum, w) in row.iter_mut().zip(&w) {
                        *sum = _mm512_fmadd_ps(a, *w, *sum);
                    }
                }
            }
            for (j, _) in w.iter().enumerate() {
                let cols = BLOCK.min(tile.cols.saturating_sub(j * BLOCK));
                let mask: __mmask16 = if cols == BLOCK { 0xffff } else { (1u16 << cols) - 1 };
                for (r, row) in acc.iter().enumerate() {
                    _mm512_mask_storeu_ps(dst.add(r * ld + j * BLOCK), mask, row[j]);
                }
            }
        }
    }

    /// AVX2 + FMA tile, dispatched on the row count so each variant keeps its sums in
    /// registers.
    ///
    /// # Safety
    /// The CPU has AVX2 and FMA; `dst` holds `tile.rows ≤ 6` rows of `tile.cols`
    /// writable floats, `ld` apart.
    #[target_feature(enable = "avx2,fma")]
    pub(super) unsafe fn tile(tile: &Tile, dst: *mut f32, ld: usize) {
        debug_assert!(tile.rows <= 6 && tile.panels == 1 && tile.x.len() >= tile.rows * tile.k);
        debug_assert!(tile.panel.len() >= tile.k);
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

//! The x86-64 tiles of the packed f32 kernel: AVX-512F and AVX2 + FMA, chosen at run
//! time by the parent module.

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

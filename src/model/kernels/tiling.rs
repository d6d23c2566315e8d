//! The traversal the int8 and bf16 products share: a thread's output-channel blocks
//! walked in chunks so each packed weight byte streams from memory once per chunk of
//! activation rows, and the store of one finished row of a tile.

use std::ops::Range;

use super::{Epilogue, SharedOut};

/// The shape of a chunked product's work: `tile_rows` activation rows per micro-kernel
/// tile, `block` output channels per packed block, `block_chunk` blocks that every
/// tile of a row chunk reads before the next blocks start, `row_chunk` rows per chunk
/// (a multiple of `tile_rows`).
pub(super) struct Chunking {
    pub tile_rows: usize,
    pub block: usize,
    pub block_chunk: usize,
    pub row_chunk: usize,
}

/// One micro-kernel tile of a chunked product.
pub(super) struct Tile {
    /// First activation row.
    pub row: usize,
    /// Rows in the tile (≤ `tile_rows`; the last tile of a chunk may be short).
    pub rows: usize,
    /// The output-channel blocks the tile multiplies.
    pub blocks: Range<usize>,
    /// Their output columns, clipped to `n` (the last block may be padding).
    pub columns: Range<usize>,
}

impl Chunking {
    /// Calls `tile` for every tile of an `[m, n]` product restricted to the channel
    /// `blocks`: row chunks outermost, then `block_chunk` blocks at a time, then the
    /// chunk's row tiles, so a block chunk's weights are read from memory once per
    /// row chunk and from L1/L2 by the chunk's other tiles.
    #[inline(always)]
    pub fn for_each_tile(&self, m: usize, n: usize, blocks: Range<usize>, mut tile: impl FnMut(Tile)) {
        for r0 in (0..m).step_by(self.row_chunk) {
            let r1 = m.min(r0 + self.row_chunk);
            for b0 in blocks.clone().step_by(self.block_chunk) {
                let sub = b0..blocks.end.min(b0 + self.block_chunk);
                let columns = sub.start * self.block..(sub.end * self.block).min(n);
                let mut r = r0;
                while r < r1 {
                    let rows = self.tile_rows.min(r1 - r);
                    tile(Tile { row: r, rows, blocks: sub.clone(), columns: columns.clone() });
                    r += rows;
                }
            }
        }
    }
}

/// Writes `value(j, c)` into row `row` of the `[m, n]` buffer `out` for each column
/// `c` of `columns` (`j` counts from its start), then applies `epilogue` to them.
///
/// # Safety
/// `row < m`, `columns.end ≤ n`, `out` points to `m · n` floats, and no one else reads
/// or writes these cells meanwhile.
#[inline(always)]
pub(super) unsafe fn store_row(
    out: SharedOut,
    n: usize,
    row: usize,
    columns: Range<usize>,
    epilogue: Epilogue,
    mut value: impl FnMut(usize, usize) -> f32,
) {
    // SAFETY: the caller guarantees the cells lie inside the buffer and are ours alone.
    let cells = unsafe { std::slice::from_raw_parts_mut(out.0.add(row * n + columns.start), columns.len()) };
    for (j, (cell, c)) in cells.iter_mut().zip(columns).enumerate() {
        *cell = value(j, c);
    }
    epilogue.apply(cells);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every (row, channel block) pair of a ragged product is visited exactly once, in
    /// tiles of at most `tile_rows` rows that never cross a row chunk.
    #[test]
    fn tiles_cover_each_row_and_block_once() {
        let chunking = Chunking { tile_rows: 6, block: 16, block_chunk: 4, row_chunk: 48 };
        let (m, n, blocks) = (50, 147, 2..10);
        let mut seen = vec![0u32; m * 10];
        chunking.for_each_tile(m, n, blocks.clone(), |tile| {
            assert!(tile.rows >= 1 && tile.rows <= 6);
            assert_eq!(tile.row / 48, (tile.row + tile.rows - 1) / 48, "a tile crosses a row chunk");
            assert!(tile.blocks.len() <= 4);
            assert_eq!(tile.columns, tile.blocks.start * 16..(tile.blocks.end * 16).min(n));
            for r in tile.row..tile.row + tile.rows {
                for b in tile.blocks.clone() {
                    seen[r * 10 + b] += 1;
                }
            }
        });
        for r in 0..m {
            for b in 0..10 {
                assert_eq!(seen[r * 10 + b], u32::from(blocks.contains(&b)), "row {r}, block {b}");
            }
        }
    }

    /// `store_row` writes exactly its row's columns, then applies the epilogue there.
    #[test]
    fn store_row_writes_only_its_cells() {
        let (m, n) = (3, 5);
        let mut buffer = vec![-1.0f32; m * n];
        let out = SharedOut(buffer.as_mut_ptr());
        // SAFETY: row 1 < m, columns 1..4 ⊂ 0..n, and the buffer is ours alone.
        unsafe { store_row(out, n, 1, 1..4, Epilogue::None, |j, c| (10 * j + c) as f32) };
        let expected = [-1.0, -1.0, -1.0, -1.0, -1.0, -1.0, 1.0, 12.0, 23.0, -1.0, -1.0, -1.0, -1.0, -1.0, -1.0];
        assert_eq!(buffer, expected);
    }
}

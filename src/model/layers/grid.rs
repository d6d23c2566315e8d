//! Moving packed rows (`[tokens, width]`, texts back to back) to a padded grid
//! (`[texts·L, width]`, `L` the longest text) and back, for attention variants the
//! fused packed kernel does not cover (relative terms, RoPE, sliding windows): the
//! linear layers stay packed, only the attention products see padding.

use candle_core::{Device, Tensor};

use crate::model::error::Result;

/// The grid of one packed batch.
pub struct Grid {
    /// Texts in the batch.
    pub texts: usize,
    /// Longest text, in tokens (`L`).
    pub longest: usize,
    /// `[texts·L]`: the packed row of each cell, or `tokens` (a zero row) for padding.
    to_grid: Tensor,
    /// `[tokens]`: the cell of each packed row.
    from_grid: Tensor,
    /// `[texts, 1, 1, L]`: 0 for a token, `f32::MIN` for a padding key.
    pub key_bias: Tensor,
}

impl Grid {
    /// The grid of `segments` (`(first row, length)` per text).
    ///
    /// Errors: device failures.
    pub fn new(segments: &[(usize, usize)], device: &Device) -> Result<Self> {
        let texts = segments.len();
        let longest = segments.iter().map(|&(_, len)| len).max().unwrap_or(0);
        let tokens: usize = segments.iter().map(|&(_, len)| len).sum();
        let mut to_grid = vec![tokens as u32; texts * longest];
        let mut from_grid = Vec::with_capacity(tokens);
        let mut bias = vec![f32::MIN; texts * longest];
        for (t, &(start, len)) in segments.iter().enumerate() {
            for p in 0..len {
                to_grid[t * longest + p] = (start + p) as u32;
                from_grid.push((t * longest + p) as u32);
                bias[t * longest + p] = 0.0;
            }
        }
        Ok(Self {
            texts,
            longest,
            to_grid: Tensor::from_vec(to_grid, texts * longest, device)?,
            from_grid: Tensor::from_vec(from_grid, tokens, device)?,
            key_bias: Tensor::from_vec(bias, (texts, 1, 1, longest), device)?,
        })
    }

    /// Packed `[tokens, width]` → grid `[texts·L, width]`, padding cells zero.
    ///
    /// Errors: shape or device failures.
    pub fn scatter(&self, rows: &Tensor) -> Result<Tensor> {
        let zero = Tensor::zeros((1, rows.dim(1)?), rows.dtype(), rows.device())?;
        Ok(Tensor::cat(&[rows, &zero], 0)?.index_select(&self.to_grid, 0)?)
    }

    /// Grid `[texts·L, width]` → packed `[tokens, width]` (padding cells dropped).
    ///
    /// Errors: shape or device failures.
    pub fn gather(&self, cells: &Tensor) -> Result<Tensor> {
        Ok(cells.index_select(&self.from_grid, 0)?)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn scatter_then_gather_is_the_identity_and_pads_with_zeros() {
        let rows = Tensor::arange(1f32, 11.0, &Device::Cpu).unwrap().reshape((5, 2)).unwrap();
        let grid = Grid::new(&[(0, 2), (2, 3)], &Device::Cpu).unwrap();
        assert_eq!((grid.texts, grid.longest), (2, 3));
        let cells = grid.scatter(&rows).unwrap();
        assert_eq!(cells.to_vec2::<f32>().unwrap(), [[1., 2.], [3., 4.], [0., 0.], [5., 6.], [7., 8.], [9., 10.]]);
        assert_eq!(grid.gather(&cells).unwrap().to_vec2::<f32>().unwrap(), rows.to_vec2::<f32>().unwrap());
        assert_eq!(grid.key_bias.flatten_all().unwrap().to_vec1::<f32>().unwrap(), [0., 0., f32::MIN, 0., 0., 0.]);
    }
}

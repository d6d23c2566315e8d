//! Rotary position embedding (Su et al. 2021, "RoFormer") on packed Q/K rows, in the
//! non-interleaved `rotate_half` form transformers uses (ModernBERT): for each head,
//! `x₁ = x[..d/2]`, `x₂ = x[d/2..]`, out = `[x₁·cos − x₂·sin, x₂·cos + x₁·sin]` with
//! angles `position · θ^(−2i/d)`.

use std::sync::Arc;

use candle_core::{CpuStorage, CustomOp1, Layout, Result, Shape, Tensor};

use super::contiguous_f32;

/// `cos`/`sin` of one RoPE base for positions `0..positions`: `[positions, d/2]` each.
#[derive(Debug, Clone)]
pub struct RopeTables {
    cos: Arc<[f32]>,
    sin: Arc<[f32]>,
    half: usize,
    positions: usize,
}

impl RopeTables {
    /// Tables for base `theta`, head width `head_dim` (even) and `positions` positions.
    pub fn new(theta: f64, head_dim: usize, positions: usize) -> Self {
        let half = head_dim / 2;
        let inverse: Vec<f32> = (0..half).map(|i| 1.0 / theta.powf(2.0 * i as f64 / head_dim as f64) as f32).collect();
        let angles: Vec<f32> = (0..positions).flat_map(|p| inverse.iter().map(move |f| p as f32 * f)).collect();
        Self {
            cos: angles.iter().map(|a| a.cos()).collect(),
            sin: angles.iter().map(|a| a.sin()).collect(),
            half,
            positions,
        }
    }

    /// `cos` as a `[positions, d/2]` tensor (for candle's `rope` on other devices).
    ///
    /// Errors: device failures.
    pub fn cos(&self, device: &candle_core::Device) -> Result<Tensor> {
        Tensor::from_slice(&self.cos, (self.positions, self.half), device)
    }

    /// `sin` as a `[positions, d/2]` tensor.
    ///
    /// Errors: device failures.
    pub fn sin(&self, device: &candle_core::Device) -> Result<Tensor> {
        Tensor::from_slice(&self.sin, (self.positions, self.half), device)
    }
}

/// Rotates the Q and K parts of packed `qkv` `[tokens, 3·hidden]` (contiguous f32 on
/// the CPU), row `t` at `positions[t]`; V is copied unchanged.
///
/// Errors: a position past the tables, a width that does not split into `heads` of
/// the tables' width, or a non-CPU/non-f32 input.
pub fn rope_packed(qkv: &Tensor, positions: &Arc<[u32]>, tables: &RopeTables, heads: usize) -> Result<Tensor> {
    qkv.apply_op1_no_bwd(&RopePacked { positions: Arc::clone(positions), tables: tables.clone(), heads })
}

struct RopePacked {
    positions: Arc<[u32]>,
    tables: RopeTables,
    heads: usize,
}

impl CustomOp1 for RopePacked {
    fn name(&self) -> &'static str {
        "rope-packed"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let (tokens, width) = layout.shape().dims2()?;
        let qkv = contiguous_f32(storage, layout, "rope-packed")?;
        let half = self.tables.half;
        if width != 3 * self.heads * 2 * half || self.positions.len() != tokens {
            candle_core::bail!(
                "rope-packed: [{tokens}, {width}] does not fit {} heads of width {}",
                self.heads,
                2 * half
            )
        }
        if self.positions.iter().any(|&p| p as usize >= self.tables.positions) {
            candle_core::bail!("rope-packed: a position is past the {} in the tables", self.tables.positions)
        }
        let mut out = qkv.to_vec();
        for (row, &position) in out.chunks_exact_mut(width).zip(self.positions.iter()) {
            let at = position as usize * half;
            let (cos, sin) = (&self.tables.cos[at..at + half], &self.tables.sin[at..at + half]);
            // Q and K: the first 2·heads head-wide parts of the row.
            for part in row[..2 * self.heads * 2 * half].chunks_exact_mut(2 * half) {
                let (x1, x2) = part.split_at_mut(half);
                for i in 0..half {
                    let (a, b) = (x1[i], x2[i]);
                    x1[i] = a * cos[i] - b * sin[i];
                    x2[i] = b * cos[i] + a * sin[i];
                }
            }
        }
        Ok((CpuStorage::F32(out), Shape::from((tokens, width))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use candle_core::Device;

    /// Equals candle's `rope` on the `[1, heads, tokens, d]` layout of each part.
    #[test]
    fn matches_candle_rope() {
        let (tokens, heads, d) = (7, 2, 8);
        let hidden = heads * d;
        let qkv = Tensor::randn(0f32, 1.0, (tokens, 3 * hidden), &Device::Cpu).unwrap();
        let tables = RopeTables::new(10_000.0, d, 16);
        let positions: Arc<[u32]> = (0..tokens as u32).collect();
        let got = rope_packed(&qkv, &positions, &tables, heads).unwrap();
        for part in 0..3 {
            let x = qkv.narrow(1, part * hidden, hidden).unwrap().reshape((1, tokens, heads, d)).unwrap();
            let x = x.transpose(1, 2).unwrap().contiguous().unwrap();
            let cos = tables.cos(&Device::Cpu).unwrap().narrow(0, 0, tokens).unwrap();
            let sin = tables.sin(&Device::Cpu).unwrap().narrow(0, 0, tokens).unwrap();
            let want = if part < 2 { candle_nn::rotary_emb::rope(&x, &cos, &sin).unwrap() } else { x };
            let want = want.transpose(1, 2).unwrap().reshape((tokens, hidden)).unwrap();
            let have = got.narrow(1, part * hidden, hidden).unwrap();
            let diff = (have - want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(diff < 1e-5, "part {part}: {diff}");
        }
    }
}

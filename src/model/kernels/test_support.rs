//! Helpers of the kernels' tests: deterministic inputs, and the line that names a
//! vector path this CPU could not run.

use std::io::Write;

/// `len` values in `[-1, 1)` from a linear congruential generator seeded by `seed`.
pub(crate) fn random(len: usize, seed: u64) -> Vec<f32> {
    let mut state = seed.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
    (0..len)
        .map(|_| {
            state = state.wrapping_mul(6364136223846793005).wrapping_add(1442695040888963407);
            ((state >> 33) as f32 / (1u64 << 31) as f32) * 2.0 - 1.0
        })
        .collect()
}

/// Says on the test run's own stderr (not captured, so it shows in `cargo test`'s
/// output) that the kernel path `path` was not run, and why.
pub(crate) fn report_not_run(path: &str, why: &str) {
    let _ = writeln!(std::io::stderr(), "NOT RUN: kernel path {path}: {why}");
}

/// Exact (erf) GELU of each value, through the standalone kernel (what a fused
/// epilogue must equal).
pub(crate) fn gelu_of(values: Vec<f32>) -> Vec<f32> {
    let len = values.len();
    let tensor = candle_core::Tensor::from_vec(values, len, &candle_core::Device::Cpu).unwrap();
    super::gelu::gelu_erf(&tensor).unwrap().to_vec1::<f32>().unwrap()
}

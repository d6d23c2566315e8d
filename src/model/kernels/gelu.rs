//! Exact GELU, `x·Φ(x) = ½·x·(1 + erf(x/√2))` (Hendrycks & Gimpel 2016, "Gaussian Error
//! Linear Units"; HF's `"gelu"`), as a fast CPU kernel.
//!
//! candle's CPU `gelu_erf` calls libm's scalar `erf` per element, which took ~20% of a
//! MiniLM forward pass here. This kernel uses Abramowitz & Stegun 7.1.26
//! (|erf error| ≤ 1.5e-7) with a branch-free `exp`, so the loop vectorizes; it is
//! compiled for AVX-512 and AVX2 (chosen at run time) and splits large tensors across
//! threads. Other devices and dtypes use candle's op.

use candle_core::{CpuStorage, CustomOp1, DType, Layout, Result, Shape, Tensor};
use rayon::prelude::*;

use super::contiguous_f32;

/// GELU (erf form) of `xs`, any shape.
///
/// Errors: candle's, for unsupported devices or dtypes.
pub fn gelu_erf(xs: &Tensor) -> Result<Tensor> {
    if xs.device().is_cpu() && xs.dtype() == DType::F32 && xs.is_contiguous() {
        xs.apply_op1_no_bwd(&GeluErf)
    } else {
        xs.gelu_erf()
    }
}

/// Elements per thread task; below four of these the work stays on one thread (a
/// single short text's activations are cheaper than a thread hand-off).
const CHUNK: usize = 16 * 1024;

struct GeluErf;

impl CustomOp1 for GeluErf {
    fn name(&self) -> &'static str {
        "gelu-erf-fast"
    }

    fn cpu_fwd(&self, storage: &CpuStorage, layout: &Layout) -> Result<(CpuStorage, Shape)> {
        let input = contiguous_f32(storage, layout, "gelu-erf-fast")?;
        let mut output = vec![0f32; input.len()];
        if input.len() < 4 * CHUNK {
            gelu_slice(input, &mut output);
        } else {
            output.par_chunks_mut(CHUNK).zip(input.par_chunks(CHUNK)).for_each(|(o, x)| gelu_slice(x, o));
        }
        Ok((CpuStorage::F32(output), layout.shape().clone()))
    }
}

/// GELU of each value, in place: the epilogue of a product that wrote `values` a
/// moment ago (they are still in L1), as one vectorized loop (it went through
/// [`gelu_slice`] 16 values at a time, copied, and cost ~10% of a batched int8
/// MiniLM forward, a third of the int8 products' time).
pub(crate) fn gelu_in_place(values: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked above).
            return unsafe { gelu_in_place_avx512(values) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA (checked above).
            return unsafe { gelu_in_place_avx2(values) };
        }
    }
    gelu_in_place_generic(values);
}

/// [`gelu_in_place_generic`] compiled for AVX-512.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn gelu_in_place_avx512(values: &mut [f32]) {
    gelu_in_place_generic(values);
}

/// [`gelu_in_place_generic`] compiled for AVX2 + FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gelu_in_place_avx2(values: &mut [f32]) {
    gelu_in_place_generic(values);
}

#[inline(always)]
fn gelu_in_place_generic(values: &mut [f32]) {
    for v in values {
        *v = gelu(*v);
    }
}

/// Picks the widest vector unit available.
fn gelu_slice(x: &[f32], out: &mut [f32]) {
    #[cfg(target_arch = "x86_64")]
    {
        if std::arch::is_x86_feature_detected!("avx512f") {
            // SAFETY: the CPU supports AVX-512F (checked above).
            return unsafe { gelu_avx512(x, out) };
        }
        if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
            // SAFETY: the CPU supports AVX2 and FMA (checked above).
            return unsafe { gelu_avx2(x, out) };
        }
    }
    gelu_generic(x, out);
}

/// [`gelu_generic`] compiled for AVX-512.
///
/// # Safety
/// The CPU must support AVX-512F.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx512f")]
unsafe fn gelu_avx512(x: &[f32], out: &mut [f32]) {
    gelu_generic(x, out);
}

/// [`gelu_generic`] compiled for AVX2 + FMA.
///
/// # Safety
/// The CPU must support AVX2 and FMA.
#[cfg(target_arch = "x86_64")]
#[target_feature(enable = "avx2,fma")]
unsafe fn gelu_avx2(x: &[f32], out: &mut [f32]) {
    gelu_generic(x, out);
}

#[inline(always)]
fn gelu_generic(x: &[f32], out: &mut [f32]) {
    for (o, &v) in out.iter_mut().zip(x) {
        *o = gelu(v);
    }
}

/// One element. `1 + erf(z)` is computed directly for z < 0 (as `p·e^{-z²}`), which
/// avoids cancellation in the negative tail.
#[inline(always)]
fn gelu(x: f32) -> f32 {
    const P: f32 = 0.327_591_1;
    const A: [f32; 5] = [0.254_829_6, -0.284_496_74, 1.421_413_8, -1.453_152_1, 1.061_405_4];
    let z = x * std::f32::consts::FRAC_1_SQRT_2;
    let a = z.abs();
    let t = 1.0 / (1.0 + P * a);
    let poly = t * (A[0] + t * (A[1] + t * (A[2] + t * (A[3] + t * A[4]))));
    let tail = poly * exp_nonpositive(-(a * a));
    let one_plus_erf = if z >= 0.0 { 2.0 - tail } else { tail };
    0.5 * x * one_plus_erf
}

/// `e^y` for `y ≤ 0` (clamped below at -87, where it underflows anyway), relative error
/// ~2e-7: `2^n · e^r` with `n = round(y·log2 e)` (magic-number rounding, so it
/// vectorizes) and a degree-6 Taylor polynomial on `|r| ≤ ln2/2`.
#[inline(always)]
pub(crate) fn exp_nonpositive(y: f32) -> f32 {
    const LN2_HI: f32 = 0.693_145_75;
    const LN2_LO: f32 = 1.428_606_8e-6;
    const ROUND: f32 = 12_582_912.0; // 1.5 · 2^23
    let y = y.max(-87.0);
    let shifted = y * std::f32::consts::LOG2_E + ROUND;
    let n = shifted - ROUND;
    let r = y - n * LN2_HI - n * LN2_LO;
    let p = 1.0 + r * (1.0 + r * (0.5 + r * (1.0 / 6.0 + r * (1.0 / 24.0 + r * (1.0 / 120.0 + r * (1.0 / 720.0))))));
    // `shifted` lies in [2²³, 2²⁴), where the float's step is 1: its mantissa holds
    // `n` above ROUND's, so its bits give `n` as an integer by subtraction. (`n as i32`,
    // a saturating cast, compiled to one scalar convert and two compares per lane and
    // made GELU a third of the int8 products' time.)
    let n_int = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
    let scale = f32::from_bits(((n_int + 127) << 23) as u32);
    p * scale
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reference(x: f64) -> f64 {
        // erf via its convergent series / continued fraction would be long; libm's erf
        // (what candle uses) is the reference here.
        0.5 * x * (1.0 + libm_erf(x / std::f64::consts::SQRT_2))
    }

    fn libm_erf(x: f64) -> f64 {
        candle_core::Tensor::new(&[x], &candle_core::Device::Cpu)
            .and_then(|t| t.erf())
            .and_then(|t| t.to_vec1::<f64>())
            .map(|v| v[0])
            .unwrap()
    }

    #[test]
    fn matches_the_exact_gelu_across_the_range() {
        let mut worst = 0f64;
        for i in -4000..=4000 {
            let x = i as f64 / 250.0; // [-16, 16]
            let got = gelu(x as f32) as f64;
            let err = (got - reference(x)).abs() / (1.0 + x.abs());
            worst = worst.max(err);
        }
        assert!(worst < 5e-7, "worst scaled error {worst}");
    }

    #[test]
    fn exp_is_accurate_on_its_domain() {
        for i in 0..=870 {
            let y = -(i as f32) / 10.0;
            let (got, want) = (exp_nonpositive(y) as f64, (y as f64).exp());
            assert!((got - want).abs() <= 3e-7 * want + 1e-38, "exp({y}) = {got}, want {want}");
        }
    }

    #[test]
    fn exp_takes_its_exponent_from_the_bits_as_the_cast_would() {
        const ROUND: f32 = 12_582_912.0;
        for i in 0..=200_000 {
            let y = -(i as f32) / 2_000.0 - if i % 2 == 0 { 0.0 } else { 1e-4 };
            let n = (y.max(-87.0) * std::f32::consts::LOG2_E + ROUND) - ROUND;
            let scale = f32::from_bits(((n as i32 + 127) << 23) as u32);
            let shifted = y.max(-87.0) * std::f32::consts::LOG2_E + ROUND;
            let n_int = (shifted.to_bits() as i32).wrapping_sub(ROUND.to_bits() as i32);
            assert_eq!(n_int, n as i32, "y = {y}");
            assert!(scale.is_normal() && exp_nonpositive(y).is_finite(), "y = {y}");
        }
        assert_eq!(exp_nonpositive(f32::NAN), exp_nonpositive(-87.0), "NaN clamps as -87");
        assert_eq!(exp_nonpositive(f32::NEG_INFINITY), exp_nonpositive(-87.0));
    }

    #[test]
    fn in_place_equals_the_element_function_on_every_path() {
        // A ragged length (a vector remainder) over [-16, 16].
        let xs: Vec<f32> = (0..1001).map(|i| (i as f32 - 500.0) / 31.25).collect();
        let want: Vec<f32> = xs.iter().map(|&x| gelu(x)).collect();
        type Path = (&'static str, fn(&mut [f32]));
        let mut paths: Vec<Path> = vec![("portable", gelu_in_place_generic), ("chosen", gelu_in_place)];
        #[cfg(target_arch = "x86_64")]
        {
            fn avx512(v: &mut [f32]) {
                // SAFETY: only pushed when the CPU has AVX-512F.
                unsafe { gelu_in_place_avx512(v) }
            }
            fn avx2(v: &mut [f32]) {
                // SAFETY: only pushed when the CPU has AVX2 and FMA.
                unsafe { gelu_in_place_avx2(v) }
            }
            if std::arch::is_x86_feature_detected!("avx512f") {
                paths.push(("avx512", avx512));
            } else {
                crate::model::kernels::test_support::report_not_run("gelu-avx512", "this CPU lacks AVX-512F");
            }
            if std::arch::is_x86_feature_detected!("avx2") && std::arch::is_x86_feature_detected!("fma") {
                paths.push(("avx2", avx2));
            } else {
                crate::model::kernels::test_support::report_not_run("gelu-avx2", "this CPU lacks AVX2/FMA");
            }
        }
        for (name, path) in paths {
            let mut got = xs.clone();
            path(&mut got);
            for (i, (g, w)) in got.iter().zip(&want).enumerate() {
                assert_eq!(g.to_bits(), w.to_bits(), "{name}: gelu({}) = {g}, want {w}", xs[i]);
            }
        }
    }

    #[test]
    fn the_op_agrees_with_candles_on_a_large_tensor() {
        let xs = Tensor::randn(0f32, 3.0, (300, 257), &candle_core::Device::Cpu).unwrap();
        let fast = gelu_erf(&xs).unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let slow = xs.gelu_erf().unwrap().flatten_all().unwrap().to_vec1::<f32>().unwrap();
        for (a, b) in fast.iter().zip(&slow) {
            assert!((a - b).abs() <= 2e-6 * (1.0 + b.abs()), "{a} vs {b}");
        }
    }
}

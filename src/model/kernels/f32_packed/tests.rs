use super::*;
use crate::model::kernels::test_support::{random, report_not_run};

/// Shapes with ragged `n` (not a multiple of 16), ragged row tiles (not of 6 or 12),
/// one step, more rows than one L2 chunk (several passes over the weights), and few
/// rows (tiles over several panels, with a ragged group and a ragged panel at the end).
const SHAPES: [(usize, usize, usize); 16] = [
    (25, 64, 33),
    (1, 37, 200),
    (2, 50, 130),
    (3, 20, 100),
    (5, 33, 70),
    (13, 40, 150),
    (1, 384, 1536),
    (1, 1, 1),
    (1, 7, 16),
    (7, 37, 23),
    (13, 384, 1152),
    (23, 384, 1536),
    (3, 1536, 5),
    (64, 96, 40),
    (300, 384, 40),
    (0, 8, 8),
];

/// Every vector path gives bit-identical outputs to the scalar reference (same order
/// of fused multiply-adds); a path this CPU lacks is reported as not run.
#[test]
fn vector_paths_equal_the_scalar_reference() {
    for (isa, lacks) in [(F32Isa::Avx512F, "AVX-512F"), (F32Isa::Avx2Fma, "AVX2 + FMA")] {
        if !isa.available() {
            report_not_run(isa.name(), &format!("this CPU lacks {lacks}"));
            continue;
        }
        for (m, k, n) in SHAPES {
            let x = random(m * k, (m * k + 1) as u64);
            let w = random(k * n, (k + n) as u64);
            let b = random(n, n as u64);
            let weight = PackedF32::pack(&w, k, n);
            let reference = linear_on(F32Isa::Reference, &x, m, &weight, &b, Epilogue::None);
            let got = linear_on(isa, &x, m, &weight, &b, Epilogue::None);
            assert!(got == reference, "m={m} k={k} n={n}: {} differs from the reference", isa.name());
            if F32Isa::chosen().or(F32Isa::detect()) == Some(isa) {
                assert_eq!(linear(&x, m, &weight, &b), got, "linear runs the chosen path");
            }
        }
    }
}

/// The reference is the product `x·Wᵀ + b` to f32 rounding (an f64 sum as the truth).
#[test]
fn reference_is_the_product() {
    for (m, k, n) in SHAPES {
        let x = random(m * k, (m * k + 1) as u64);
        let w = random(k * n, (k + n) as u64);
        let b = random(n, n as u64);
        let got = linear_on(F32Isa::Reference, &x, m, &PackedF32::pack(&w, k, n), &b, Epilogue::None);
        assert_eq!(got.len(), m * n);
        for r in 0..m {
            for c in 0..n {
                let exact: f64 =
                    (0..k).map(|i| f64::from(x[r * k + i]) * f64::from(w[i * n + c])).sum::<f64>() + f64::from(b[c]);
                let bound = 1e-6 * (k as f64 + 1.0) * 4.0;
                let value = f64::from(got[r * n + c]);
                assert!((value - exact).abs() <= bound, "m={m} k={k} n={n} [{r},{c}]: {value} vs {exact}");
            }
        }
    }
}

/// Panels are `[n_blocks][k][16]` with the channels past `n` zero.
#[test]
fn packing_pads_the_last_panel_with_zeros() {
    let (k, n) = (3, 20);
    let w: Vec<f32> = (0..k * n).map(|i| i as f32 + 1.0).collect();
    let packed = PackedF32::pack(&w, k, n);
    assert_eq!(packed.bytes(), 2 * k * 64);
    assert_eq!((packed.in_features(), packed.out_features()), (k, n));
    // Step 1, channel 17 lives in panel 1, lane 1.
    assert_eq!(packed.lines[k + 1].0[1], w[n + 17]);
    assert!(packed.lines[k..].iter().all(|line| line.0[4..].iter().all(|&v| v == 0.0)));
}

/// The GELU epilogue equals the product followed by the GELU kernel, on every path.
#[test]
fn gelu_epilogue_equals_product_then_gelu() {
    let device = candle_core::Device::Cpu;
    for isa in [F32Isa::Reference, F32Isa::Avx2Fma, F32Isa::Avx512F].into_iter().filter(|isa| isa.available()) {
        for (m, k, n) in SHAPES {
            let x = random(m * k, (m * k + 1) as u64);
            let w = random(k * n, (k + n) as u64);
            let b = random(n, n as u64);
            let weight = PackedF32::pack(&w, k, n);
            let plain = linear_on(isa, &x, m, &weight, &b, Epilogue::None);
            let fused = linear_on(isa, &x, m, &weight, &b, Epilogue::GeluErf);
            let want =
                crate::model::kernels::gelu::gelu_erf(&candle_core::Tensor::from_vec(plain, m * n, &device).unwrap())
                    .unwrap()
                    .to_vec1::<f32>()
                    .unwrap();
            assert!(fused == want, "{} m={m} k={k} n={n}", isa.name());
        }
    }
}

/// The override names gemm or a path this CPU runs; anything else is refused.
#[test]
fn kernel_override_names_gemm_or_a_runnable_path() {
    assert_eq!(F32Isa::by_name("f32-gemm"), Ok(None));
    assert!(F32Isa::by_name("f32-packed-avx3").is_err());
    assert!(F32Isa::by_name("f32-packed-reference").is_err());
    for isa in [F32Isa::Avx512F, F32Isa::Avx2Fma] {
        assert_eq!(F32Isa::by_name(isa.name()).is_ok(), isa.available(), "{}", isa.name());
    }
}

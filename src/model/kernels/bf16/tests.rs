use super::*;
use crate::model::kernels::test_support::{gelu_of, random, report_not_run};

/// The GELU epilogue equals the product followed by the GELU kernel, on each path
/// this CPU runs, with the columns split over threads (13×384×1152) or not.
#[test]
fn gelu_epilogue_equals_product_then_gelu() {
    for native_path in [false, true].into_iter().filter(|&p| !p || native()) {
        for (m, k, n) in [(7, 37, 23), (13, 384, 1152)] {
            let x = random(m * k, (m * k) as u64);
            let w = random(k * n, (k + n) as u64);
            let b = random(n, n as u64);
            let weight = Bf16Weight::pack(&w, k, n);
            let plain = linear_on(native_path, &x, m, &weight, &b, Epilogue::None);
            let fused = linear_on(native_path, &x, m, &weight, &b, Epilogue::GeluErf);
            assert!(fused == gelu_of(plain), "native={native_path} m={m} k={k} n={n}");
        }
    }
}

/// The AVX-512 BF16 path equals the scalar reference to f32 rounding (the
/// instruction may round its pair sum differently), on ragged shapes (row tiles,
/// row chunks of 48 and block chunks of 4 included); both are
/// within bf16 error of the f32 product.
#[test]
fn native_path_matches_the_scalar_reference() {
    if !native() {
        report_not_run("bf16 avx512-bf16", "this CPU lacks AVX-512 BF16");
    }
    for (m, k, n) in [(1, 2, 16), (7, 37, 23), (13, 384, 1152), (3, 1536, 5), (50, 64, 147)] {
        let x = random(m * k, (m * k) as u64);
        let w = random(k * n, (k + n) as u64);
        let b = random(n, n as u64);
        let weight = Bf16Weight::pack(&w, k, n);
        let reference = linear_on(false, &x, m, &weight, &b, Epilogue::None);
        if native() {
            let got = linear_on(true, &x, m, &weight, &b, Epilogue::None);
            for (i, (g, r)) in got.iter().zip(&reference).enumerate() {
                assert!((g - r).abs() <= 1e-5 * (k as f32).sqrt(), "m={m} k={k} n={n} [{i}]: {g} vs {r}");
            }
        }
        for r in 0..m {
            for c in 0..n {
                let exact: f32 = (0..k).map(|i| x[r * k + i] * w[i * n + c]).sum::<f32>() + b[c];
                let got = reference[r * n + c];
                assert!((got - exact).abs() <= 0.01 * (k as f32).sqrt(), "[{r},{c}]: {got} vs {exact}");
            }
        }
    }
}

#[test]
fn bf16_rounding_is_to_nearest_even_and_round_trips() {
    assert_eq!(from_bf16(to_bf16(1.0)), 1.0);
    assert_eq!(from_bf16(to_bf16(-2.5)), -2.5);
    // 1 + 2⁻⁸ lies halfway between 1 and 1 + 2⁻⁷: ties go to the even mantissa (1).
    assert_eq!(from_bf16(to_bf16(1.0 + 1.0 / 256.0)), 1.0);
    let w = random(6 * 5, 3);
    let packed = Bf16Weight::pack(&w, 6, 5);
    for (a, b) in packed.to_f32().iter().zip(&w) {
        assert!((a - b).abs() <= b.abs() / 128.0);
    }
}

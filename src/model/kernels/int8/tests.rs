use super::*;
use crate::model::kernels::test_support::{gelu_of, random, report_not_run};

/// The GELU epilogue equals the product followed by the GELU kernel, on every path
/// this CPU runs, with the columns split over threads (13×384×1152) or not.
#[test]
fn gelu_epilogue_equals_product_then_gelu() {
    for isa in [Int8Isa::Portable, Int8Isa::Avx2, Int8Isa::Avx512Vnni].into_iter().filter(|i| i.available()) {
        for (m, k, n) in [(7, 37, 23), (13, 384, 1152)] {
            let x = random(m * k, (m * k) as u64);
            let w = random(k * n, (k + n) as u64);
            let b = random(n, n as u64);
            let weight = QuantizedWeight::quantize(&w, k, n);
            let plain = linear_on(isa, &x, m, &weight, &b, Epilogue::None);
            let fused = linear_on(isa, &x, m, &weight, &b, Epilogue::GeluErf);
            assert!(fused == gelu_of(plain), "{isa:?} m={m} k={k} n={n}");
        }
    }
}

/// Every available path gives bit-identical outputs to the portable reference, for
/// shapes with ragged `k` (not a multiple of 4), ragged `n` (not of 16), ragged row
/// tiles and ragged row and block chunks (50 rows, 10 blocks); and the result is close
/// to the f32 product.
#[test]
fn vector_paths_equal_the_scalar_reference() {
    for isa in [Int8Isa::Avx2, Int8Isa::Avx512Vnni] {
        if !isa.available() {
            report_not_run(&format!("int8 {isa:?}"), "this CPU lacks it");
        }
    }
    for (m, k, n) in [(1, 4, 16), (7, 37, 23), (13, 384, 1152), (64, 96, 40), (3, 1536, 5), (50, 64, 147)] {
        let x = random(m * k, (m * k) as u64);
        let w = random(k * n, (k + n) as u64);
        let b = random(n, n as u64);
        let weight = QuantizedWeight::quantize(&w, k, n);
        let reference = linear_on(Int8Isa::Portable, &x, m, &weight, &b, Epilogue::None);
        for isa in [Int8Isa::Avx2, Int8Isa::Avx512Vnni] {
            if isa.available() {
                assert_eq!(linear_on(isa, &x, m, &weight, &b, Epilogue::None), reference, "{isa:?} m={m} k={k} n={n}");
            }
        }
        // Against f32: error bounded by the two quantization steps.
        for r in 0..m {
            for c in 0..n {
                let exact: f32 = (0..k).map(|i| x[r * k + i] * w[i * n + c]).sum::<f32>() + b[c];
                let got = reference[r * n + c];
                let bound = 0.02 * (k as f32).sqrt() + 1e-3;
                assert!((got - exact).abs() <= bound, "m={m} k={k} n={n} [{r},{c}]: {got} vs {exact}");
            }
        }
    }
}

/// The AVX-512 row quantization gives the scalar form's bytes, scales and zero
/// points: ragged widths, one-signed, all-zero and NaN-holding rows.
#[test]
fn vector_row_quantization_equals_the_scalar_form() {
    if Int8Isa::detect() != Int8Isa::Avx512Vnni {
        report_not_run("int8 row quantization (AVX-512F)", "this CPU lacks AVX-512 VNNI");
        return;
    }
    for (m, k) in [(1, 1), (3, 15), (5, 16), (7, 37), (23, 384), (2, 1536)] {
        let mut x = random(m * k, (m + 3 * k) as u64);
        x.iter_mut().step_by(5).for_each(|v| *v *= 40.0);
        if m > 2 {
            x[k..2 * k].iter_mut().for_each(|v| *v = v.abs());
            x[2 * k..3 * k].fill(0.0);
            x[k] = f32::NAN;
        }
        let (scalar, vector) = (quantize_rows_on(false, &x, m, k), quantize_rows_on(true, &x, m, k));
        assert_eq!(vector.data, scalar.data, "m={m} k={k}");
        assert_eq!(vector.scales, scalar.scales, "m={m} k={k}");
        assert_eq!(vector.zero_points, scalar.zero_points, "m={m} k={k}");
    }
}

#[test]
fn quantization_round_trips_within_half_a_step() {
    let (k, n) = (33, 17);
    let w = random(k * n, 7);
    let q = QuantizedWeight::quantize(&w, k, n);
    let back = q.dequantize();
    for c in 0..n {
        let step = q.scales[c];
        for kk in 0..k {
            assert!((back[kk * n + c] - w[kk * n + c]).abs() <= step / 2.0 + 1e-7);
        }
    }
    // Rows with one sign, and an all-zero channel and row, round-trip.
    let positive: Vec<f32> = random(k, 9).iter().map(|v| v.abs()).collect();
    let rows = quantize_rows(&positive, 1, k);
    assert_eq!(rows.zero_points[0], 0);
    let negative: Vec<f32> = positive.iter().map(|v| -v).collect();
    assert_eq!(quantize_rows(&negative, 1, k).zero_points[0], 255);
    // An all-zero channel and an all-zero row stay exactly zero.
    let zeros = QuantizedWeight::quantize(&vec![0.0; k * n], k, n);
    assert!(zeros.dequantize().iter().all(|&v| v == 0.0));
    let out = linear(&vec![0.0; 2 * k], 2, &q, &vec![0.5; n]);
    assert!(out.iter().all(|&v| v == 0.5));
}

//! Times the f32 linear products of MiniLM- and distilbert-sized layers at the row
//! counts of single texts and batches: the gemm path (`kernels::linear`, `Wᵀ` read
//! in place, columns split per call) against the weights pre-packed at load
//! (`kernels::f32_packed`) on every vector path this CPU has, all on all cores:
//! `cargo run --release --example matmul_shapes`.

use candle_core::{Device, Tensor};
use sentiserve::model::kernels::{f32_packed, linear};

fn main() {
    let device = Device::Cpu;
    let paths: Vec<_> =
        [f32_packed::F32Isa::Avx512F, f32_packed::F32Isa::Avx2Fma].into_iter().filter(|isa| isa.available()).collect();
    let names: Vec<_> = paths.iter().map(|isa| isa.name()).collect();
    println!("packed paths: {}", if names.is_empty() { "none on this CPU".into() } else { names.join(", ") });
    for (m, k, n) in [
        (1, 384, 1536),
        (23, 384, 1152),
        (23, 384, 1536),
        (23, 1536, 384),
        (23, 768, 3072),
        (23, 3072, 768),
        (180, 384, 1536),
        (600, 384, 1536),
        (600, 768, 3072),
    ] {
        let x = Tensor::randn(0f32, 1.0, (m, k), &device).unwrap();
        let wt = Tensor::randn(0f32, 1.0, (k, n), &device).unwrap();
        let b = Tensor::randn(0f32, 1.0, n, &device).unwrap();
        let iterations = (3e9 / (2.0 * (m * k * n) as f64)).clamp(5.0, 2000.0) as usize;
        let time = |f: &dyn Fn()| {
            f();
            let t = std::time::Instant::now();
            for _ in 0..iterations {
                f();
            }
            t.elapsed().as_secs_f64() / iterations as f64
        };
        let gemm = time(&|| {
            linear::linear(&x, &wt, &b).unwrap();
        });
        let gflop = 2.0 * (m * k * n) as f64 / 1e9;
        let mut line = format!("{m:>4}x{k:>4}x{n:>4}: gemm {:7.1} µs ({:4.0} GFLOP/s)", gemm * 1e6, gflop / gemm);
        let xs = x.flatten_all().unwrap().to_vec1::<f32>().unwrap();
        let bs = b.to_vec1::<f32>().unwrap();
        let weight = f32_packed::PackedF32::pack(&wt.flatten_all().unwrap().to_vec1::<f32>().unwrap(), k, n);
        for &isa in &paths {
            let packed = time(&|| {
                f32_packed::linear_on(isa, &xs, m, &weight, &bs, f32_packed::Epilogue::None);
            });
            line += &format!(
                "   {} {:7.1} µs ({:4.0} GFLOP/s, {:.2}x)",
                isa.name().trim_start_matches("f32-packed-"),
                packed * 1e6,
                gflop / packed,
                gemm / packed
            );
        }
        println!("{line}");
    }
}

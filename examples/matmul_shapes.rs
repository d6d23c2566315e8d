//! Compares `x·Wᵀ` (stored transposed, [m,k]·[k,n]) with `(W·xᵀ)ᵀ` ([n,k]·[k,m]) for
//! the small-m shapes of single-text inference: `cargo run --release --example matmul_shapes`.

use candle_core::{Device, Tensor};

fn main() {
    let device = Device::Cpu;
    for (m, k, n) in
        [(23, 384, 1152), (23, 384, 1536), (23, 1536, 384), (23, 768, 3072), (180, 384, 1536), (600, 384, 1536)]
    {
        let x = Tensor::randn(0f32, 1.0, (m, k), &device).unwrap();
        let w = Tensor::randn(0f32, 1.0, (n, k), &device).unwrap();
        let wt = w.t().unwrap().contiguous().unwrap();
        let iterations = 300;
        let time = |f: &dyn Fn() -> Tensor| {
            f();
            let t = std::time::Instant::now();
            for _ in 0..iterations {
                f();
            }
            t.elapsed().as_secs_f64() / iterations as f64
        };
        let normal = time(&|| x.matmul(&wt).unwrap());
        let flipped = time(&|| w.matmul(&x.t().unwrap()).unwrap().t().unwrap().contiguous().unwrap());
        let gflop = 2.0 * (m * k * n) as f64 / 1e9;
        println!(
            "{m:>4}x{k:>4}x{n:>4}: x·Wt {:6.1} µs ({:4.0} GFLOP/s)   (W·xt)t {:6.1} µs ({:4.0} GFLOP/s)",
            normal * 1e6,
            gflop / normal,
            flipped * 1e6,
            gflop / flipped
        );
    }
}

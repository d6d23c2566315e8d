//! Times one linear layer `[m, k]·[k, n] + b` in f32 (gemm), int8 (dynamic
//! quantization, VNNI), bf16 (AVX-512 BF16) and, as the library route, candle's
//! `QMatMul` with GGML q8_0 blocks (no bias), on the encoder's shapes:
//! `cargo run --release --example dtype_shapes`.

use candle_core::quantized::{GgmlDType, QMatMul, QTensor};
use candle_core::{Device, Module, Tensor};
use sentiserve::model::kernels::{bf16, int8, linear};

fn time(mut f: impl FnMut(), work: f64) -> f64 {
    f();
    let started = std::time::Instant::now();
    let mut n = 0;
    while started.elapsed().as_secs_f64() < 0.3 {
        f();
        n += 1;
    }
    work * n as f64 / started.elapsed().as_secs_f64() / 1e9
}

fn main() {
    println!("int8 path {:?}, bf16 native {}", int8::Int8Isa::detect(), bf16::native());
    for (k, n) in [(384, 1152), (384, 1536), (1536, 384), (768, 2304), (768, 3072), (3072, 768)] {
        for m in [20, 160, 640] {
            let x = Tensor::randn(0f32, 1.0, (m, k), &Device::Cpu).unwrap();
            let w = Tensor::randn(0f32, 0.05, (k, n), &Device::Cpu).unwrap();
            let b = Tensor::zeros(n, candle_core::DType::F32, &Device::Cpu).unwrap();
            let (xv, wv) = (
                x.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
                w.flatten_all().unwrap().to_vec1::<f32>().unwrap(),
            );
            let bv = vec![0f32; n];
            let q = int8::QuantizedWeight::quantize(&wv, k, n);
            let h = bf16::Bf16Weight::pack(&wv, k, n);
            let work = 2.0 * (m * k * n) as f64;
            let f32_rate = time(|| drop(linear::linear(&x, &w, &b).unwrap()), work);
            let int8_rate = time(|| drop(int8::linear(&xv, m, &q, &bv)), work);
            let bf16_rate = time(|| drop(bf16::linear(&xv, m, &h, &bv)), work);
            // GGML layout: the weight as [n, k].
            let q8_0 = QMatMul::from_qtensor(
                QTensor::quantize(&w.t().unwrap().contiguous().unwrap(), GgmlDType::Q8_0).unwrap(),
            )
            .unwrap();
            let q8_rate = time(|| drop(q8_0.forward(&x).unwrap()), work);
            println!(
                "m {m:4} k {k:4} n {n:4}: f32 {f32_rate:6.1}  int8 {int8_rate:6.1} ({:.2}x)  bf16 {bf16_rate:6.1} ({:.2}x)  candle q8_0 {q8_rate:6.1} ({:.2}x)  GOP/s",
                int8_rate / f32_rate,
                bf16_rate / f32_rate,
                q8_rate / f32_rate
            );
        }
    }
}

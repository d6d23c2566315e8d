use super::*;
use candle_core::{Device, IndexOp};

/// The padded reference: softmax(QKᵀ/√d)V per sequence with candle ops.
fn reference(qkv: &Tensor, segments: &[(usize, usize)], heads: usize) -> Tensor {
    let hidden = qkv.dim(1).unwrap() / 3;
    let d = hidden / heads;
    let parts: Vec<Tensor> = segments
        .iter()
        .map(|&(first, len)| {
            let rows = qkv.narrow(0, first, len).unwrap();
            let split = |i: usize| {
                rows.narrow(1, i * hidden, hidden)
                    .unwrap()
                    .reshape((len, heads, d))
                    .unwrap()
                    .transpose(0, 1)
                    .unwrap()
                    .contiguous()
                    .unwrap()
            };
            let (q, k, v) = (split(0), split(1), split(2));
            let scores = (q.matmul(&k.t().unwrap()).unwrap() / (d as f64).sqrt()).unwrap();
            let probs = candle_nn::ops::softmax_last_dim(&scores).unwrap();
            probs.matmul(&v).unwrap().transpose(0, 1).unwrap().reshape((len, hidden)).unwrap()
        })
        .collect();
    Tensor::cat(&parts, 0).unwrap()
}

/// On the calling thread (19k multiply-adds) and split over the barrier pool in parts
/// of equal work (197k, 1.3M): the same answers as the padded form, with heads of 12
/// and 16 lanes, and of 32 and 64 (in AVX-512 registers where the CPU has them).
#[test]
fn matches_padded_attention_for_all_queries_and_first_only() {
    type Case = (&'static [(usize, usize)], usize, usize);
    let cases: [Case; 5] = [
        (&[(0, 5), (5, 1), (6, 17), (23, 9)], 4, 48),
        (&[(0, 64)], 4, 48),
        (&[(0, 100), (100, 3), (103, 60)], 6, 96),
        (&[(0, 5), (5, 1), (6, 17), (23, 9)], 2, 64),
        (&[(0, 23), (23, 64)], 2, 128),
    ];
    for (segments, heads, hidden) in cases {
        let total: usize = segments.iter().map(|&(_, len)| len).sum();
        let work: usize = segments.iter().map(|&(_, len)| len * len).sum::<usize>() * hidden;
        let qkv = Tensor::randn(0f32, 1.0, (total, 3 * hidden), &Device::Cpu).unwrap();
        let shared: Segments = segments.into();
        let want = reference(&qkv, segments, heads);
        let got = packed_attention(&qkv, &shared, heads, false).unwrap();
        let diff = (got - &want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
        assert!(diff < 1e-5, "work {work}: max difference {diff}");
        let firsts = packed_attention(&qkv, &shared, heads, true).unwrap();
        for (i, &(first, _)) in segments.iter().enumerate() {
            let a = firsts.i(i).unwrap();
            let b = want.i(first).unwrap();
            let diff = (a - b).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
            assert!(diff < 1e-5, "work {work}, sequence {i}: {diff}");
        }
    }
}

/// A window equals the padded form with keys beyond it masked.
#[test]
fn window_matches_masked_reference() {
    // Heads of 4 lanes (the portable form) and of 32 (AVX-512 registers, where the
    // CPU has them), windows inside one chunk of 16 keys and across chunks.
    for (len, heads, hidden, radius) in [(11, 2, 8, 3), (40, 2, 64, 5), (37, 1, 32, 20)] {
        window_case(len, heads, hidden, radius);
    }
}

fn window_case(len: usize, heads: usize, hidden: usize, radius: usize) {
    let qkv = Tensor::randn(0f32, 1.0, (len, 3 * hidden), &Device::Cpu).unwrap();
    let segments: Segments = vec![(0, len)].into();
    let variant = Variant { window: Some(radius), ..Variant::default() };
    let got = packed_attention_with(&qkv, &segments, heads, false, &variant).unwrap();
    let d = hidden / heads;
    let split = |i: usize| {
        qkv.narrow(1, i * hidden, hidden)
            .unwrap()
            .reshape((len, heads, d))
            .unwrap()
            .transpose(0, 1)
            .unwrap()
            .contiguous()
            .unwrap()
    };
    let mask: Vec<f32> = (0..len)
        .flat_map(|i| (0..len).map(move |j| if i.abs_diff(j) > radius { f32::NEG_INFINITY } else { 0.0 }))
        .collect();
    let mask = Tensor::from_vec(mask, (1, len, len), &Device::Cpu).unwrap();
    let scores = (split(0).matmul(&split(1).t().unwrap()).unwrap() / (d as f64).sqrt()).unwrap();
    let probs = candle_nn::ops::softmax_last_dim(&scores.broadcast_add(&mask).unwrap()).unwrap();
    let want = probs.matmul(&split(2)).unwrap().transpose(0, 1).unwrap().reshape((len, hidden)).unwrap();
    let diff = (got - want).unwrap().abs().unwrap().max_all().unwrap().to_scalar::<f32>().unwrap();
    assert!(diff < 1e-5, "len {len}, {heads} heads of {d}, radius {radius}: max difference {diff}");
}

#[test]
fn rejects_segments_outside_the_matrix() {
    let qkv = Tensor::zeros((4, 12), candle_core::DType::F32, &Device::Cpu).unwrap();
    let segments: Segments = vec![(2, 3)].into();
    assert!(packed_attention(&qkv, &segments, 2, false).is_err());
}

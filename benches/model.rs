//! Micro-benchmarks: tokenization, one forward pass at batch 1/8/32 (MiniLM and a
//! distilbert-base-shaped model), and a prediction-cache hit. Run with `make bench`
//! (or `cargo bench --bench model`); numbers are per iteration, throughput in texts.

use std::path::PathBuf;
use std::sync::Arc;

use candle_core::Device;
use criterion::{criterion_group, criterion_main, BenchmarkId, Criterion, Throughput};
use sentiserve::cache::{CacheConfig, CacheKey, PredictionCache};
#[path = "support/synthetic.rs"]
mod synthetic;

use sentiserve::model::{Encoded, Model, ModelFiles, Prediction, TextInput};
use synthetic::{write_distilbert, DistilBertShape};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn imdb(n: usize) -> Vec<String> {
    let text = std::fs::read_to_string(root().join("../shared/data/uci-sentiment/imdb.jsonl")).unwrap();
    text.lines()
        .take(n)
        .map(|l| serde_json::from_str::<serde_json::Value>(l).unwrap()["text"].as_str().unwrap().to_string())
        .collect()
}

fn load(dir: &std::path::Path) -> Model {
    Model::load(&ModelFiles::from_dir(dir).unwrap(), &Device::Cpu).unwrap()
}

/// The distilbert-base-shaped random checkpoint, generated once under target/.
fn distilbert_base() -> PathBuf {
    let dir = root().join("target/bench-models/distilbert-base-random");
    if !dir.join("model.safetensors").exists() {
        write_distilbert(&dir, DistilBertShape::BASE, &root().join("../shared/models/minilm-l6-sentiment")).unwrap();
    }
    dir
}

fn tokenize(c: &mut Criterion) {
    let model = load(&root().join("../shared/models/minilm-l6-sentiment"));
    let texts = imdb(32);
    let mut group = c.benchmark_group("tokenize");
    group.throughput(Throughput::Elements(texts.len() as u64));
    group.bench_function("imdb_32_texts", |b| {
        b.iter(|| texts.iter().map(|t| model.tokenize(t).unwrap().ids.len()).sum::<usize>())
    });
    group.finish();
}

fn forward(c: &mut Criterion) {
    let models =
        [("minilm", root().join("../shared/models/minilm-l6-sentiment")), ("distilbert_base", distilbert_base())];
    for (name, dir) in models {
        let model = load(&dir);
        let encoded: Vec<Encoded> = imdb(32).iter().map(|t| model.tokenize(t).unwrap()).collect();
        let mut group = c.benchmark_group(format!("forward_{name}"));
        group.sample_size(10);
        for batch in [1usize, 8, 32] {
            let refs: Vec<&Encoded> = encoded.iter().take(batch).collect();
            group.throughput(Throughput::Elements(batch as u64));
            group.bench_with_input(BenchmarkId::from_parameter(batch), &refs, |b, refs| {
                b.iter(|| model.logits(refs).unwrap())
            });
        }
        group.finish();
    }
}

fn cache_hit(c: &mut Criterion) {
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let cache = PredictionCache::new(CacheConfig::default());
    let key = CacheKey {
        model: "m".into(),
        identity: "f".into(),
        num_labels: 2,
        input: TextInput::single("a cached sentence").into(),
    };
    let compute = || async {
        Ok::<_, std::convert::Infallible>(Prediction { logits: Arc::from(vec![0.1f32, 0.9]), truncated: false })
    };
    runtime.block_on(cache.get_or_compute(key.clone(), compute())).unwrap();
    c.bench_function("cache_hit", |b| {
        b.iter(|| runtime.block_on(cache.get_or_compute(key.clone(), compute())).unwrap().1)
    });
}

criterion_group!(benches, tokenize, forward, cache_hit);
criterion_main!(benches);

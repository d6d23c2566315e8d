//! Runs MiniLM forward passes in a loop so a profiler can attribute the time:
//! `cargo run --release --example profile_forward -- BATCH ITERATIONS` (`MODEL_DIR`
//! for another model, `DTYPE=bf16|int8` for another precision; `EACH=1` runs each of the
//! first BATCH texts alone and prints the p50, as single requests see it).

use candle_core::Device;
use sentiserve::model::{Encoded, Model, ModelFiles};

fn main() {
    // As the server does.
    sentiserve::allocator::keep_large_buffers();
    let args: Vec<usize> = std::env::args().skip(1).map(|a| a.parse().unwrap()).collect();
    let (batch, iterations) = (args.first().copied().unwrap_or(8), args.get(1).copied().unwrap_or(20));
    let root = std::path::PathBuf::from(env!("CARGO_MANIFEST_DIR"));
    let dir = std::env::var("MODEL_DIR")
        .map(Into::into)
        .unwrap_or_else(|_| root.join("../shared/models/minilm-l6-sentiment"));
    let dtype: sentiserve::model::Dtype = std::env::var("DTYPE").unwrap_or_else(|_| "f32".into()).parse().unwrap();
    let model = Model::load_with(&ModelFiles::from_dir(&dir).unwrap(), &Device::Cpu, None, dtype).unwrap();
    let text = std::fs::read_to_string(root.join("../shared/data/uci-sentiment/imdb.jsonl")).unwrap();
    let encoded: Vec<Encoded> = text
        .lines()
        .take(batch)
        .map(|l| {
            model.tokenize(serde_json::from_str::<serde_json::Value>(l).unwrap()["text"].as_str().unwrap()).unwrap()
        })
        .collect();
    if std::env::var("SORTED").is_ok() {
        // All distinct texts, length-sorted and chunked as the batcher does.
        let mut all: Vec<Encoded> = text
            .lines()
            .take(512)
            .map(|l| {
                model.tokenize(serde_json::from_str::<serde_json::Value>(l).unwrap()["text"].as_str().unwrap()).unwrap()
            })
            .collect();
        all.sort_by_key(|e| e.ids.len());
        let started = std::time::Instant::now();
        for chunk in all.chunks(batch) {
            model.logits(&chunk.iter().collect::<Vec<_>>()).unwrap();
        }
        let wall = started.elapsed().as_secs_f64();
        println!("sorted, batch {batch}: {:.1} texts/s over {} texts", all.len() as f64 / wall, all.len());
        return;
    }
    if std::env::var("EACH").is_ok() {
        // Each of the first BATCH texts alone, as single requests run: the p50 over them.
        // GAP_US: idle time between texts, as the gaps between single requests.
        let gap = std::time::Duration::from_micros(std::env::var("GAP_US").map_or(0, |g| g.parse().unwrap()));
        let mut times = Vec::new();
        for _ in 0..iterations.max(1) {
            for e in &encoded {
                std::thread::sleep(gap);
                let started = std::time::Instant::now();
                model.logits(&[e]).unwrap();
                times.push(started.elapsed().as_secs_f64() * 1e3);
            }
        }
        let mean = times.iter().sum::<f64>() / times.len() as f64;
        times.sort_by(f64::total_cmp);
        let (p50, p90) = (times[times.len() / 2], times[times.len() * 9 / 10]);
        println!("each of {batch} texts alone: p50 {p50:.3} ms, p90 {p90:.3} ms, mean {mean:.3} ms");
        return;
    }
    let refs: Vec<&Encoded> = encoded.iter().collect();
    let started = std::time::Instant::now();
    for _ in 0..iterations {
        model.logits(&refs).unwrap();
    }
    let per = started.elapsed().as_secs_f64() / iterations as f64;
    let tokens: usize = encoded.iter().map(|e| e.ids.len()).sum();
    println!("batch {batch}: {:.2} ms per forward, {:.1} texts/s, {tokens} tokens", per * 1e3, batch as f64 / per);
}

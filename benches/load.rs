//! The load benchmark behind `make bench`: starts the release server, drives it over
//! loopback and, when its Python environment exists, runs the transformers pipeline on
//! the same texts, threads and batch sizes, so every ratio comes from one run.
//!
//! Workloads, per model (the shared MiniLM, and random models shaped like
//! distilbert-base, deberta-v3-base and ModernBERT-base; `BENCH_MODELS=minilm,distilbert`
//! picks a subset by name prefix):
//! - all-miss: 512 distinct IMDb sentences, one text per request, 32 in flight;
//! - single: the corpus's first 512 sentences (the ones ONNX Runtime's and the
//!   pipeline's batch-1 latency is taken over), one request at a time, each computed
//!   afresh (`Cache-Control: no-store`);
//! - all-hit: the cached sentences again, 16 and then 32 in flight, keep-alive;
//! - zipf: 4,000 requests over 2,000 sentences with Zipf(1.1) popularity, 16 in flight.
//!
//! First, the hit-path anchor: `examples/bare_hit.rs` (axum + one moka lookup) under
//! the all-hit workload; each model's f32 all-hit throughput is printed as a share of it.
//! Then the cache parts (`support/hits.rs`): the hit path under `wrk` at 16 and 64
//! connections against the bare endpoint, and the variant stream with token keys
//! against exact-text keys.
//!
//! Every model runs in each dtype (`--dtype f32|bf16|int8`; `BENCH_DTYPES` picks a
//! subset). When the Python environment also has
//! onnxruntime, `../shared/bench/onnxruntime_baseline.py` (f32 and int8) runs beside
//! PyTorch on MiniLM and distilbert-base. The run ends with one table: system × dtype ×
//! batch → sentences/s, p50, achieved GOP/s and its share of the machine's peak
//! (written to `target/bench/table.md` too).
//!
//! Peak: 2 cores × 2.8 GHz (the shared bench README's clock) × two 512-bit units per
//! core: f32 FMA 2 × 16 lanes × 2 ops = 64 op/cycle → 358 GOP/s; bf16 `vdpbf16ps`
//! 2 × 32 × 2 = 128 → 717 GOP/s; int8 `vpdpbusd` 2 × 64 × 2 = 256 → 1,434 GOP/s. Ops
//! are counted as in f32 (2 per multiply-add of the model's products).
//!
//! Last, the tasks (`support/tasks.rs`): zero-shot classification (4 labels) and rerank
//! (1 query × 16 texts) on the tiny random-weight fixtures, beside PyTorch
//! (`support/task_baselines.py`: the zero-shot pipeline and a cross-encoder) on the same
//! inputs and threads; `BENCH_MODELS=tasks` runs them without the models above.
//! `support/files.rs`: `sentiserve analyze --input FILE` on IMDb against the server's
//! all-miss rate (`BENCH_MODELS=files` for it alone).
//!
//! Environment: `PYTORCH_PYTHON` (default /tmp/ptvenv/bin/python), `BENCH_SECONDS` for
//! the all-hit run (default 5), `BENCH_HIT_ROUNDS` for the hit path's interleaved
//! rounds (default 5), `BENCH_SKIP_PYTORCH=1`, and `BENCH_BASELINE_BIN=PATH`:
//! another sentiserve binary (e.g. a build of the previous commit) driven through the
//! same workloads right after this one, so an A/B comparison comes from one run.
//! `support/compare_runs.py` compares two runs' `target/bench/load.json` figure by
//! figure (the stability check: two runs an hour apart).

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

#[path = "support/files.rs"]
mod files;
#[path = "support/flops.rs"]
mod flops;
#[path = "support/hits.rs"]
mod hits;
#[path = "support/machine.rs"]
mod machine;
#[path = "support/synthetic.rs"]
mod synthetic;
#[path = "support/tasks.rs"]
mod tasks;

use sentiserve::model::{Model, ModelFiles};
use serde_json::{json, Value};
use synthetic::{
    write_deberta_v2, write_distilbert, write_modernbert, DebertaV2Shape, DistilBertShape, ModernBertShape,
};

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn texts(file: &str) -> Vec<String> {
    let text = std::fs::read_to_string(root().join("../shared/data/uci-sentiment").join(file)).unwrap();
    text.lines().map(|l| serde_json::from_str::<Value>(l).unwrap()["text"].as_str().unwrap().to_string()).collect()
}

struct Server {
    child: Child,
    base: String,
    ready: Duration,
}

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

async fn start(binary: &Path, dir: &Path, client: &reqwest::Client, dtype: &str) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let started = Instant::now();
    let mut command = Command::new(binary);
    command
        .args(["serve", "--port", &port.to_string(), "--default", "bench", "--queue-capacity", "100000"])
        .arg("--model")
        .arg(format!("bench={}", dir.display()));
    if dtype != "f32" {
        command.args(["--dtype", dtype]);
    }
    let child = command
        .env("RUST_LOG", "warn")
        .env("HF_HUB_OFFLINE", "1")
        // Not the repository root: a baseline binary must not read a newer manifest.
        .current_dir(dir)
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("build the release binary first: cargo build --release (make bench does)");
    let base = format!("http://127.0.0.1:{port}");
    loop {
        if let Ok(r) = client.get(format!("{base}/health")).send().await {
            if r.status() == 200 {
                break;
            }
        }
        assert!(started.elapsed() < Duration::from_secs(120), "server did not become ready");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Server { child, base, ready: started.elapsed() }
}

/// Latencies (ms) and wall time of one workload.
struct Run {
    latencies: Vec<f64>,
    wall: Duration,
    cached: usize,
}

impl Run {
    fn percentile(&self, p: f64) -> f64 {
        let mut sorted = self.latencies.clone();
        sorted.sort_by(f64::total_cmp);
        sorted[((sorted.len() - 1) as f64 * p).round() as usize]
    }
    fn rate(&self) -> f64 {
        self.latencies.len() as f64 / self.wall.as_secs_f64()
    }
}

/// Sends `requests` (one text each) with `concurrency` in flight.
async fn drive(client: &reqwest::Client, base: &str, requests: Arc<Vec<String>>, concurrency: usize) -> Run {
    drive_with(client, base, requests, concurrency, None).await
}

/// As [`drive`], each request sent with `Cache-Control: {cache_control}` when given.
async fn drive_with(
    client: &reqwest::Client,
    base: &str,
    requests: Arc<Vec<String>>,
    concurrency: usize,
    cache_control: Option<&'static str>,
) -> Run {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers = (0..concurrency).map(|_| {
        let (client, url, requests, next) =
            (client.clone(), format!("{base}/analyze"), Arc::clone(&requests), Arc::clone(&next));
        tokio::spawn(async move {
            let (mut latencies, mut cached) = (Vec::new(), 0);
            loop {
                let i = next.fetch_add(1, Ordering::Relaxed);
                let Some(text) = requests.get(i) else { break };
                let sent = Instant::now();
                let mut request = client.post(&url).json(&json!({ "text": text }));
                if let Some(directive) = cache_control {
                    request = request.header("cache-control", directive);
                }
                let response = request.send().await.unwrap();
                assert_eq!(response.status(), 200);
                let body: Value = response.json().await.unwrap();
                latencies.push(sent.elapsed().as_secs_f64() * 1e3);
                cached += usize::from(body["results"][0]["cached"] == true);
            }
            (latencies, cached)
        })
    });
    let mut run = Run { latencies: Vec::new(), wall: Duration::ZERO, cached: 0 };
    for worker in futures::future::join_all(workers).await {
        let (latencies, cached) = worker.unwrap();
        run.latencies.extend(latencies);
        run.cached += cached;
    }
    run.wall = started.elapsed();
    run
}

/// Repeats `texts` for `seconds` (all cached) with `concurrency` in flight.
async fn drive_for(client: &reqwest::Client, base: &str, texts: &[String], concurrency: usize, seconds: u64) -> Run {
    let deadline = Instant::now() + Duration::from_secs(seconds);
    let mut run = Run { latencies: Vec::new(), wall: Duration::ZERO, cached: 0 };
    let started = Instant::now();
    while Instant::now() < deadline {
        let part = drive(client, base, Arc::new(texts.to_vec()), concurrency).await;
        run.latencies.extend(part.latencies);
        run.cached += part.cached;
    }
    run.wall = started.elapsed();
    run
}

/// `n` draws from Zipf(`s`) over `0..m` (xorshift; fixed seed, so runs are comparable).
fn zipf(n: usize, m: usize, s: f64) -> Vec<usize> {
    let weights: Vec<f64> = (1..=m).map(|k| 1.0 / (k as f64).powf(s)).collect();
    let total: f64 = weights.iter().sum();
    let mut cdf = Vec::with_capacity(m);
    let mut acc = 0.0;
    for w in weights {
        acc += w / total;
        cdf.push(acc);
    }
    let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
    (0..n)
        .map(|_| {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            let u = (state >> 11) as f64 / (1u64 << 53) as f64;
            cdf.partition_point(|&c| c < u).min(m - 1)
        })
        .collect()
}

/// Runs one of `../shared/bench`'s Python baselines (`script`) on `dir` when the
/// environment has `module`; one JSON object per variant and batch size.
fn python_baseline(script: &str, module: &str, dir: &Path, corpus: &Path) -> Vec<Value> {
    if std::env::var("BENCH_SKIP_PYTORCH").is_ok() {
        return Vec::new();
    }
    let python = std::env::var("PYTORCH_PYTHON").unwrap_or_else(|_| "/tmp/ptvenv/bin/python".into());
    let has_module = Path::new(&python).exists()
        && Command::new(&python).args(["-c", &format!("import {module}")]).output().is_ok_and(|o| o.status.success());
    if !has_module {
        println!("  (no {module} in {python}: see ../shared/bench/README.md; skipping {script})");
        return Vec::new();
    }
    let output = Command::new(&python)
        .arg(root().join("../shared/bench").join(script))
        .arg(dir)
        .arg(corpus)
        .args(["--threads", "2", "--batch", "1,8,32", "--n", "512"])
        .env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_OFFLINE", "1")
        .stderr(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// Drives `examples/bare_hit` (axum + one moka lookup, nothing else) like the server's
/// all-hit workload and returns its requests/s at 16 in flight: the ceiling the hit path
/// is compared with. `None` when the example is not built.
async fn bare_anchor(client: &reqwest::Client, imdb: &[String], seconds: u64) -> Option<f64> {
    let binary = root().join("target/release/examples/bare_hit");
    if !binary.exists() {
        println!("(no {}: cargo build --release --example bare_hit; skipping the anchor)", binary.display());
        return None;
    }
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(&binary).arg(port.to_string()).stdout(Stdio::null()).spawn().unwrap();
    let server = Server { child, base: format!("http://127.0.0.1:{port}"), ready: Duration::ZERO };
    let started = Instant::now();
    while !client.get(format!("{}/health", server.base)).send().await.is_ok_and(|r| r.status() == 200) {
        assert!(started.elapsed() < Duration::from_secs(30), "bare_hit did not start");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    println!("\n== anchor: bare axum + moka endpoint (examples/bare_hit.rs) ==");
    let texts: Vec<String> = imdb[..512].to_vec();
    drive(client, &server.base, Arc::new(texts.clone()), 8).await;
    let mut at_16 = None;
    for in_flight in [16, 32] {
        let run = drive_for(client, &server.base, &texts, in_flight, seconds).await;
        println!(
            "bare hit   {:7.0} requests/s   p50 {:7.3} ms  p99 {:7.3} ms  ({in_flight} in flight, keep-alive)",
            run.rate(),
            run.percentile(0.5),
            run.percentile(0.99)
        );
        at_16.get_or_insert(run.rate());
    }
    at_16
}

/// Peak GOP/s of this machine class for a dtype (see the module docs).
fn peak(dtype: &str) -> f64 {
    match dtype {
        "int8" => 1434.0,
        "bf16" => 717.0,
        _ => 358.0,
    }
}

/// One row of the final table.
struct TableRow {
    model: String,
    system: String,
    dtype: String,
    batch: String,
    per_s: f64,
    p50_ms: f64,
    gops: f64,
}

impl TableRow {
    fn markdown(&self) -> String {
        format!(
            "| {} | {} | {} | {} | {:.1} | {:.2} | {:.0} | {:.0}% |",
            self.model,
            self.system,
            self.dtype,
            self.batch,
            self.per_s,
            self.p50_ms,
            self.gops,
            100.0 * self.gops / peak(&self.dtype)
        )
    }
}

/// One binary's results on one model.
struct BinaryRun {
    all_miss_per_s: f64,
    all_miss_p50_ms: f64,
    all_miss_gops: f64,
    single_per_s: f64,
    single_gops: f64,
    single_p50_ms: f64,
    all_hit_16_per_s: f64,
    zipf_per_s: f64,
    json: Value,
}

/// Starts `binary` on `dir` and drives every workload through it.
#[allow(clippy::too_many_arguments)]
async fn workloads(
    binary: &Path,
    dir: &Path,
    client: &reqwest::Client,
    imdb: &[String],
    amazon: &[String],
    miss: &[String],
    (total_flops, single_flops): (f64, f64),
    seconds: u64,
    dtype: &str,
) -> BinaryRun {
    let server = start(binary, dir, client, dtype).await;
    let ready_ms = server.ready.as_secs_f64() * 1e3;
    println!("ready (health 200) {ready_ms:.0} ms after start");
    // Warm-up on texts outside every workload.
    let warm: Vec<String> = amazon[900..].iter().map(|t| format!("warm-up {t}")).collect();
    drive(client, &server.base, Arc::new(warm), 8).await;

    let all_miss = drive(client, &server.base, Arc::new(miss.to_vec()), 32).await;
    assert_eq!(all_miss.cached, 0);
    let gflops = total_flops / all_miss.wall.as_secs_f64() / 1e9;
    println!(
        "all-miss   {:7.1} sentences/s  p50 {:7.2} ms  p99 {:7.2} ms  ({gflops:.0} GOP/s of {:.0} peak)",
        all_miss.rate(),
        all_miss.percentile(0.5),
        all_miss.percentile(0.99),
        peak(dtype)
    );
    // The texts ONNX Runtime's batch-1 p50 is taken over (the corpus's first 512, in
    // order), each computed afresh (`no-store`), so the two p50s compare like for like.
    let single = drive_with(client, &server.base, Arc::new(imdb[..512].to_vec()), 1, Some("no-store")).await;
    assert_eq!(single.cached, 0);
    println!(
        "single     {:7.1} requests/s   p50 {:7.2} ms  p99 {:7.2} ms  (concurrency 1, misses)",
        single.rate(),
        single.percentile(0.5),
        single.percentile(0.99)
    );
    let mut all_hit = Vec::new();
    for in_flight in [16, 32] {
        let run = drive_for(client, &server.base, miss, in_flight, seconds).await;
        println!(
            "all-hit    {:7.0} requests/s   p50 {:7.3} ms  p99 {:7.3} ms  ({in_flight} in flight, keep-alive)",
            run.rate(),
            run.percentile(0.5),
            run.percentile(0.99)
        );
        all_hit.push(json!({ "in_flight": in_flight, "per_s": run.rate(), "p50_ms": run.percentile(0.5), "p99_ms": run.percentile(0.99) }));
    }
    let pool: Vec<String> = imdb.iter().chain(amazon).cloned().collect();
    let zipf_texts: Vec<String> =
        zipf(4000, pool.len(), 1.1).into_iter().map(|i| format!("zipf {}", pool[i])).collect();
    let mixed = drive(client, &server.base, Arc::new(zipf_texts), 16).await;
    println!(
        "zipf       {:7.0} requests/s   p50 {:7.2} ms  p99 {:7.2} ms  (hit rate {:.0}%)",
        mixed.rate(),
        mixed.percentile(0.5),
        mixed.percentile(0.99),
        100.0 * mixed.cached as f64 / mixed.latencies.len() as f64
    );
    drop(server);
    BinaryRun {
        all_miss_per_s: all_miss.rate(),
        all_miss_p50_ms: all_miss.percentile(0.5),
        all_miss_gops: gflops,
        single_per_s: single.rate(),
        single_gops: single_flops / single.wall.as_secs_f64() / 1e9,
        single_p50_ms: single.percentile(0.5),
        all_hit_16_per_s: all_hit[0]["per_s"].as_f64().unwrap_or(0.0),
        zipf_per_s: mixed.rate(),
        json: json!({
            "ready_ms": ready_ms, "all_miss_per_s": all_miss.rate(), "single_p50_ms": single.percentile(0.5),
            "all_hit": all_hit, "zipf_per_s": mixed.rate(), "gflops": gflops,
        }),
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let imdb = texts("imdb.jsonl");
    let amazon = texts("amazon.jsonl");
    let corpus = root().join("../shared/data/uci-sentiment/imdb.jsonl");
    let generated = root().join("target/bench-models");
    let tiny = root().join("../shared/fixtures/tiny");
    let distilbert = generated.join("distilbert-base-random");
    if !distilbert.join("model.safetensors").exists() {
        write_distilbert(&distilbert, DistilBertShape::BASE, &root().join("../shared/models/minilm-l6-sentiment"))
            .unwrap();
    }
    // Tokenizers from the tiny fixtures (their ids fit the base vocabularies).
    let deberta = generated.join("deberta-v3-base-random");
    if !deberta.join("model.safetensors").exists() {
        write_deberta_v2(&deberta, DebertaV2Shape::V3_BASE, &tiny.join("deberta-v2")).unwrap();
    }
    let modernbert = generated.join("modernbert-base-random");
    if !modernbert.join("model.safetensors").exists() {
        write_modernbert(&modernbert, ModernBertShape::BASE, &tiny.join("modernbert")).unwrap();
    }
    let wanted: Vec<String> = std::env::var("BENCH_MODELS")
        .map(|v| v.split(',').map(|s| s.trim().to_lowercase()).filter(|s| !s.is_empty()).collect())
        .unwrap_or_default();
    let models: Vec<(&str, PathBuf)> = [
        ("minilm-l6-sentiment", root().join("../shared/models/minilm-l6-sentiment")),
        ("distilbert-base (random)", distilbert),
        ("deberta-v3-base (random)", deberta),
        ("modernbert-base (random)", modernbert),
    ]
    .into_iter()
    .filter(|(name, _)| wanted.is_empty() || wanted.iter().any(|w| name.starts_with(w.as_str())))
    .collect();
    let client = reqwest::Client::builder().pool_max_idle_per_host(64).build().unwrap();
    let seconds: u64 = std::env::var("BENCH_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(5);
    let mut summary = Vec::new();
    let mut binaries = vec![("this build", root().join("target/release/sentiserve"))];
    if let Ok(baseline) = std::env::var("BENCH_BASELINE_BIN") {
        binaries.push(("baseline", PathBuf::from(baseline)));
    }

    let dtypes: Vec<String> = std::env::var("BENCH_DTYPES")
        .unwrap_or_else(|_| "f32,bf16,int8".into())
        .split(',')
        .map(|s| s.trim().to_string())
        .filter(|s| !s.is_empty())
        .collect();
    let mut table: Vec<TableRow> = Vec::new();
    let anchor = bare_anchor(&client, &imdb, seconds).await;
    {
        let minilm = root().join("../shared/models/minilm-l6-sentiment");
        let mut seen = std::collections::HashSet::new();
        let distinct: Vec<String> = imdb.iter().filter(|t| seen.insert(t.as_str())).cloned().collect();
        hits::hit_path(&client, &minilm, &distinct[..256], seconds).await;
        hits::variants(&client, &minilm, &distinct).await;
        if wanted.is_empty() || wanted.iter().any(|w| w == "files") {
            files::compare(&binaries[0].1, &client, &minilm, &distinct[..distinct.len().min(1024)], &amazon[..64])
                .await;
        }
    }
    for (name, dir) in &models {
        println!("\n== {name} ==");
        let probe = Model::load(&ModelFiles::from_dir(dir).unwrap(), &candle_core::Device::Cpu).unwrap();
        let config: Value = serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
        let mut seen = std::collections::HashSet::new();
        let distinct: Vec<String> = imdb.iter().filter(|t| seen.insert(t.as_str())).cloned().collect();
        let miss: Vec<String> = distinct[..512].to_vec();
        let ops = |texts: &[String]| -> f64 {
            texts.iter().map(|t| flops::flops(&config, probe.tokenize(t).unwrap().ids.len())).sum()
        };
        let (total_flops, single_flops) = (ops(&miss), ops(&imdb[..512]));
        drop(probe);
        let model_dtypes: Vec<&str> = dtypes.iter().map(String::as_str).collect();

        let mut runs = Vec::new();
        for dtype in &model_dtypes {
            for (tag, binary) in &binaries {
                println!("-- {tag} ({dtype}): {} --", binary.display());
                let run =
                    workloads(binary, dir, &client, &imdb, &amazon, &miss, (total_flops, single_flops), seconds, dtype)
                        .await;
                if *tag == "this build" {
                    let short = name.split(' ').next().unwrap_or(name).to_string();
                    let row = |batch: &str, per_s, p50_ms, gops| TableRow {
                        model: short.clone(),
                        system: "sentiserve (HTTP)".into(),
                        dtype: dtype.to_string(),
                        batch: batch.into(),
                        per_s,
                        p50_ms,
                        gops,
                    };
                    table.push(row("32 in flight", run.all_miss_per_s, run.all_miss_p50_ms, run.all_miss_gops));
                    table.push(row("1 in flight", run.single_per_s, run.single_p50_ms, run.single_gops));
                }
                runs.push((tag.to_string(), dtype.to_string(), run));
            }
        }
        let f32_run = runs.iter().find(|(tag, dtype, _)| tag == "this build" && dtype == "f32").map(|(_, _, r)| r);
        let int8_run = runs.iter().find(|(tag, dtype, _)| tag == "this build" && dtype == "int8").map(|(_, _, r)| r);
        let ops_per_text = total_flops / miss.len() as f64;

        let mut baselines = python_baseline("pytorch_pipeline.py", "torch", dir, &corpus);
        if name.starts_with("minilm") || name.starts_with("distilbert") {
            baselines.extend(python_baseline("onnxruntime_baseline.py", "onnxruntime", dir, &corpus));
        }
        for row in &baselines {
            let system = row["system"].as_str().unwrap_or("?").to_string();
            let per_s = row["sentences_per_s"].as_f64().unwrap_or(0.0);
            let p50 = row["batch_latency_ms_p50"].as_f64().unwrap_or(0.0);
            println!("{system:<22} {per_s:7.1} sentences/s  batch {:>2}  p50 {p50:7.2} ms per batch", row["batch"]);
            // Named with the versions the scripts report (`ort`, `torch`).
            let version = |key: &str| row[key].as_str().unwrap_or("?").to_string();
            let (system, dtype) = match system.as_str() {
                "onnxruntime-int8" => (format!("ONNX Runtime {}", version("ort")), "int8"),
                "onnxruntime-f32" => (format!("ONNX Runtime {}", version("ort")), "f32"),
                _ => (format!("transformers pipeline (torch {})", version("torch")), "f32"),
            };
            table.push(TableRow {
                model: name.split(' ').next().unwrap_or(name).to_string(),
                system,
                dtype: dtype.into(),
                batch: format!("batch {}", row["batch"]),
                per_s,
                p50_ms: p50,
                gops: per_s * ops_per_text / 1e9,
            });
        }
        let best = |system: &str| -> f64 {
            baselines
                .iter()
                .filter(|r| r["system"] == system)
                .filter_map(|r| r["sentences_per_s"].as_f64())
                .fold(0.0, f64::max)
        };
        let batch1 = |system: &str| -> Option<f64> {
            baselines
                .iter()
                .find(|r| r["system"] == system && r["batch"] == 1)
                .and_then(|r| r["batch_latency_ms_p50"].as_f64())
        };
        if let Some(f32_run) = f32_run {
            if best("transformers-pipeline") > 0.0 {
                println!(
                    "ratio      f32 all-miss / best PyTorch batch: {:.2}x",
                    f32_run.all_miss_per_s / best("transformers-pipeline")
                );
            }
            if best("onnxruntime-f32") > 0.0 {
                println!(
                    "ratio      f32 all-miss / best ORT f32 batch: {:.2}x (goal >= 1.5)",
                    f32_run.all_miss_per_s / best("onnxruntime-f32")
                );
            }
        }
        if let Some(int8_run) = int8_run {
            if best("onnxruntime-int8") > 0.0 {
                println!(
                    "ratio      int8 all-miss / best ORT int8 batch: {:.2}x (goal >= 1.5)",
                    int8_run.all_miss_per_s / best("onnxruntime-int8")
                );
            }
            if let Some(b1) = batch1("onnxruntime-int8") {
                println!(
                    "ratio      int8 single p50 (HTTP) / ORT int8 batch-1 p50: {:.2} (goal <= 1)",
                    int8_run.single_p50_ms / b1
                );
            }
        }
        if let (Some(f32_run), Some(anchor)) = (f32_run, anchor) {
            println!(
                "ratio      all-hit (16 in flight) / bare axum + moka endpoint: {:.2} (goal >= 0.8)",
                f32_run.all_hit_16_per_s / anchor
            );
        }
        let this_f32: Vec<&BinaryRun> = runs.iter().filter(|(_, dtype, _)| dtype == "f32").map(|(_, _, r)| r).collect();
        if let [current, baseline] = &this_f32[..] {
            println!(
                "a/b        all-miss {:.3}x  single p50 {:.3}x  all-hit(16) {:.3}x  zipf {:.3}x  (this build / baseline)",
                current.all_miss_per_s / baseline.all_miss_per_s,
                current.single_p50_ms / baseline.single_p50_ms,
                current.all_hit_16_per_s / baseline.all_hit_16_per_s,
                current.zipf_per_s / baseline.zipf_per_s,
            );
        }
        for (tag, dtype, run) in &runs {
            let mut row = run.json.clone();
            row["model"] = json!(name);
            row["binary"] = json!(tag);
            row["dtype"] = json!(dtype);
            summary.push(row);
        }
        summary.push(json!({ "model": name, "baselines": baselines }));
    }
    if wanted.is_empty() || wanted.iter().any(|w| w == "tasks") {
        tasks::compare(&binaries[0].1, &client, &imdb, &amazon).await;
    }
    let mut markdown = machine::header(&dtypes);
    markdown.extend([
        "| model | system | dtype | batch | sentences/s | p50 ms (request; batch for baselines) | GOP/s | of peak |"
            .to_string(),
        "|---|---|---|---|---|---|---|---|".to_string(),
    ]);
    markdown.extend(table.iter().map(TableRow::markdown));
    println!("\n{}", markdown.join("\n"));
    let out = root().join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    std::fs::write(out.join("load.json"), serde_json::to_vec_pretty(&summary).unwrap()).unwrap();
    std::fs::write(out.join("table.md"), markdown.join("\n") + "\n").unwrap();
    println!("\nsummary written to target/bench/load.json and target/bench/table.md");
}

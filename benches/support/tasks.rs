//! The task part of `make bench`: zero-shot classification (4 candidate labels) and
//! re-ranking (1 query × 16 texts) through the release server, beside PyTorch doing
//! the same on the same inputs and thread count in the same run
//! (`benches/support/task_baselines.py`: transformers' zero-shot pipeline, and a
//! cross-encoder by hand: `AutoModelForSequenceClassification` on the (query, text)
//! pairs).
//!
//! The models are the tiny random-weight checkpoints of `../shared/fixtures/tiny`
//! (`deberta-v2`, an NLI head; `bert-reranker`, one label; hidden 32, 2 layers): the
//! numbers measure what each system spends around a small model (requests, pairs,
//! batching, scoring), not quality, and are not those of a real NLI model or reranker.
//!
//! Every request sends `Cache-Control: no-store`, so each one runs the model (the same
//! inputs serve every concurrency). Compute threads: `RAYON_NUM_THREADS` for the
//! server, `torch.set_num_threads` for PyTorch, both the machine's core count.
//! `BENCH_SKIP_PYTORCH=1` and `PYTORCH_PYTHON` work as for the other baselines.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{root, Server};

/// The four candidate labels (and the pipeline's default template).
const LABELS: [&str; 4] = ["technology", "politics", "sports", "customer support"];
const TEMPLATE: &str = "This example is {}.";
/// Texts classified zero-shot; queries re-ranked, each over this many texts.
const ZERO_SHOT_TEXTS: usize = 128;
const QUERIES: usize = 32;
const PER_QUERY: usize = 16;

/// One side-by-side row.
struct Row {
    task: &'static str,
    system: String,
    how: String,
    per_s: f64,
    pairs_per_s: f64,
    p50_ms: f64,
}

/// The inputs both sides run: `texts` zero-shot, then `queries` × `PER_QUERY` reranked.
fn workload(imdb: &[String], amazon: &[String]) -> Value {
    let texts = &imdb[..ZERO_SHOT_TEXTS];
    let rerank: Vec<Value> = (0..QUERIES)
        .map(|q| json!({ "query": amazon[q], "texts": imdb[q * PER_QUERY..(q + 1) * PER_QUERY] }))
        .collect();
    json!({
        "zero_shot": { "texts": texts, "candidate_labels": LABELS, "hypothesis_template": TEMPLATE },
        "rerank": rerank,
    })
}

/// Serves both fixtures (`nli`, `reranker`) with `threads` compute threads.
async fn start(binary: &Path, client: &reqwest::Client, threads: usize) -> Server {
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let tiny = root().join("../shared/fixtures/tiny");
    let started = Instant::now();
    let child = Command::new(binary)
        .args(["serve", "--port", &port.to_string(), "--default", "nli", "--preload", "nli,reranker"])
        .args(["--queue-capacity", "100000", "--model"])
        .arg(format!("nli={}", tiny.join("deberta-v2").display()))
        .arg("--model")
        .arg(format!("reranker={}", tiny.join("bert-reranker").display()))
        .env("RUST_LOG", "warn")
        .env("HF_HUB_OFFLINE", "1")
        .env("RAYON_NUM_THREADS", threads.to_string())
        .current_dir(tiny.as_path())
        .stdout(Stdio::null())
        .spawn()
        .expect("build the release binary first: cargo build --release (make bench does)");
    let base = format!("http://127.0.0.1:{port}");
    while !client.get(format!("{base}/health")).send().await.is_ok_and(|r| r.status() == 200) {
        assert!(started.elapsed() < Duration::from_secs(120), "the task server did not become ready");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Server { child, base, ready: started.elapsed() }
}

/// Posts every body to `url` with `in_flight` at once: requests/s and p50 ms.
async fn drive(client: &reqwest::Client, url: &str, bodies: &Arc<Vec<Value>>, in_flight: usize) -> (f64, f64) {
    let next = Arc::new(AtomicUsize::new(0));
    let started = Instant::now();
    let workers = (0..in_flight).map(|_| {
        let (client, url, bodies, next) = (client.clone(), url.to_string(), Arc::clone(bodies), Arc::clone(&next));
        tokio::spawn(async move {
            let mut latencies = Vec::new();
            while let Some(body) = bodies.get(next.fetch_add(1, Ordering::Relaxed)) {
                let sent = Instant::now();
                let response = client.post(&url).header("cache-control", "no-store").json(body).send().await.unwrap();
                let status = response.status();
                let answer: Value = response.json().await.unwrap();
                assert_eq!(status, 200, "{url}: {answer}");
                latencies.push(sent.elapsed().as_secs_f64() * 1e3);
            }
            latencies
        })
    });
    let mut latencies: Vec<f64> = Vec::new();
    for worker in futures::future::join_all(workers).await {
        latencies.extend(worker.unwrap());
    }
    let wall = started.elapsed().as_secs_f64();
    latencies.sort_by(f64::total_cmp);
    (latencies.len() as f64 / wall, latencies[latencies.len() / 2])
}

/// Runs `task_baselines.py` on `work` when the Python environment has torch and
/// transformers; one JSON object per variant.
fn pytorch(work: &Path, threads: usize) -> Vec<Value> {
    if std::env::var("BENCH_SKIP_PYTORCH").is_ok() {
        return Vec::new();
    }
    let python = std::env::var("PYTORCH_PYTHON").unwrap_or_else(|_| "/tmp/ptvenv/bin/python".into());
    let usable =
        Command::new(&python).args(["-c", "import torch, transformers"]).output().is_ok_and(|o| o.status.success());
    if !usable {
        println!("  (no torch + transformers in {python}: see ../shared/bench/README.md; skipping task_baselines.py)");
        return Vec::new();
    }
    let tiny = root().join("../shared/fixtures/tiny");
    let output = Command::new(python)
        .arg(root().join("benches/support/task_baselines.py"))
        .arg(work)
        .arg("--nli")
        .arg(tiny.join("deberta-v2"))
        .arg("--reranker")
        .arg(tiny.join("bert-reranker"))
        .args(["--threads", &threads.to_string()])
        .env("HF_HUB_OFFLINE", "1")
        .env("TRANSFORMERS_OFFLINE", "1")
        .stderr(Stdio::null())
        .output()
        .unwrap();
    String::from_utf8_lossy(&output.stdout).lines().filter_map(|l| serde_json::from_str(l).ok()).collect()
}

/// Drives both tasks through `binary`, then PyTorch on the same inputs; prints the
/// rows side by side with the best-against-best ratios, and writes
/// `target/bench/tasks.json`.
pub async fn compare(binary: &Path, client: &reqwest::Client, imdb: &[String], amazon: &[String]) {
    println!("\n== tasks: zero-shot (4 labels) and rerank (1 query x 16 texts), tiny random-weight fixtures ==");
    let threads = std::thread::available_parallelism().map_or(2, std::num::NonZeroUsize::get);
    let work = workload(imdb, amazon);
    let out = root().join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    let work_file = out.join("tasks-workload.json");
    std::fs::write(&work_file, serde_json::to_vec(&work).unwrap()).unwrap();

    let mut rows = Vec::new();
    let server = start(binary, client, threads).await;
    let zero_shot: Arc<Vec<Value>> = Arc::new(
        work["zero_shot"]["texts"]
            .as_array()
            .unwrap()
            .iter()
            .map(|t| json!({ "text": t, "candidate_labels": LABELS, "hypothesis_template": TEMPLATE, "model": "nli" }))
            .collect(),
    );
    let rerank: Arc<Vec<Value>> = Arc::new(work["rerank"].as_array().unwrap().clone());
    let (zs_url, rr_url) =
        (format!("{}/zero-shot-classification", server.base), format!("{}/rerank?model=reranker", server.base));
    drive(client, &zs_url, &Arc::new(zero_shot[..8].to_vec()), 4).await; // warm-up
    drive(client, &rr_url, &Arc::new(rerank[..2].to_vec()), 2).await;
    for in_flight in [1, 16] {
        let (per_s, p50_ms) = drive(client, &zs_url, &zero_shot, in_flight).await;
        let (system, how) = ("sentiserve (HTTP)".to_string(), format!("{in_flight} in flight, 1 text a request"));
        rows.push(Row { task: "zero-shot", system, how, per_s, pairs_per_s: per_s * LABELS.len() as f64, p50_ms });
    }
    for in_flight in [1, 8] {
        let (per_s, p50_ms) = drive(client, &rr_url, &rerank, in_flight).await;
        let (system, how) = ("sentiserve (HTTP)".to_string(), format!("{in_flight} in flight, 1 query a request"));
        rows.push(Row { task: "rerank", system, how, per_s, pairs_per_s: per_s * PER_QUERY as f64, p50_ms });
    }
    drop(server);

    let baselines = pytorch(&work_file, threads);
    for b in &baselines {
        let task = if b["task"] == "rerank" { "rerank" } else { "zero-shot" };
        rows.push(Row {
            task,
            system: b["system"].as_str().unwrap_or("?").to_string(),
            how: b["batch"].as_str().unwrap_or("?").to_string(),
            per_s: b["per_s"].as_f64().unwrap_or(0.0),
            pairs_per_s: b["pairs_per_s"].as_f64().unwrap_or(0.0),
            p50_ms: b["p50_ms"].as_f64().unwrap_or(0.0),
        });
    }
    println!("threads: {threads} (server RAYON_NUM_THREADS, torch.set_num_threads)");
    let head = ["task", "system", "how", "per s", "pairs/s", "p50 ms"];
    println!("{:<10} {:<32} {:<30} {:>10} {:>10} {:>9}", head[0], head[1], head[2], head[3], head[4], head[5]);
    for r in &rows {
        let unit = if r.task == "rerank" { "queries" } else { "texts" };
        println!(
            "{:<10} {:<32} {:<30} {:>10.1} {:>10.1} {:>9.2}  ({unit}/s; p50 of one request or call)",
            r.task, r.system, r.how, r.per_s, r.pairs_per_s, r.p50_ms
        );
    }
    for task in ["zero-shot", "rerank"] {
        let best = |ours: bool| {
            rows.iter()
                .filter(|r| r.task == task && r.system.starts_with("sentiserve") == ours)
                .map(|r| r.per_s)
                .fold(0.0, f64::max)
        };
        if best(false) > 0.0 {
            println!("ratio      {task}: best sentiserve / best PyTorch: {:.2}x", best(true) / best(false));
        }
    }
    let summary: Vec<Value> = rows
        .iter()
        .map(|r| json!({ "task": r.task, "system": r.system, "how": r.how, "per_s": r.per_s, "pairs_per_s": r.pairs_per_s, "p50_ms": r.p50_ms }))
        .collect();
    let summary = json!({ "threads": threads, "rows": summary, "baselines": baselines });
    std::fs::write(out.join("tasks.json"), serde_json::to_vec_pretty(&summary).unwrap()).unwrap();
}

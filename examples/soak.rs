//! `make soak`: a mixed load against the release server for a given duration, with
//! cache clears and model unload/load cycles, printing errors by status, RSS samples
//! and the cache's bytes against its bound. Not part of `make test` (it runs for
//! minutes); the numbers it prints are what a soak is judged by.
//!
//! ```sh
//! make soak                         # 180 s, 8 clients
//! SOAK_SECONDS=600 SOAK_CLIENTS=16 make soak
//! ```
//!
//! The server is `target/release/sentiserve` with the shared MiniLM model, a small
//! memory cache (`SOAK_CACHE_BYTES`, default 2 MiB, so eviction runs) and a disk tier in
//! a temporary directory. Workers send a mix of repeated texts (hits), new texts
//! (misses), batches, pairs and pipeline options; one admin task clears the cache every
//! 5 s and unloads/loads the model every 20 s. Every request goes to 127.0.0.1 only.

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use serde_json::{json, Value};

/// How often the admin task clears the cache.
const CLEAR_EVERY: Duration = Duration::from_secs(5);
/// How often the admin task unloads and reloads the model.
const CYCLE_EVERY: Duration = Duration::from_secs(20);
/// How often RSS and cache bytes are sampled.
const SAMPLE_EVERY: Duration = Duration::from_secs(10);

fn env_or<T: std::str::FromStr>(name: &str, default: T) -> T {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

fn root() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR"))
}

fn sentences() -> Vec<String> {
    let path = root().join("../shared/data/uci-sentiment/imdb.jsonl");
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()?["text"].as_str().map(String::from)).collect()
}

struct Server(Child);

impl Drop for Server {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

/// Resident set size of `pid`, MiB (Linux `/proc`).
fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next()?.parse::<f64>().ok())
        .map_or(0.0, |kib| kib / 1024.0)
}

#[derive(Default)]
struct Tally {
    by_status: BTreeMap<String, u64>,
}

impl Tally {
    fn count(&mut self, outcome: String) {
        *self.by_status.entry(outcome).or_default() += 1;
    }
}

/// One worker request: a mix chosen by the counter `i`.
fn body(i: u64, texts: &[String]) -> Value {
    let pick = |k: u64| texts[(k as usize) % texts.len()].clone();
    match i % 6 {
        0 | 1 => json!({"text": pick(i % 64)}),            // hot set: hits
        2 => json!({"text": format!("{} #{i}", pick(i))}), // new text: miss
        3 => json!({"texts": [pick(i), pick(i + 1), pick(i + 2)], "top_k": 1}),
        4 => json!({"text": pick(i), "text_pair": pick(i + 7)}),
        _ => json!({"text": pick(i * 7), "function_to_apply": "none"}),
    }
}

#[tokio::main]
async fn main() {
    let seconds: u64 = env_or("SOAK_SECONDS", 180);
    let clients: u64 = env_or("SOAK_CLIENTS", 8);
    let cache_bytes: u64 = env_or("SOAK_CACHE_BYTES", 2 << 20);
    let binary = root().join("target/release/sentiserve");
    let model = root().join("../shared/models/minilm-l6-sentiment");
    let cache_dir = tempfile::tempdir().unwrap();
    let port = std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port();
    let child = Command::new(&binary)
        .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string(), "--default", "minilm"])
        .args(["--cache-max-bytes", &cache_bytes.to_string()])
        .arg("--cache-dir")
        .arg(cache_dir.path())
        .arg("--model")
        .arg(format!("minilm={}", model.display()))
        .env("RUST_LOG", "warn")
        .stdout(Stdio::null())
        .stderr(Stdio::inherit())
        .spawn()
        .unwrap_or_else(|e| panic!("{}: {e} (make soak builds it)", binary.display()));
    let pid = child.id();
    let _server = Server(child);
    let base = format!("http://127.0.0.1:{port}");
    let http = reqwest::Client::builder().timeout(Duration::from_secs(60)).build().unwrap();
    let started = Instant::now();
    while http.get(format!("{base}/readyz")).send().await.map(|r| r.status() != 200).unwrap_or(true) {
        assert!(started.elapsed() < Duration::from_secs(120), "the server did not become ready");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    println!("soak: {seconds} s, {clients} clients, memory cache bound {cache_bytes} bytes, server pid {pid}");

    let texts = Arc::new(sentences());
    let tally = Arc::new(Mutex::new(Tally::default()));
    let end = Instant::now() + Duration::from_secs(seconds);
    let mut tasks = Vec::new();
    for worker in 0..clients {
        let (http, base, texts, tally) = (http.clone(), base.clone(), Arc::clone(&texts), Arc::clone(&tally));
        tasks.push(tokio::spawn(async move {
            let mut i = worker * 1_000_003;
            while Instant::now() < end {
                i += 1;
                let outcome = match http.post(format!("{base}/analyze")).json(&body(i, &texts)).send().await {
                    Ok(r) => r.status().as_u16().to_string(),
                    Err(e) => format!("transport error ({})", if e.is_timeout() { "timeout" } else { "connect/io" }),
                };
                tally.lock().unwrap().count(outcome);
            }
        }));
    }
    let admin = {
        let (http, base, tally) = (http.clone(), base.clone(), Arc::clone(&tally));
        tokio::spawn(async move {
            let (mut next_clear, mut next_cycle) = (Instant::now() + CLEAR_EVERY, Instant::now() + CYCLE_EVERY);
            while Instant::now() < end {
                tokio::time::sleep(Duration::from_millis(100)).await;
                let now = Instant::now();
                let mut calls = Vec::new();
                if now >= next_clear {
                    next_clear = now + CLEAR_EVERY;
                    calls.push(http.delete(format!("{base}/cache")));
                }
                if now >= next_cycle {
                    next_cycle = now + CYCLE_EVERY;
                    calls.push(http.delete(format!("{base}/models/minilm")));
                    calls.push(http.post(format!("{base}/models/minilm/load")));
                }
                for call in calls {
                    let outcome = match call.send().await {
                        Ok(r) => format!("admin {}", r.status().as_u16()),
                        Err(_) => "admin transport error".into(),
                    };
                    tally.lock().unwrap().count(outcome);
                }
            }
        })
    };
    println!("{:>6}  {:>9}  {:>12}  {:>12}  {:>10}", "t (s)", "RSS (MiB)", "cache bytes", "cache bound", "requests");
    let mut samples = Vec::new();
    while Instant::now() < end {
        let wait = SAMPLE_EVERY.min(end.saturating_duration_since(Instant::now()));
        tokio::time::sleep(wait).await;
        let cache: Value = match http.get(format!("{base}/cache")).send().await {
            Ok(r) => r.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        };
        let (bytes, bound) = (cache["bytes"].as_u64().unwrap_or(0), cache["capacity_bytes"].as_u64().unwrap_or(0));
        let requests: u64 = tally.lock().unwrap().by_status.values().sum();
        let rss = rss_mib(pid);
        samples.push((rss, bytes, bound));
        println!("{:>6.0}  {rss:>9.1}  {bytes:>12}  {bound:>12}  {requests:>10}", started.elapsed().as_secs_f64());
    }
    for task in tasks {
        let _ = task.await;
    }
    let _ = admin.await;

    let tally = tally.lock().unwrap();
    let total: u64 = tally.by_status.values().sum();
    println!("\noutcomes ({total} calls):");
    for (outcome, count) in &tally.by_status {
        println!("  {outcome:<28} {count}");
    }
    let errors: u64 =
        tally.by_status.iter().filter(|(k, _)| !(k.starts_with('2') || k.starts_with("admin 2"))).map(|(_, v)| v).sum();
    let over_bound = samples.iter().filter(|(_, bytes, bound)| bytes > bound).count();
    let (first, last) = (samples.first().map_or(0.0, |s| s.0), samples.last().map_or(0.0, |s| s.0));
    println!(
        "errors: {errors}; cache over its bound in {over_bound} of {} samples; RSS {first:.1} → {last:.1} MiB",
        samples.len()
    );
    if errors > 0 || over_bound > 0 {
        std::process::exit(1);
    }
}

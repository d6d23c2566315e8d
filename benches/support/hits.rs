//! The cache parts of `make bench`:
//!
//! - **Hit path**: `wrk` (when on PATH) against the bare axum + moka endpoint
//!   (`examples/bare_hit.rs`) and against the release server on the shared MiniLM, with
//!   what production keeps on: an API key, the per-request INFO log line (to a file),
//!   request ids and metrics. All hits, one text a request, 16 and 64 connections,
//!   each pair run [`ROUNDS`] times interleaved (`BENCH_HIT_ROUNDS`); the ratio is the
//!   server's requests/s over the bare endpoint's (goal >= 0.85), as the ratio of the
//!   totals and as the median of the rounds' ratios, with each side's median p99 at
//!   16 (goal < 1 ms) and its CPU time per request (user + system, from
//!   `/proc/PID/stat`: what the ratio would be with the load generator elsewhere).
//! - **Variant stream**: 450 requests, a third of them variants of an earlier text
//!   (upper case, other spacing, a 45-sentence review with another tail past 512 tokens), 8
//!   in flight, against the server with token keys and with exact-text keys only: hit
//!   rate and requests/s.

use std::path::Path;
use std::process::{Command, Stdio};
use std::sync::Arc;
use std::time::{Duration, Instant};

use serde_json::{json, Value};

use super::{drive, root, Server};

/// Interleaved rounds per connection count unless `BENCH_HIT_ROUNDS` says otherwise.
const ROUNDS: usize = 5;

/// One `wrk` run: requests/s, p50 and p99 in ms, and the server process's CPU time per
/// request in µs (user + system).
struct WrkRun {
    per_s: f64,
    p50_ms: f64,
    p99_ms: f64,
    cpu_us: f64,
}

/// User + system CPU time of process `pid` so far, seconds (`None` off Linux).
fn cpu_seconds(pid: u32) -> Option<f64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // Fields after the command name (which may hold spaces) in parentheses.
    let fields: Vec<&str> = stat.rsplit_once(')')?.1.split_whitespace().collect();
    let ticks: f64 = fields.get(11)?.parse::<f64>().ok()? + fields.get(12)?.parse::<f64>().ok()?;
    // USER_HZ: 100 on every Linux architecture this runs on.
    Some(ticks / 100.0)
}

/// The median of `values` (`NaN` when empty).
fn median(values: &mut [f64]) -> f64 {
    values.sort_by(f64::total_cmp);
    match values.len() {
        0 => f64::NAN,
        n if n % 2 == 1 => values[n / 2],
        n => (values[n / 2 - 1] + values[n / 2]) / 2.0,
    }
}

/// `wrk -t2 -cN` for `seconds` over `bodies` (one JSON body a line), sending `key`,
/// against `server`.
fn wrk(server: &Server, bodies: &Path, connections: usize, seconds: u64, key: &str) -> Option<WrkRun> {
    let base = &server.base;
    let cpu_before = cpu_seconds(server.child.id());
    let output = Command::new("wrk")
        .args(["-t2", &format!("-c{connections}"), &format!("-d{seconds}s"), "-s"])
        .arg(root().join("benches/support/hits.lua"))
        .arg(base)
        .arg("--")
        .arg(bodies)
        .arg(key)
        .output()
        .ok()?;
    let text = String::from_utf8_lossy(&output.stdout);
    let cpu = cpu_seconds(server.child.id()).zip(cpu_before).map(|(after, before)| after - before);
    let line: Value = serde_json::from_str(text.lines().last()?).ok()?;
    assert_eq!(line["errors"], 0, "wrk saw errors: {text}");
    let requests = line["requests"].as_f64()?;
    Some(WrkRun {
        per_s: requests / line["seconds"].as_f64()?,
        p50_ms: line["p50_us"].as_f64()? / 1e3,
        p99_ms: line["p99_us"].as_f64()? / 1e3,
        cpu_us: cpu.map_or(f64::NAN, |seconds| seconds * 1e6 / requests),
    })
}

/// Spawns `command` on a free port and waits for `/health` 200.
async fn spawn(mut command: Command, client: &reqwest::Client, port: u16) -> Server {
    let started = Instant::now();
    let child = command.stdout(Stdio::null()).spawn().expect("build the release binaries first (make bench does)");
    let base = format!("http://127.0.0.1:{port}");
    while !client.get(format!("{base}/health")).send().await.is_ok_and(|r| r.status() == 200) {
        assert!(started.elapsed() < Duration::from_secs(120), "{base} did not become ready");
        tokio::time::sleep(Duration::from_millis(5)).await;
    }
    Server { child, base, ready: started.elapsed() }
}

fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// The hit-path comparison; skipped (with a note) without `wrk` or `bare_hit`.
pub async fn hit_path(client: &reqwest::Client, model: &Path, texts: &[String], seconds: u64) {
    println!("\n== hit path: wrk, all hits, server (key + INFO log line + metrics) vs bare axum + moka ==");
    let bare_bin = root().join("target/release/examples/bare_hit");
    if Command::new("wrk").arg("--version").output().is_err() || !bare_bin.exists() {
        println!("(needs wrk on PATH and target/release/examples/bare_hit; skipped)");
        return;
    }
    let out = root().join("target/bench");
    std::fs::create_dir_all(&out).unwrap();
    let bodies = out.join("hit-bodies.txt");
    let lines: Vec<String> = texts.iter().map(|t| json!({ "text": t }).to_string()).collect();
    std::fs::write(&bodies, lines.join("\n") + "\n").unwrap();

    let key = "bench-api-key";
    let port = free_port();
    let mut command = Command::new(&bare_bin);
    command.arg(port.to_string());
    let bare = spawn(command, client, port).await;
    let port = free_port();
    let mut command = Command::new(root().join("target/release/sentiserve"));
    command
        .args(["serve", "--port", &port.to_string(), "--default", "bench", "--api-key", key, "--model"])
        .arg(format!("bench={}", model.display()))
        .env("RUST_LOG", "info")
        .env("HF_HUB_OFFLINE", "1")
        .current_dir(model)
        .stderr(std::fs::File::create(out.join("hit-server.log")).unwrap());
    let server = spawn(command, client, port).await;
    // Every text computed once (the bare endpoint inserts on first sight).
    let authorized = reqwest::Client::builder()
        .default_headers(
            [(reqwest::header::AUTHORIZATION, format!("Bearer {key}").parse().unwrap())].into_iter().collect(),
        )
        .build()
        .unwrap();
    drive(&authorized, &server.base, Arc::new(texts.to_vec()), 8).await;
    drive(client, &bare.base, Arc::new(texts.to_vec()), 8).await;

    let rounds = std::env::var("BENCH_HIT_ROUNDS").ok().and_then(|r| r.parse().ok()).unwrap_or(ROUNDS);
    for connections in [16, 64] {
        let (mut ours, mut theirs) = (Vec::new(), Vec::new());
        // Interleaved rounds: the machine's own drift (the bare endpoint alone moves by
        // 10-25% between 5 s runs on a shared 2-core VM) falls on both sides alike.
        for _ in 0..rounds {
            theirs.extend(wrk(&bare, &bodies, connections, seconds, key));
            ours.extend(wrk(&server, &bodies, connections, seconds, key));
        }
        for (name, runs) in [("bare", &theirs), ("server", &ours)] {
            for run in runs.iter() {
                println!(
                    "hit {name:6} {:8.0} requests/s  p50 {:6.3} ms  p99 {:6.3} ms  CPU {:5.1} µs/request  ({connections} connections)",
                    run.per_s, run.p50_ms, run.p99_ms, run.cpu_us
                );
            }
        }
        let total = |runs: &[WrkRun]| runs.iter().map(|r| r.per_s).sum::<f64>();
        let med = |runs: &[WrkRun], f: fn(&WrkRun) -> f64| median(&mut runs.iter().map(f).collect::<Vec<_>>());
        if !theirs.is_empty() && ours.len() == theirs.len() {
            let mut ratios: Vec<f64> = ours.iter().zip(&theirs).map(|(o, t)| o.per_s / t.per_s).collect();
            let rounds: Vec<String> = ratios.iter().map(|r| format!("{r:.2}")).collect();
            println!(
                "ratio      all-hit / bare endpoint at {connections} connections: {:.2} of totals, {:.2} median of rounds (goal >= 0.85; rounds {})",
                total(&ours) / total(&theirs),
                median(&mut ratios),
                rounds.join(", ")
            );
            println!(
                "median     p99 server {:.3} ms, bare {:.3} ms (goal < 1 ms at 16); CPU server {:.1} µs/request, bare {:.1} (bare/server {:.2})",
                med(&ours, |r| r.p99_ms),
                med(&theirs, |r| r.p99_ms),
                med(&ours, |r| r.cpu_us),
                med(&theirs, |r| r.cpu_us),
                med(&theirs, |r| r.cpu_us) / med(&ours, |r| r.cpu_us),
            );
        }
    }
    drop((server, bare));
}

/// A review well past 512 tokens, then `tail`.
fn long_review(sentences: &[String], tail: &str) -> String {
    format!("{} {tail}", sentences.join(" "))
}

/// The variant stream: originals, each second one followed by a variant of the one
/// before it (a third of the requests).
fn variant_stream(texts: &[String]) -> Vec<String> {
    let mut stream = Vec::new();
    for (i, text) in texts.iter().take(300).enumerate() {
        let original =
            if i % 10 == 0 { long_review(&texts[300 + i..345 + i], &format!("review {i}")) } else { text.clone() };
        stream.push(original.clone());
        if i % 2 == 1 {
            let previous = stream[stream.len() - 2].clone();
            stream.push(match (i / 2) % 3 {
                0 => previous.to_uppercase(),
                1 => format!("  {}\n", previous.split_whitespace().collect::<Vec<_>>().join("   ")),
                _ if previous.len() > 2000 => long_review(&texts[300 + i - 1..345 + i - 1], "another tail"),
                _ => previous.to_lowercase(),
            });
        }
    }
    stream
}

/// Token keys against exact-text keys on the variant stream.
pub async fn variants(client: &reqwest::Client, model: &Path, texts: &[String]) {
    println!("\n== variant stream: 450 requests, a third variants of earlier texts, 8 in flight ==");
    let stream = Arc::new(variant_stream(texts));
    for token_keys in ["true", "false"] {
        let port = free_port();
        let mut command = Command::new(root().join("target/release/sentiserve"));
        command
            .args(["serve", "--port", &port.to_string(), "--default", "bench", "--cache-token-keys", token_keys])
            .arg("--model")
            .arg(format!("bench={}", model.display()))
            .env("RUST_LOG", "warn")
            .env("HF_HUB_OFFLINE", "1")
            .current_dir(model);
        let server = spawn(command, client, port).await;
        let run = drive(client, &server.base, Arc::clone(&stream), 8).await;
        let keys = if token_keys == "true" { "token keys" } else { "exact texts only" };
        println!(
            "variants   {:7.1} requests/s  hit rate {:4.1}%  p50 {:6.2} ms  ({keys})",
            run.rate(),
            100.0 * run.cached as f64 / stream.len() as f64,
            run.percentile(0.5)
        );
    }
}

//! `sentiserve analyze --input FILE` beside the server's all-miss rate on the same
//! model and texts, in the same run: the file path goes through the same service and
//! batcher, so its rows per second should be within 10% of the server's (issue 23's
//! goal). The CLI's own summary line gives its rate, counted from after the model
//! loaded; nothing is cached (`--no-disk-cache`, a fresh process).

use std::path::Path;
use std::process::Command;
use std::sync::Arc;

use super::{drive, root, start};

/// Server all-miss (32 in flight, one text a request) and the CLI over `texts`.
pub async fn compare(binary: &Path, client: &reqwest::Client, dir: &Path, texts: &[String], warm: &[String]) {
    println!("\n== whole files (minilm, f32) ==");
    let server = start(binary, dir, client, "f32").await;
    drive(client, &server.base, Arc::new(warm.to_vec()), 8).await;
    let run = drive(client, &server.base, Arc::new(texts.to_vec()), 32).await;
    assert_eq!(run.cached, 0, "all misses");
    drop(server);

    let input = root().join("target/bench/files-input.txt");
    std::fs::create_dir_all(input.parent().unwrap()).unwrap();
    let body: String = texts.iter().map(|t| format!("{}\n", t.replace(['\n', '\r'], " "))).collect();
    std::fs::write(&input, body).unwrap();
    let output = Command::new(binary)
        .args(["analyze", "--model"])
        .arg(format!("bench={}", dir.display()))
        .arg("--input")
        .arg(&input)
        .args(["--output", "/dev/null", "--no-disk-cache", "--no-progress"])
        .env("HF_HUB_OFFLINE", "1")
        .current_dir(dir)
        .output()
        .unwrap();
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stderr}");
    // "N rows in S s (R rows/s): ..."
    let cli: f64 = stderr
        .lines()
        .find_map(|line| line.split_once(" s (")?.1.split_once(" rows/s")?.0.parse().ok())
        .unwrap_or_else(|| panic!("no rate in: {stderr}"));
    println!(
        "files      CLI {cli:7.1} rows/s  server all-miss {:7.1} sentences/s  ratio {:.2} (goal >= 0.90; {} texts)",
        run.rate(),
        cli / run.rate(),
        texts.len()
    );
}

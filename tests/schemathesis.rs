//! Property-based tests of the HTTP API against its own OpenAPI document: schemathesis
//! (installed into target/test-venv by scripts/test-deps.sh) generates valid and
//! invalid requests for every documented operation and runs all of its checks (no 5xx,
//! status codes, content types and bodies as documented, bad data rejected, good data
//! accepted, auth honoured). Bounded examples and a fixed seed keep it deterministic.

mod common;

use std::path::Path;
use std::process::Command;

use common::server::{config, start};

/// Generated cases per operation.
const MAX_EXAMPLES: &str = "30";
const SEED: &str = "20261127";
const API_KEY: &str = "fuzz-api-key";

/// TEI's routes that sentiserve serves, as named in TEI's document.
const TEI_PATHS: [&str; 5] = ["/predict", "/rerank", "/info", "/tokenize", "/decode"];

fn schemathesis(base: &str, headers: &[String]) {
    run(&[format!("{base}/openapi.json")], None, headers);
}

/// Runs schemathesis with `target` (a document URL, or a file and its options), the
/// `settings` file if any, and every check.
fn run(target: &[String], settings: Option<&str>, headers: &[String]) {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let bin = root.join("target/test-venv/bin/schemathesis");
    assert!(bin.exists(), "run scripts/test-deps.sh (make test does) to install schemathesis");
    let mut command = Command::new(bin);
    if let Some(settings) = settings {
        command.args(["--config-file", settings]);
    }
    command
        .arg("run")
        .args(target)
        .args(["--checks", "all", "--max-examples", MAX_EXAMPLES, "--seed", SEED, "--workers", "1"])
        .args(["--generation-deterministic", "--no-color", "--request-timeout", "60"])
        .current_dir(root.join("target")) // its .schemathesis/ reports land there
        .env("SCHEMATHESIS_HOOKS", "")
        .env("NO_COLOR", "1");
    for header in headers {
        command.args(["-H", header]);
    }
    let output = command.output().expect("schemathesis runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(
        output.status.success(),
        "schemathesis found failures:\n{stdout}\n{}",
        String::from_utf8_lossy(&output.stderr)
    );
    eprintln!("{}", stdout.lines().rev().take(3).collect::<Vec<_>>().join("\n"));
}

/// A one-label cross-encoder as the default model, so that every route, `/rerank`
/// included, accepts what its schema allows without `?model=`; MiniLM beside it.
fn models() -> [(&'static str, std::path::PathBuf); 2] {
    [("reranker", common::tiny_dir("bert-reranker")), ("minilm", common::minilm_dir())]
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_holds_under_generated_requests_without_keys() {
    let server = start(config(&models())).await;
    server.wait_health(200).await;
    let base = server.base.clone();
    tokio::task::spawn_blocking(move || schemathesis(&base, &[])).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_operation_holds_under_generated_requests_with_a_key() {
    let mut config = config(&models());
    config.http.api_key = Some(API_KEY.into());
    let server = start(config).await;
    server.wait_health(200).await;
    let base = server.base.clone();
    let auth = format!("Authorization: Bearer {API_KEY}");
    tokio::task::spawn_blocking(move || schemathesis(&base, &[auth])).await.unwrap();
}

/// TEI's own published document (v1.9.3, `tests/contracts/`) against the TEI routes: a
/// script written for TEI sends what that document allows and reads what it promises.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn teis_routes_hold_under_teis_own_document() {
    let server = start(config(&models())).await;
    server.wait_health(200).await;
    let contracts = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/contracts");
    let document = contracts.join("tei-openapi-1.9.3.json").display().to_string();
    let settings = contracts.join("tei-schemathesis.toml").display().to_string();
    let mut target = vec![document, "--url".into(), server.base.clone()];
    for path in TEI_PATHS {
        target.extend(["--include-path".into(), path.to_string()]);
    }
    tokio::task::spawn_blocking(move || run(&target, Some(&settings), &[])).await.unwrap();
}

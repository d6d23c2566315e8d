//! The Python client (`clients/python`), `huggingface_hub.InferenceClient` and the
//! Streamlit example (`examples/streamlit/app.py`, driven in headless Chromium) against
//! a real server: runs their pytest suites with `SENTISERVE_URL` pointing at it. Besides
//! MiniLM (the default), the server has the tiny NLI and cross-encoder fixtures as
//! `nli` and `reranker`, for the client's `zero_shot` and `rerank` (`test_tasks.py`).
//!
//! The test venv (`target/test-venv`, made by scripts/test-deps.sh, which `make test`
//! runs) holds pytest, httpx, huggingface_hub, streamlit and selenium.

mod common;

use std::path::{Path, PathBuf};
use std::process::Command;

use common::server::{config, start};

const API_KEY: &str = "client-test-key";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

fn venv_python() -> PathBuf {
    let python = root().join("target/test-venv/bin/python");
    assert!(python.exists(), "run scripts/test-deps.sh (make test does) to create target/test-venv");
    python
}

/// Runs pytest on `clients/python/tests` against `url`; panics with its output unless
/// every test passed and none was skipped (a skip would hide a missing dependency).
fn pytest(url: &str, extra_env: &[(&str, &str)]) {
    let mut command = Command::new(venv_python());
    command
        .args(["-m", "pytest", "-q", "-rs", "clients/python/tests"])
        .current_dir(root())
        .env("SENTISERVE_URL", url)
        .env("PYTHONUNBUFFERED", "1")
        // huggingface_hub posts to the URL it is given; any Hub call it might add
        // would go to a closed loopback port, never off this machine.
        .env("HF_ENDPOINT", "http://127.0.0.1:9")
        .env_remove("SENTISERVE_API_KEY")
        .env_remove("SENTISERVE_ADMIN_KEY");
    for (key, value) in extra_env {
        command.env(key, value);
    }
    let output = command.output().expect("pytest runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "pytest failed:\n{stdout}\n{stderr}");
    let summary = stdout.lines().rev().find(|l| l.contains(" passed")).unwrap_or_default().to_string();
    assert!(!summary.contains("skipped"), "pytest skipped tests:\n{stdout}");
    eprintln!("clients/python: {summary}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn python_client_inference_client_and_streamlit_app_pass_against_a_server_with_a_key() {
    // `broken` names a directory that does not exist: the client's 503 test loads it.
    let missing = tempfile::tempdir().unwrap().path().join("no-model-here");
    let models = [
        ("minilm", common::minilm_dir()),
        ("broken", missing),
        // The names clients/python/tests/test_tasks.py uses.
        ("nli", common::tiny_dir("deberta-v2")),
        ("reranker", common::tiny_dir("bert-reranker")),
    ];
    let mut config = config(&models);
    config.preload = vec!["minilm".into(), "nli".into(), "reranker".into()];
    config.http.api_key = Some(API_KEY.into());
    let server = start(config).await;
    server.wait_health(200).await;
    let failed = server.client.post(server.url("/models/broken/load")).bearer_auth(API_KEY).send().await.unwrap();
    assert_eq!(failed.status(), 503);
    let url = server.base.clone();
    tokio::task::spawn_blocking(move || {
        pytest(&url, &[("SENTISERVE_API_KEY", API_KEY)]);
    })
    .await
    .unwrap();
}

//! The offline default: `make run`'s manifest (`models/models.toml`: the Hub's
//! DistilBERT SST-2, then the bundled MiniLM) answers without network, and a manifest
//! entry's sources are tried in order, with the fallback announced in the log and in
//! `GET /models`. The Hub is only ever a loopback address or switched off here.

mod common;

use std::path::Path;

use common::procs::{free_port, ServerProcess};
use serde_json::json;

const HUB_ID: &str = "distilbert/distilbert-base-uncased-finetuned-sst-2-english";

fn root() -> &'static Path {
    Path::new(env!("CARGO_MANIFEST_DIR"))
}

/// `make run` as a fresh clone without network runs it: the repository's manifest,
/// from the repository root, with an empty HF cache.
#[tokio::test(flavor = "multi_thread")]
async fn make_run_answers_offline_from_the_bundled_model() {
    let logs = tempfile::tempdir().unwrap();
    let hf_home = tempfile::tempdir().unwrap();
    let hf_home = hf_home.path().to_str().unwrap().to_string();
    let server = ServerProcess::spawn_with(
        &[],
        &logs.path().join("server.log"),
        &[("HF_HUB_OFFLINE", "1"), ("HF_HOME", &hf_home)],
        Some(root()),
    );
    server.ready().await;
    let (status, body) = server.analyze(json!({ "texts": ["I love this movie!", "Worst purchase ever."] })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "sentiment");
    assert_eq!(body["results"][0]["label"], "POSITIVE");
    assert_eq!(body["results"][1]["label"], "NEGATIVE");
    let model = server.model("sentiment").await;
    assert!(model["serving_source"].as_str().unwrap().ends_with("models/minilm-l6-sentiment"), "{model}");
    let reason = model["fallback_reason"].as_str().unwrap();
    assert!(reason.contains(HUB_ID) && reason.contains("HF_HUB_OFFLINE"), "{reason}");
    server.wait_log("model loaded from a fallback source").await;
}

/// With the Hub configured but unreachable (a closed loopback port), the next source
/// serves, and the Hub's error is reported.
#[tokio::test(flavor = "multi_thread")]
async fn an_unreachable_hub_falls_back_to_the_next_source() {
    let logs = tempfile::tempdir().unwrap();
    let hf_home = tempfile::tempdir().unwrap();
    let manifest = logs.path().join("models.toml");
    std::fs::write(
        &manifest,
        format!(
            "default = \"s\"\n[models.s]\nsource = [\"org/not-cached\", \"{}\"]\nmax_tokens = 64\n",
            common::minilm_dir().display()
        ),
    )
    .unwrap();
    let dead_hub = format!("http://127.0.0.1:{}", free_port());
    let server = ServerProcess::spawn_with(
        &["--models-file".into(), manifest.display().to_string()],
        &logs.path().join("server.log"),
        &[("HF_ENDPOINT", &dead_hub), ("HF_HOME", hf_home.path().to_str().unwrap()), ("HF_HUB_OFFLINE", "0")],
        None,
    );
    server.ready().await;
    let model = server.model("s").await;
    assert_eq!(model["source"], format!("org/not-cached, then {}", common::minilm_dir().display()));
    assert_eq!(model["serving_source"], common::minilm_dir().display().to_string());
    assert_eq!(model["max_tokens"], 64);
    assert!(model["fallback_reason"].as_str().unwrap().starts_with("org/not-cached: hub:"), "{model}");
    let (status, _) = server.analyze(json!({ "text": "works without the Hub" })).await;
    assert_eq!(status, 200);
}

/// A manifest with an unknown key stops the server at start-up with a message naming
/// the file, the model and the key.
#[test]
fn an_unknown_manifest_key_is_a_start_up_error() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("models.toml");
    std::fs::write(&manifest, "[models.s]\nsource = \"./x\"\nbatch_size = 4\n").unwrap();
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_sentiserve"))
        .args(["serve", "--port", "0", "--models-file"])
        .arg(&manifest)
        .env("HF_HUB_OFFLINE", "1")
        .output()
        .unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains(&manifest.display().to_string()), "{stderr}");
    assert!(stderr.contains("model `s`") && stderr.contains("batch_size"), "{stderr}");
}

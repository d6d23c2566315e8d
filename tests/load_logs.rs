//! What a model load logs (`--log-format json`): a configured `max_tokens` above the
//! model's own limit is capped with a warning that names both, and the "model ready"
//! line carries the dtype and the load time as a number of ms.

mod common;

use common::procs::ServerProcess;
use serde_json::Value;

#[tokio::test(flavor = "multi_thread")]
async fn a_capped_max_tokens_is_logged_and_model_ready_has_dtype_and_numeric_load_ms() {
    let dir = tempfile::tempdir().unwrap();
    let manifest = dir.path().join("models.toml");
    let model = common::minilm_dir();
    std::fs::write(
        &manifest,
        format!("default = \"m\"\n[models.m]\nsource = \"{}\"\nmax_tokens = 4096\ndtype = \"bf16\"\n", model.display()),
    )
    .unwrap();
    let args: Vec<String> =
        ["--models-file", manifest.to_str().unwrap(), "--log-format", "json"].iter().map(|s| s.to_string()).collect();
    let server = ServerProcess::spawn(&args, &dir.path().join("server.log"));
    server.ready().await;
    let log = server.wait_log("model ready").await;
    let lines: Vec<Value> = log.lines().filter_map(|l| serde_json::from_str(l).ok()).collect();
    let message = |m: &str| lines.iter().find(|l| l["fields"]["message"].as_str().is_some_and(|s| s.contains(m)));

    let capped = message("max_tokens is above the model's own limit").unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(capped["level"], "WARN");
    assert_eq!(capped["fields"]["configured"], 4096, "{capped}");
    assert_eq!(capped["fields"]["applied"], 512, "{capped}");

    let ready = message("model ready").unwrap_or_else(|| panic!("{lines:#?}"));
    assert_eq!(ready["fields"]["dtype"], "bf16", "{ready}");
    assert!(ready["fields"]["load_ms"].is_u64(), "a number, as in GET /models: {ready}");
    assert_eq!(server.model("m").await["max_tokens"], 512);
}

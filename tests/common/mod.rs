//! Helpers shared by the integration tests: paths into `../shared` and reference rows.
#![allow(dead_code)]

pub mod fake;
pub mod http;
pub mod inproc;
pub mod map_tier;
pub mod procs;
pub mod redis_topology;
pub mod server;
pub mod tls_certs;

use std::path::PathBuf;

/// `../shared`, beside the project root.
pub fn shared() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared");
    assert!(dir.is_dir(), "../shared is missing beside the project root: {}", dir.display());
    dir
}

/// The device the model tests compute on: `SENTISERVE_TEST_DEVICE` (`cpu` when unset;
/// `cuda` on a GPU machine with a `--features cuda` build, as `scripts/gpu-check.sh`
/// runs `tests/parity.rs`).
///
/// Panics on a device this build or machine lacks: a GPU run must not pass on the CPU.
pub fn test_device() -> candle_core::Device {
    let name = std::env::var("SENTISERVE_TEST_DEVICE").unwrap_or_else(|_| "cpu".into());
    let spec: sentiserve::model::DeviceSpec = name.parse().unwrap_or_else(|e| panic!("SENTISERVE_TEST_DEVICE: {e}"));
    spec.open().unwrap_or_else(|e| panic!("SENTISERVE_TEST_DEVICE={name}: {e}"))
}

/// The batch layouts a model runs on `device`: both on the CPU (packed is its
/// default), the padded one (candle ops) on a GPU.
pub fn executions(device: &candle_core::Device) -> Vec<sentiserve::model::Execution> {
    use sentiserve::model::Execution;
    if device.is_cpu() {
        vec![Execution::Packed, Execution::Padded]
    } else {
        vec![Execution::Padded]
    }
}

/// The real MiniLM sentiment model directory.
pub fn minilm_dir() -> PathBuf {
    shared().join("models/minilm-l6-sentiment")
}

/// A tiny fixture checkpoint directory.
pub fn tiny_dir(arch: &str) -> PathBuf {
    shared().join("fixtures/tiny").join(arch)
}

/// One line of a `reference.jsonl` computed by transformers.
#[derive(Debug, serde::Deserialize)]
pub struct Reference {
    pub text: String,
    pub input_ids: Vec<u32>,
    pub truncated: bool,
    pub logits: Vec<f32>,
    pub scores: std::collections::BTreeMap<String, f32>,
}

/// One line of a `pairs.jsonl` (text pairs) computed by transformers.
#[derive(Debug, serde::Deserialize)]
pub struct PairReference {
    pub text: String,
    pub text_pair: String,
    pub input_ids: Vec<u32>,
    pub token_type_ids: Vec<u32>,
    pub logits: Vec<f32>,
}

/// Reads every row of a pairs file.
pub fn pair_references(path: &std::path::Path) -> Vec<PairReference> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Reads every row of a reference file.
pub fn references(path: &std::path::Path) -> Vec<Reference> {
    let text = std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// A labelled sentence from `../shared/data/uci-sentiment`.
#[derive(Debug, serde::Deserialize)]
pub struct Labelled {
    pub text: String,
    pub label: serde_json::Value,
}

/// Reads a labelled-sentences file.
pub fn labelled(name: &str) -> Vec<Labelled> {
    let path = shared().join("data/uci-sentiment").join(name);
    let text = std::fs::read_to_string(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()));
    text.lines().filter(|l| !l.trim().is_empty()).map(|l| serde_json::from_str(l).unwrap()).collect()
}

/// Maps a dataset label (1/0, "1"/"0", "positive"/"negative") to POSITIVE/NEGATIVE.
pub fn label_name(label: &serde_json::Value) -> &'static str {
    let positive = match label {
        serde_json::Value::Number(n) => n.as_i64() == Some(1),
        serde_json::Value::String(s) => {
            matches!(s.to_ascii_lowercase().as_str(), "1" | "positive" | "pos")
        }
        serde_json::Value::Bool(b) => *b,
        _ => false,
    };
    if positive {
        "POSITIVE"
    } else {
        "NEGATIVE"
    }
}

//! The one-shot `sentiserve analyze` command prints the same JSON as `POST /analyze`.

mod common;

use std::process::Command;

#[test]
fn analyze_command_prints_labels_as_json() {
    let output = Command::new(env!("CARGO_BIN_EXE_sentiserve"))
        .arg("analyze")
        .arg("--model")
        .arg(format!("minilm={}", common::minilm_dir().display()))
        .args(["I love this movie!", "This is terrible."])
        .output()
        .unwrap();
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    let body: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(body["model"], "minilm");
    let labels: Vec<&str> = body["results"].as_array().unwrap().iter().map(|r| r["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["POSITIVE", "NEGATIVE"]);
    assert_eq!(body["results"][0]["cached"], false);
}

#[test]
fn unknown_model_fails_with_a_message() {
    let output =
        Command::new(env!("CARGO_BIN_EXE_sentiserve")).args(["analyze", "--model", "nope", "text"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown model `nope`"), "{stderr}");
}

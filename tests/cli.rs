//! The one-shot `sentiserve analyze` command prints the same JSON as `POST /analyze`;
//! `sentiserve serve` refuses an empty key before it binds.

mod common;

use std::process::{Command, Stdio};
use std::time::Instant;

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
    let stdout = String::from_utf8(output.stdout).unwrap();
    assert_eq!(stdout.lines().count(), 1, "one line of JSON, as the route answers: {stdout}");
    let body: serde_json::Value = serde_json::from_str(&stdout).unwrap();
    assert_eq!(body["model"], "minilm");
    let labels: Vec<&str> = body["results"].as_array().unwrap().iter().map(|r| r["label"].as_str().unwrap()).collect();
    assert_eq!(labels, ["POSITIVE", "NEGATIVE"]);
    assert_eq!(body["results"][0]["cached"], false);
}

#[test]
fn analyze_command_takes_top_k_and_a_text_pair() {
    let dir = common::tiny_dir("bert");
    let reference = &common::pair_references(&dir.join("pairs.jsonl"))[0];
    let output = Command::new(env!("CARGO_BIN_EXE_sentiserve"))
        .arg("analyze")
        .arg("--model")
        .arg(format!("pairs={}", dir.display()))
        .args(["--top-k", "1", "--text-pair", &reference.text_pair, &reference.text])
        .output()
        .unwrap();
    assert!(output.status.success(), "stderr: {}", String::from_utf8_lossy(&output.stderr));
    let body: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    let result = &body["results"][0];
    assert_eq!(result["scores"].as_array().unwrap().len(), 1, "top_k 1: {body}");
    // The pair's best label is transformers' argmax over the pair's logits.
    let best = reference.logits.iter().enumerate().max_by(|a, b| a.1.total_cmp(b.1)).unwrap().0;
    let config: serde_json::Value =
        serde_json::from_str(&std::fs::read_to_string(dir.join("config.json")).unwrap()).unwrap();
    assert_eq!(result["label"], config["id2label"][best.to_string()], "{body}");

    let zero =
        Command::new(env!("CARGO_BIN_EXE_sentiserve")).args(["analyze", "--top-k", "0", "text"]).output().unwrap();
    assert!(!zero.status.success());
}

#[test]
fn unknown_model_fails_with_a_message() {
    let output =
        Command::new(env!("CARGO_BIN_EXE_sentiserve")).args(["analyze", "--model", "nope", "text"]).output().unwrap();
    assert!(!output.status.success());
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(stderr.contains("unknown model `nope`"), "{stderr}");
}

/// Flags, environment variables, and what the error message must name.
type Case<'a> = (&'a [&'a str], &'a [(&'a str, &'a str)], &'a str);

#[test]
fn serve_refuses_an_empty_or_blank_key_before_binding() {
    let dir = tempfile::tempdir().unwrap();
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    let blank_first = dir.path().join("blank-first");
    std::fs::write(&blank_first, "\nK1\n").unwrap();
    let (empty, blank_first) = (empty.display().to_string(), blank_first.display().to_string());
    let cases: [Case; 4] = [
        (&["--api-key-file", &blank_first], &[], &blank_first),
        (&["--api-key", "K1", "--admin-key-file", &empty], &[], &empty),
        (&["--api-key", ""], &[], "--api-key (SENTISERVE_API_KEY) is empty"),
        (&[], &[("SENTISERVE_ADMIN_KEY", "")], "--admin-key (SENTISERVE_ADMIN_KEY) is empty"),
    ];
    for (flags, env, named) in cases {
        let port = common::procs::free_port().to_string();
        let mut child = Command::new(env!("CARGO_BIN_EXE_sentiserve"))
            .args(["serve", "--host", "127.0.0.1", "--port", &port, "--preload", "none"])
            .args(flags)
            .env("HF_HUB_OFFLINE", "1")
            .env_remove("SENTISERVE_API_KEY")
            .env_remove("SENTISERVE_ADMIN_KEY")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        let deadline = Instant::now() + common::http::WAIT;
        let status = loop {
            if let Some(status) = child.try_wait().unwrap() {
                break status;
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                let _ = child.wait();
                panic!("{flags:?} {env:?}: the server started instead of refusing the key");
            }
            std::thread::sleep(common::http::POLL);
        };
        let mut stderr = String::new();
        std::io::Read::read_to_string(&mut child.stderr.take().unwrap(), &mut stderr).unwrap();
        assert!(!status.success(), "{flags:?} {env:?}: {stderr}");
        assert!(stderr.contains(named) && stderr.contains("is empty"), "{flags:?} {env:?}: {stderr}");
        assert!(std::net::TcpStream::connect(("127.0.0.1", port.parse::<u16>().unwrap())).is_err(), "never bound");
    }
}

/// Runs the binary offline (no test may reach the Hub) and returns its stderr.
fn failing(args: &[&str]) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_sentiserve")).args(args).env("HF_HUB_OFFLINE", "1").output().unwrap();
    assert!(!output.status.success(), "{args:?} should fail");
    String::from_utf8(output.stderr).unwrap()
}

#[test]
fn source_errors_say_what_is_wrong_once() {
    let empty = tempfile::tempdir().unwrap();
    let empty_source = format!("x={}", empty.path().display());
    let cases: [(&[&str], &str); 4] = [
        (&["analyze", "--model", "x=./no-such-dir", "t"], "./no-such-dir is not a directory"),
        (&["analyze", "--model", &empty_source, "t"], "has no model.safetensors or pytorch_model.bin"),
        (&["analyze", "--model", "x=no-such/dir", "t"], "no directory ./no-such/dir exists here"),
        (&["download", "nosuchname"], "`nosuchname` is not a configured model (sentiment) nor a Hub id"),
    ];
    for (args, expected) in cases {
        let stderr = failing(args);
        let error = stderr.lines().find(|l| l.starts_with("error:")).unwrap_or_else(|| panic!("{stderr}"));
        assert!(error.contains(expected), "{args:?}: {error}");
        assert_eq!(error.matches(expected).count(), 1, "{args:?} says it twice: {error}");
    }
}

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

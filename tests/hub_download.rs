//! `sentiserve download` against a Hub-compatible server on loopback (the real Hub is
//! out of reach in tests), then offline reuse of the downloaded snapshot by `analyze`.

mod common;

use std::process::Command;

use axum::extract::{Path, State};
use axum::http::{HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};

const COMMIT: &str = "89abcdef0123456789abcdef0123456789abcdef";

/// `GET /{org}/{name}/resolve/{revision}/{file}` with `Range: bytes=N-[M]`, as the Hub
/// answers it: 206, `x-repo-commit`, `etag`, `content-range`.
async fn resolve(
    State(dir): State<std::path::PathBuf>,
    Path((org, name, _revision, file)): Path<(String, String, String, String)>,
    headers: HeaderMap,
) -> Response {
    if (org.as_str(), name.as_str()) != ("acme", "tiny-bert") {
        return StatusCode::NOT_FOUND.into_response();
    }
    let Ok(bytes) = std::fs::read(dir.join(&file)) else { return StatusCode::NOT_FOUND.into_response() };
    let range = headers.get("range").and_then(|v| v.to_str().ok()).unwrap_or("bytes=0-");
    let (start, end) = range.trim_start_matches("bytes=").split_once('-').unwrap();
    let start: usize = start.parse().unwrap();
    let end: usize = end.parse().map_or(bytes.len() - 1, |e: usize| e.min(bytes.len() - 1));
    let etag = format!("\"{:x}-{}\"", bytes.len(), file.len());
    (
        StatusCode::PARTIAL_CONTENT,
        [
            ("x-repo-commit", COMMIT.to_string()),
            ("etag", etag),
            ("content-range", format!("bytes {start}-{end}/{}", bytes.len())),
        ],
        bytes[start..=end].to_vec(),
    )
        .into_response()
}

#[tokio::test(flavor = "multi_thread")]
async fn download_fills_the_hf_cache_and_later_runs_need_no_network() {
    let app = axum::Router::new()
        .route("/{org}/{name}/resolve/{revision}/{file}", axum::routing::get(resolve))
        .with_state(common::tiny_dir("bert"));
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let hub = format!("http://{}", listener.local_addr().unwrap());
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    let home = tempfile::tempdir().unwrap();

    let run = |args: &[&str], endpoint: &str| {
        let (args, endpoint, home) =
            (args.iter().map(|s| s.to_string()).collect::<Vec<_>>(), endpoint.to_string(), home.path().to_path_buf());
        tokio::task::spawn_blocking(move || {
            Command::new(env!("CARGO_BIN_EXE_sentiserve"))
                .args(&args)
                .env("HF_HOME", &home)
                .env("HF_ENDPOINT", &endpoint)
                .env_remove("HF_TOKEN")
                .output()
                .unwrap()
        })
    };

    let output = run(&["download", "acme/tiny-bert"], &hub).await.unwrap();
    let stdout = String::from_utf8_lossy(&output.stdout);
    assert!(output.status.success(), "{stdout}\n{}", String::from_utf8_lossy(&output.stderr));
    let snapshot = home.path().join("hub/models--acme--tiny-bert/snapshots").join(COMMIT);
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        let want = std::fs::read(common::tiny_dir("bert").join(file)).unwrap();
        assert_eq!(std::fs::read(snapshot.join(file)).unwrap(), want, "{file} differs after download");
        assert!(stdout.contains(file), "{stdout}");
    }
    assert!(stdout.contains(COMMIT), "the resolved revision is reported: {stdout}");

    // The Hub is gone now: the cached snapshot is used without network.
    let dead = format!("http://127.0.0.1:{}", common::procs::free_port());
    let output = run(&["analyze", "--model", "tiny=acme/tiny-bert", "a sentence"], &dead).await.unwrap();
    assert!(output.status.success(), "{}", String::from_utf8_lossy(&output.stderr));
    let body: serde_json::Value = serde_json::from_slice(&output.stdout).unwrap();
    assert_eq!(body["model"], "tiny");
    assert_eq!(body["results"][0]["scores"].as_array().unwrap().len(), 3);

    let output = run(&["download", "acme/missing"], &hub).await.unwrap();
    assert!(!output.status.success());
    assert!(String::from_utf8_lossy(&output.stderr).contains("acme/missing"));
}

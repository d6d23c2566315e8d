//! The two verified wrong answers of issue 20, reproduced as a user would: two
//! replicas of the real MiniLM sharing one Redis.
//!
//! 1. A per-model `max_tokens` changes logits and the `truncated` flag, so an answer
//!    computed under `max_tokens = 16` must never come back `cached: true` from a
//!    replica that truncates at 512.
//! 2. The pair ("This is terrible", "just kidding, it is wonderful") and the single
//!    text "This is terrible\0just kidding, it is wonderful" are different inputs and
//!    must not share an entry.
//!
//! And the converse: replicas whose files sit at different paths (same bytes, same
//! settings) do share entries.

mod common;

use std::time::Duration;

use common::http::Http;
use common::procs::RedisServer;
use common::server::{config, start, TestServer};
use sentiserve::cache::redis::RedisConfig;
use serde_json::{json, Value};

/// A replica of `dir` sharing `redis`, with `max_tokens` when given.
async fn replica(redis: &RedisServer, dir: std::path::PathBuf, max_tokens: Option<usize>) -> TestServer {
    let mut config = config(&[("minilm", dir)]);
    config.catalog.models[0].settings.max_tokens = max_tokens;
    config.cache.redis = Some(RedisConfig {
        url: redis.url(),
        namespace: "sentiserve".into(),
        connect_timeout: Duration::from_secs(2),
        command_timeout: Duration::from_secs(2),
        tls: Default::default(),
        password_file: None,
    });
    let server = start(config).await;
    server.wait_health(200).await;
    server.wait_tier("redis", "up", |t| t["up"] == true).await;
    server
}

/// Waits until `server` has written `n` values to Redis.
async fn written(server: &Http, n: u64) {
    server.wait_tier("redis", "written", |t| t["writes"].as_u64().unwrap_or(0) >= n).await;
}

/// A fresh computation on `server`, bypassing the cache.
async fn fresh(server: &Http, body: &Value) -> Value {
    let response =
        server.client.post(server.url("/analyze")).header("cache-control", "no-store").json(body).send().await.unwrap();
    assert_eq!(response.status(), 200);
    response.json::<Value>().await.unwrap()["results"][0].clone()
}

fn without_cached(mut result: Value) -> Value {
    result.as_object_mut().unwrap().remove("cached");
    result
}

fn long_review() -> String {
    "The plot meanders for an hour before anything happens, the dialogue is wooden, and yet the final act is \
     so moving, so beautifully shot and so well acted that I left the theatre in tears and recommended it to \
     everyone I know. "
        .repeat(3)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_max_tokens_answer_is_not_served_to_a_replica_that_truncates_elsewhere() {
    let redis = RedisServer::start();
    let short = replica(&redis, common::minilm_dir(), Some(16)).await;
    let full = replica(&redis, common::minilm_dir(), None).await;
    let body = json!({ "text": long_review() });

    let (status, cut) = short.analyze(body.clone()).await;
    assert_eq!(status, 200);
    assert_eq!(cut["results"][0]["truncated"], true, "16 tokens cut this review");
    written(&short, 1).await;

    let (status, answer) = full.analyze(body.clone()).await;
    assert_eq!(status, 200);
    let result = answer["results"][0].clone();
    assert_eq!(result["cached"], false, "the 16-token answer must not be reused: {result}");
    assert_eq!(without_cached(result), without_cached(fresh(&full, &body).await));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_text_holding_nul_does_not_share_an_entry_with_a_pair() {
    let redis = RedisServer::start();
    let a = replica(&redis, common::minilm_dir(), None).await;
    let b = replica(&redis, common::minilm_dir(), None).await;

    let pair = json!({ "text": "This is terrible", "text_pair": "just kidding, it is wonderful" });
    let (status, _) = a.analyze(pair).await;
    assert_eq!(status, 200);
    written(&a, 1).await;

    let single = json!({ "text": "This is terrible\u{0}just kidding, it is wonderful" });
    let (status, answer) = b.analyze(single.clone()).await;
    assert_eq!(status, 200);
    let result = answer["results"][0].clone();
    assert_eq!(result["cached"], false, "the pair's answer must not be reused: {result}");
    assert_eq!(without_cached(result), without_cached(fresh(&b, &single).await));
}

#[tokio::test(flavor = "multi_thread")]
async fn replicas_with_the_same_files_at_different_paths_share_entries() {
    let copy = tempfile::tempdir().unwrap();
    for entry in std::fs::read_dir(common::minilm_dir()).unwrap() {
        let entry = entry.unwrap();
        if entry.file_type().unwrap().is_file() {
            std::fs::copy(entry.path(), copy.path().join(entry.file_name())).unwrap();
        }
    }
    let redis = RedisServer::start();
    let a = replica(&redis, common::minilm_dir(), None).await;
    let b = replica(&redis, copy.path().to_path_buf(), None).await;
    assert_eq!(a.model("minilm").await["fingerprint"], b.model("minilm").await["fingerprint"]);

    let body = json!({ "text": "Shared between replicas." });
    let (_, first) = a.analyze(body.clone()).await;
    assert_eq!(first["results"][0]["cached"], false);
    written(&a, 1).await;
    let (_, second) = b.analyze(body).await;
    assert_eq!(second["results"][0]["cached"], true, "same bytes, same settings: one entry");
    assert_eq!(without_cached(second["results"][0].clone()), without_cached(first["results"][0].clone()));
}

//! The registry as a bounded resource cache, end to end over HTTP: LRU eviction by
//! count and bytes (pinned models stay), idle unload, hot reload under load (no failed
//! request; a failed reload keeps the old weights), per-model settings, and request
//! deadlines.

mod common;

use std::path::PathBuf;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use common::server::{config, start, TestServer};
use sentiserve::registry::ModelSettings;
use sentiserve::ServerConfig;
use serde_json::{json, Value};

/// Three tiny models, none preloaded (so none pinned), with `adjust` applied.
async fn three_tiny(adjust: impl FnOnce(&mut ServerConfig)) -> TestServer {
    let mut config = config(&[
        ("a", common::tiny_dir("bert")),
        ("b", common::tiny_dir("distilbert")),
        ("c", common::tiny_dir("roberta")),
    ]);
    config.preload.clear();
    adjust(&mut config);
    start(config).await
}

async fn analyze_ok(server: &TestServer, model: &str, text: &str) -> Value {
    let (status, body) = server.analyze(json!({ "text": text, "model": model })).await;
    assert_eq!(status, 200, "{model}: {body}");
    body
}

fn states(models: &Value) -> Vec<(String, String)> {
    models["models"]
        .as_array()
        .unwrap()
        .iter()
        .map(|m| (m["name"].as_str().unwrap().to_string(), m["state"].as_str().unwrap().to_string()))
        .collect()
}

fn state_of<'a>(models: &'a Value, name: &str) -> &'a Value {
    models["models"].as_array().unwrap().iter().find(|m| m["name"] == name).unwrap()
}

#[tokio::test(flavor = "multi_thread")]
async fn loading_past_max_loaded_models_evicts_the_least_recently_used() {
    let server = three_tiny(|c| c.registry.max_loaded_models = Some(2)).await;
    analyze_ok(&server, "a", "one").await;
    analyze_ok(&server, "b", "two").await;
    analyze_ok(&server, "a", "three").await; // a is now more recent than b
    analyze_ok(&server, "c", "four").await;
    let models = server.get_json("/models").await;
    let want = [("a", "loaded"), ("b", "unloaded"), ("c", "loaded")].map(|(n, s)| (n.to_string(), s.to_string()));
    assert_eq!(states(&models), want);
    assert_eq!(state_of(&models, "b")["evictions"], 1);
    // The evicted model answers again (reloaded on demand), evicting the LRU one.
    analyze_ok(&server, "b", "five").await;
    let models = server.get_json("/models").await;
    let want = [("a", "unloaded"), ("b", "loaded"), ("c", "loaded")].map(|(n, s)| (n.to_string(), s.to_string()));
    assert_eq!(states(&models), want);
    let metrics = server.client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("sentiserve_model_evictions_total{model=\"b\",reason=\"capacity\"} 1"), "{metrics}");
    assert!(metrics.contains("sentiserve_models_loaded 2"), "{metrics}");
}

#[tokio::test(flavor = "multi_thread")]
async fn pinned_models_are_never_evicted() {
    let server = three_tiny(|c| {
        c.registry.max_loaded_models = Some(1);
        c.preload = vec!["a".into()]; // preloaded: pinned
    })
    .await;
    server.wait_health(200).await;
    analyze_ok(&server, "b", "one").await;
    analyze_ok(&server, "c", "two").await;
    let models = server.get_json("/models").await;
    assert_eq!(state_of(&models, "a")["pinned"], true);
    assert_eq!(state_of(&models, "a")["state"], "loaded");
    assert_eq!(state_of(&models, "b")["state"], "unloaded", "{models}");
    assert_eq!(state_of(&models, "c")["state"], "loaded");
}

#[tokio::test(flavor = "multi_thread")]
async fn the_byte_bound_evicts_and_models_report_their_bytes() {
    // Learn one tiny model's estimated size, then allow one and a half of them.
    let probe = three_tiny(|_| {}).await;
    analyze_ok(&probe, "a", "x").await;
    let bytes = state_of(&probe.get_json("/models").await, "a")["bytes"].as_u64().unwrap();
    assert!(bytes > 0);
    drop(probe);

    let server = three_tiny(|c| c.registry.max_bytes = Some(bytes * 3 / 2)).await;
    analyze_ok(&server, "a", "one").await;
    analyze_ok(&server, "b", "two").await;
    let models = server.get_json("/models").await;
    assert_eq!(state_of(&models, "a")["state"], "unloaded", "{models}");
    assert_eq!(state_of(&models, "b")["state"], "loaded");
}

#[tokio::test(flavor = "multi_thread")]
async fn an_idle_model_is_unloaded_after_its_idle_unload_secs() {
    let server = three_tiny(|c| {
        c.catalog.models[0].settings =
            ModelSettings { idle_unload: Some(Duration::from_secs(1)), ..ModelSettings::default() };
    })
    .await;
    analyze_ok(&server, "a", "one").await;
    analyze_ok(&server, "b", "two").await;
    let models = server.get_json("/models").await;
    assert_eq!(state_of(&models, "a")["idle_unload_secs"], 1);
    assert!(state_of(&models, "a")["last_used_ms"].as_u64().unwrap() > 0);
    let unloaded = server.wait_model("a", "unloaded").await;
    assert_eq!(unloaded["evictions"], 1);
    // b has no idle limit and stays.
    assert_eq!(state_of(&server.get_json("/models").await, "b")["state"], "loaded");
    let metrics = server.client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    assert!(metrics.contains("sentiserve_model_evictions_total{model=\"a\",reason=\"idle\"} 1"), "{metrics}");
}

/// A private copy of the MiniLM model whose weights a test can swap.
fn minilm_copy() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(common::minilm_dir().join(file), dir.path().join(file)).unwrap();
    }
    dir
}

fn f16_weights() -> PathBuf {
    common::shared().join("models/minilm-l6-sentiment-f16/model.safetensors")
}

async fn reload(server: &TestServer, name: &str) -> (u16, Value) {
    server.post(&format!("/models/{name}/reload")).await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_reload_under_load_swaps_weights_without_a_failed_request() {
    let dir = minilm_copy();
    let server = start(config(&[("m", dir.path().to_path_buf())])).await;
    server.wait_health(200).await;
    let before = server.model("m").await;
    let (status, first) = server.analyze(json!({ "text": "a sentence cached before the reload" })).await;
    assert_eq!((status, first["results"][0]["cached"].clone()), (200, json!(false)));

    // Closed-loop clients until the reload has returned and each sent some more.
    let done = Arc::new(AtomicUsize::new(0));
    let failures = Arc::new(AtomicUsize::new(0));
    let sent = Arc::new(AtomicUsize::new(0));
    let mut clients = Vec::new();
    for worker in 0..4 {
        let (http, done, failures, sent) =
            ((*server).clone(), Arc::clone(&done), Arc::clone(&failures), Arc::clone(&sent));
        clients.push(tokio::spawn(async move {
            let mut i = 0;
            let mut after_reload = 0;
            while after_reload < 5 {
                i += 1;
                let (status, body) = http.analyze(json!({ "text": format!("worker {worker} text {i}") })).await;
                if status != 200 {
                    eprintln!("failed request: {status} {body}");
                    failures.fetch_add(1, Ordering::SeqCst);
                }
                sent.fetch_add(1, Ordering::SeqCst);
                if done.load(Ordering::SeqCst) > 0 {
                    after_reload += 1;
                }
            }
        }));
    }
    // Let the clients get going, then swap the weights file and reload.
    while sent.load(Ordering::SeqCst) < 8 {
        tokio::task::yield_now().await;
    }
    std::fs::copy(f16_weights(), dir.path().join("model.safetensors")).unwrap();
    let (status, reloaded) = reload(&server, "m").await;
    done.store(1, Ordering::SeqCst);
    for client in clients {
        client.await.unwrap();
    }
    assert_eq!(status, 200, "{reloaded}");
    assert_eq!(failures.load(Ordering::SeqCst), 0, "requests failed across the reload");
    assert_eq!(reloaded["state"], "loaded");
    assert_ne!(reloaded["fingerprint"], before["fingerprint"], "new weights, new fingerprint");
    assert_eq!(reloaded["loads"], 2);
    // Entries of the old weights are not served for the new ones.
    let (_, again) = server.analyze(json!({ "text": "a sentence cached before the reload" })).await;
    assert_eq!(again["results"][0]["cached"], false);
    assert_eq!(again["results"][0]["label"], first["results"][0]["label"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_reload_keeps_the_old_weights_serving_and_says_why() {
    let dir = minilm_copy();
    let server = start(config(&[("m", dir.path().to_path_buf())])).await;
    server.wait_health(200).await;
    let before = server.model("m").await;
    std::fs::remove_file(dir.path().join("model.safetensors")).unwrap();
    let (status, body) = reload(&server, "m").await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["type"], "reload_failed");
    let after = server.model("m").await;
    assert_eq!(after["state"], "loaded");
    assert_eq!(after["fingerprint"], before["fingerprint"]);
    assert!(after["reload_error"].as_str().unwrap().contains("model.safetensors"), "{after}");
    let (status, _) = server.analyze(json!({ "text": "still served by the old weights" })).await;
    assert_eq!(status, 200);
    assert_eq!(server.get("/readyz").await.0, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn per_model_settings_override_the_flags() {
    let mut config = config(&[("m", common::minilm_dir())]);
    config.catalog.models[0].settings = ModelSettings {
        max_tokens: Some(16),
        max_batch_size: Some(4),
        queue_capacity: Some(8),
        cache_ttl: Some(Duration::from_secs(1)),
        ..ModelSettings::default()
    };
    let server = start(config).await;
    server.wait_health(200).await;
    let status = server.model("m").await;
    assert_eq!((status["max_tokens"].as_u64(), status["max_batch_size"].as_u64()), (Some(16), Some(4)));
    assert_eq!(status["queue_capacity"], 8);
    let long = "this sentence is far longer than sixteen tokens once it is tokenized by the model";
    let body = analyze_ok(&server, "m", long).await;
    assert_eq!(body["results"][0]["truncated"], true);
    // More distinct texts than the model's queue holds: 413 naming the limit.
    let texts: Vec<String> = (0..9).map(|i| format!("text {i}")).collect();
    let (code, body) = server.analyze(json!({ "texts": texts })).await;
    assert_eq!(code, 413, "{body}");
    // The model's cache TTL: the entry is a hit now and expires by itself.
    assert_eq!(analyze_ok(&server, "m", long).await["results"][0]["cached"], true);
    let metrics = server.client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for series in [
        "sentiserve_queue_depth{model=\"m\"} 0",
        "sentiserve_input_tokens_count{model=\"m\"}",
        "sentiserve_model_bytes{model=\"m\"}",
    ] {
        assert!(metrics.contains(series), "{series} missing:\n{metrics}");
    }
    let probe = || async { server.analyze(json!({ "text": long, "model": "m" })).await.1 };
    server.wait_for("the cached entry to expire", probe, |body| body["results"][0]["cached"] == false).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_past_its_deadline_answers_503_timeout() {
    let server = start(config(&[("m", common::minilm_dir())])).await;
    server.wait_health(200).await;
    let texts: Vec<String> = common::procs::sentences(0, 400);
    let response = server
        .client
        .post(server.url("/analyze"))
        .header("x-request-timeout-ms", "1")
        .json(&json!({ "texts": texts }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 503);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "timeout", "{body}");
    let bad = server
        .client
        .post(server.url("/analyze"))
        .header("x-request-timeout-ms", "soon")
        .json(&json!({ "text": "x" }))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 422);
    // Without a deadline the same texts are served.
    let (status, _) = server.analyze(json!({ "texts": common::procs::sentences(0, 20) })).await;
    assert_eq!(status, 200);
}

//! End-to-end tests of the HTTP API over real TCP with the shared MiniLM model.

mod common;

use common::server::{config, start, TestServer};
use serde_json::{json, Value};

async fn minilm_server() -> TestServer {
    let server = start(config(&[("minilm", common::minilm_dir())])).await;
    server.wait_health(200).await;
    server
}

fn labels(body: &Value) -> Vec<String> {
    body["results"].as_array().unwrap().iter().map(|r| r["label"].as_str().unwrap().to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn real_sentences_get_correct_labels_and_full_scores() {
    let server = minilm_server().await;
    let texts = [
        "I absolutely loved this film, the acting was wonderful.",
        "This was the worst purchase I have ever made.",
        "Great phone, works perfectly and the battery lasts for days.",
        "The food was cold and the service was terribly slow.",
    ];
    let (status, body) = server.analyze(json!({ "texts": texts })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["model"], "minilm");
    assert_eq!(labels(&body), ["POSITIVE", "NEGATIVE", "POSITIVE", "NEGATIVE"]);
    for result in body["results"].as_array().unwrap() {
        let scores = result["scores"].as_array().unwrap();
        assert_eq!(scores.len(), 2);
        let values: Vec<f64> = scores.iter().map(|s| s["score"].as_f64().unwrap()).collect();
        assert!(values[0] >= values[1], "scores must be descending: {result}");
        assert!((values.iter().sum::<f64>() - 1.0).abs() < 1e-4, "softmax sums to 1: {result}");
        assert_eq!(result["score"], scores[0]["score"]);
        assert_eq!(result["label"], scores[0]["label"]);
        assert_eq!(result["cached"], false);
    }

    // One text, the default model, the empty string.
    let (status, body) = server.analyze(json!({ "text": "" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"].as_array().unwrap().len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn duplicates_in_one_request_keep_input_order() {
    let server = minilm_server().await;
    let (status, body) = server.analyze(json!({ "texts": ["good movie", "awful movie", "good movie"] })).await;
    assert_eq!(status, 200, "{body}");
    let results = body["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    assert_eq!(results[0], results[2]);
    assert_ne!(results[0]["label"], results[1]["label"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn accuracy_on_amazon_sentences_is_at_least_90_percent() {
    let server = minilm_server().await;
    let data = common::labelled("amazon.jsonl");
    assert_eq!(data.len(), 1000);
    let mut correct = 0;
    for chunk in data.chunks(100) {
        let texts: Vec<&str> = chunk.iter().map(|d| d.text.as_str()).collect();
        let (status, body) = server.analyze(json!({ "texts": texts, "model": "minilm" })).await;
        assert_eq!(status, 200, "{body}");
        let got = labels(&body);
        assert_eq!(got.len(), chunk.len());
        correct += got.iter().zip(chunk).filter(|(g, d)| g.as_str() == common::label_name(&d.label)).count();
    }
    let accuracy = correct as f64 / data.len() as f64;
    assert!(accuracy >= 0.90, "accuracy {accuracy}");
}

#[tokio::test(flavor = "multi_thread")]
async fn repeat_hits_the_cache_and_clearing_empties_it() {
    let server = minilm_server().await;
    let body = json!({ "text": "The plot was predictable but I enjoyed it." });
    let (_, first) = server.analyze(body.clone()).await;
    let (_, second) = server.analyze(body.clone()).await;
    assert_eq!(first["results"][0]["cached"], false);
    assert_eq!(second["results"][0]["cached"], true);
    assert_eq!(first["results"][0]["scores"], second["results"][0]["scores"]);

    let (status, stats) = server.get("/cache").await;
    assert_eq!(status, 200);
    assert_eq!(stats["entries"], 2, "the text's key and its token ids' key: {stats}");
    assert_eq!((stats["hits"].as_u64(), stats["misses"].as_u64()), (Some(1), Some(1)));
    assert!(stats["bytes"].as_u64().unwrap() > 0);
    assert!(stats["capacity_bytes"].as_u64().unwrap() > 0);
    assert_eq!(stats["hit_rate"], 0.5);

    // Per-model clear.
    let (status, cleared) = server.delete("/cache?model=minilm").await;
    assert_eq!(status, 200, "{cleared}");
    assert_eq!(cleared["cleared"], "minilm");
    let (_, third) = server.analyze(body.clone()).await;
    assert_eq!(third["results"][0]["cached"], false);

    // Clear all.
    let (status, cleared) = server.delete("/cache").await;
    assert_eq!(status, 200);
    assert_eq!(cleared["cleared"], "all");
    assert_eq!(cleared["cache"]["entries"], 0);
    let (_, fourth) = server.analyze(body).await;
    assert_eq!(fourth["results"][0]["cached"], false);

    let (status, error) = server.delete("/cache?model=nope").await;
    assert_eq!(status, 404);
    assert_eq!(error["error"]["type"], "model_not_found");
}

#[tokio::test(flavor = "multi_thread")]
async fn concurrent_first_requests_load_the_model_once() {
    let mut cfg = config(&[("minilm", common::minilm_dir())]);
    cfg.preload.clear();
    let server = start(cfg).await;
    assert_eq!(server.model("minilm").await["state"], "unloaded");
    let requests = (0..12).map(|i| server.analyze(json!({ "text": format!("sentence number {i} is nice") })));
    for (status, body) in futures::future::join_all(requests).await {
        assert_eq!(status, 200, "{body}");
    }
    let model = server.model("minilm").await;
    assert_eq!(model["state"], "loaded");
    assert_eq!(model["loads"], 1, "{model}");
    assert_eq!(model["architecture"], "bert");
    assert_eq!(model["labels"], json!(["NEGATIVE", "POSITIVE"]));
    assert_eq!(model["device"], "cpu");
    assert_eq!(model["max_tokens"], 512);
    assert!(model["load_ms"].as_f64().unwrap() > 0.0);
}

#[tokio::test(flavor = "multi_thread")]
async fn unload_then_the_next_request_reloads_and_keeps_valid_cache_entries() {
    let server = minilm_server().await;
    let body = json!({ "text": "A delightful surprise from start to finish." });
    server.analyze(body.clone()).await;
    let (status, unloaded) = server.delete("/models/minilm").await;
    assert_eq!(status, 200, "{unloaded}");
    assert_eq!(unloaded["state"], "unloaded");
    let (status, again) = server.analyze(body.clone()).await;
    assert_eq!(status, 200);
    // Same weights, same fingerprint: the entry is still valid.
    assert_eq!(again["results"][0]["cached"], true);
    let (_, fresh) = server.analyze(json!({ "text": "Something never seen before, rather dull." })).await;
    assert_eq!(fresh["results"][0]["cached"], false);
    let model = server.model("minilm").await;
    assert_eq!((model["state"].as_str(), model["loads"].as_u64()), (Some("loaded"), Some(2)));

    let (status, loaded) = server.post("/models/minilm/load").await;
    assert_eq!(status, 200);
    assert_eq!(loaded["loads"], 2, "loading a loaded model is a no-op");
    let (status, error) = server.post("/models/nope/load").await;
    assert_eq!((status, error["error"]["type"].as_str()), (404, Some("model_not_found")));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failed_model_reports_why_and_does_not_stop_the_others() {
    let broken = tempfile::tempdir().unwrap();
    std::fs::write(broken.path().join("config.json"), "{ not json").unwrap();
    std::fs::write(broken.path().join("tokenizer.json"), "{}").unwrap();
    std::fs::write(broken.path().join("model.safetensors"), "").unwrap();
    let server = start(config(&[("minilm", common::minilm_dir()), ("broken", broken.path().to_path_buf())])).await;
    server.wait_model("minilm", "loaded").await;
    let broken_status = server.wait_model("broken", "failed").await;
    assert_eq!(broken_status["state"], "failed");
    assert!(broken_status["error"].as_str().unwrap().contains("config.json"), "{broken_status}");
    let (status, health) = server.get("/health").await;
    assert_eq!(status, 503);
    assert_eq!(health["status"], "unavailable");

    let (status, body) = server.analyze(json!({ "text": "hello", "model": "broken" })).await;
    assert_eq!(status, 503, "{body}");
    assert_eq!(body["error"]["type"], "model_unavailable");
    assert!(body["error"]["message"].as_str().unwrap().contains("config.json"));
    let (status, body) = server.post("/models/broken/load").await;
    assert_eq!(status, 503, "{body}");

    let (status, body) = server.analyze(json!({ "text": "I love it" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["label"], "POSITIVE");
}

#[tokio::test(flavor = "multi_thread")]
async fn reloaded_model_with_new_weights_never_serves_old_entries() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::fs::copy(common::tiny_dir("bert").join(file), dir.path().join(file)).unwrap();
    }
    let server = start(config(&[("tiny", dir.path().to_path_buf())])).await;
    server.wait_health(200).await;
    let body = json!({ "text": "the same text twice" });
    let (_, before) = server.analyze(body.clone()).await;
    let fingerprint_before = server.model("tiny").await["fingerprint"].clone();

    server.delete("/models/tiny").await;
    // New weights under the same name: shift the classifier bias.
    let path = dir.path().join("model.safetensors");
    let mut tensors = candle_core::safetensors::load(&path, &candle_core::Device::Cpu).unwrap();
    let bias = tensors["classifier.bias"].clone();
    tensors.insert("classifier.bias".into(), (bias + 1.5).unwrap());
    candle_core::safetensors::save(&tensors, &path).unwrap();
    let (status, _) = server.post("/models/tiny/load").await;
    assert_eq!(status, 200);

    let (_, after) = server.analyze(body).await;
    assert_ne!(server.model("tiny").await["fingerprint"], fingerprint_before);
    assert_eq!(after["results"][0]["cached"], false, "an entry of the old weights was served");
    assert_ne!(before["results"][0]["scores"], after["results"][0]["scores"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn bad_input_gets_a_json_error_with_the_right_status() {
    let mut cfg = config(&[("minilm", common::minilm_dir())]);
    cfg.limits.max_texts = 4;
    cfg.limits.max_body_bytes = 4096;
    let server = start(cfg).await;
    server.wait_health(200).await;
    let post = |body: String, content_type: Option<&'static str>| {
        let mut request = server.client.post(server.url("/analyze")).body(body);
        if let Some(ct) = content_type {
            request = request.header("content-type", ct);
        }
        async move {
            let response = request.send().await.unwrap();
            let status = response.status().as_u16();
            (status, response.json::<Value>().await.unwrap())
        }
    };
    let json_ct = Some("application/json");
    let cases: Vec<(String, Option<&'static str>, u16, &str)> = vec![
        ("{\"text\": ".into(), json_ct, 400, "invalid_json"),
        ("not json at all".into(), json_ct, 400, "invalid_json"),
        ("{\"text\": \"hi\"}".into(), None, 415, "unsupported_media_type"),
        ("{\"text\": \"hi\"}".into(), Some("text/plain"), 415, "unsupported_media_type"),
        ("{\"text\": 5}".into(), json_ct, 422, "invalid_request"),
        ("{\"texts\": [\"a\", 7]}".into(), json_ct, 422, "invalid_request"),
        ("{\"text\": \"a\", \"extra\": 1}".into(), json_ct, 422, "invalid_request"),
        ("{\"text\": \"a\", \"texts\": [\"b\"]}".into(), json_ct, 422, "invalid_request"),
        ("{}".into(), json_ct, 422, "invalid_request"),
        ("{\"texts\": []}".into(), json_ct, 422, "invalid_request"),
        ("[1, 2]".into(), json_ct, 422, "invalid_request"),
        (json!({ "texts": ["a", "b", "c", "d", "e"] }).to_string(), json_ct, 413, "batch_too_large"),
        (json!({ "text": "x".repeat(5000) }).to_string(), json_ct, 413, "payload_too_large"),
        (json!({ "text": "a", "model": "nope" }).to_string(), json_ct, 404, "model_not_found"),
    ];
    for (body, content_type, want_status, want_type) in cases {
        let shown = body.chars().take(60).collect::<String>();
        let (status, error) = post(body, content_type).await;
        assert_eq!(status, want_status, "{shown}: {error}");
        assert_eq!(error["error"]["type"], want_type, "{shown}: {error}");
        assert!(!error["error"]["message"].as_str().unwrap().is_empty());
    }
    let (status, error) = server.get("/no/such/route").await;
    assert_eq!((status, error["error"]["type"].as_str()), (404, Some("not_found")));
    let response = server.client.put(server.url("/analyze")).send().await.unwrap();
    assert_eq!(response.status().as_u16(), 405);
    let error: Value = response.json().await.unwrap();
    assert_eq!(error["error"]["type"], "method_not_allowed");
    let (status, error) = server.delete("/cache?bogus=1").await;
    assert_eq!((status, error["error"]["type"].as_str()), (400, Some("invalid_query")));

    // Odd but valid input is answered (the long one is truncated, within the body
    // limit); the server is still healthy.
    for text in ["\u{0}\u{1}\u{7f}", "😀🔥 emoji only", "  ", "\u{202e}rtl override", &"word ".repeat(700)] {
        let (status, body) = server.analyze(json!({ "text": text })).await;
        assert_eq!(status, 200, "{text:.20?}: {body}");
        assert_eq!(body["results"].as_array().unwrap().len(), 1, "{body}");
    }
    server.wait_health(200).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn metrics_expose_requests_cache_and_load_time() {
    let server = minilm_server().await;
    server.analyze(json!({ "text": "metrics please" })).await;
    server.analyze(json!({ "text": "metrics please" })).await;
    let text = server.client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    for name in [
        "sentiserve_http_requests_total",
        "sentiserve_http_request_duration_seconds_bucket",
        "sentiserve_cache_hits_total",
        "sentiserve_cache_misses_total",
        "sentiserve_model_load_seconds",
        "sentiserve_input_tokens_bucket",
        "sentiserve_batch_size_bucket",
        "sentiserve_batch_seconds_bucket",
        "sentiserve_queue_depth",
        "sentiserve_models_loaded",
        "sentiserve_model_bytes",
    ] {
        assert!(text.contains(name), "/metrics lacks {name}:\n{text}");
    }
    // Token counts are a histogram with token buckets, not a summary.
    assert!(text.contains("sentiserve_input_tokens_bucket{model=\"minilm\",le=\"512\"}"), "{text}");
    assert!(!text.lines().any(|l| l.starts_with("sentiserve_input_tokens") && l.contains("quantile=")), "{text}");
    assert!(text.contains("route=\"/analyze\""), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_queue_answers_429_and_completes_everything_it_accepted() {
    let mut cfg = config(&[("minilm", common::minilm_dir())]);
    cfg.batch.queue_capacity = 2;
    cfg.batch.max_batch_size = 1;
    let server = start(cfg).await;
    server.wait_health(200).await;
    let texts: Vec<String> = (0..48).map(|i| format!("overload sentence number {i}, with a few more words")).collect();
    let requests = texts.iter().map(|text| server.analyze(json!({ "text": text })));
    let outcomes = futures::future::join_all(requests).await;
    let (mut accepted, mut refused) = (Vec::new(), 0);
    for (text, (status, body)) in texts.iter().zip(&outcomes) {
        match status {
            200 => {
                assert_eq!(body["results"].as_array().unwrap().len(), 1, "{body}");
                accepted.push(text.clone());
            }
            429 => {
                assert_eq!(body["error"]["type"], "overloaded", "{body}");
                refused += 1;
            }
            other => panic!("unexpected status {other}: {body}"),
        }
    }
    assert!(refused > 0, "a queue of 2 should refuse some of 48 simultaneous requests");
    assert!(!accepted.is_empty());
    // Everything accepted was computed and cached; the server is healthy.
    for text in &accepted {
        let (status, body) = server.analyze(json!({ "text": text })).await;
        assert_eq!((status, body["results"][0]["cached"].as_bool()), (200, Some(true)), "{text}");
    }
    server.wait_health(200).await;
}

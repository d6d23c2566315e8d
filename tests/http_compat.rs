//! Drop-in behaviour over real TCP: transformers pipeline options on `/analyze`
//! (`top_k`, `function_to_apply`, `raw_scores`, `truncate`, text pairs), the
//! `Cache-Control` directives, TEI's `/predict` and `/info`, the Inference API's
//! `/hf-inference/models/{name}`, Swagger UI and the probes.

mod common;

use common::server::{config, start, TestServer};
use serde_json::{json, Value};

/// MiniLM (default, 2 labels, 512 tokens) and the tiny BERT fixture (3 labels, 64
/// tokens, with text-pair references).
async fn server() -> TestServer {
    let server = start(config(&[("minilm", common::minilm_dir()), ("bert", common::tiny_dir("bert"))])).await;
    server.wait_health(200).await;
    server
}

async fn post(server: &TestServer, path: &str, body: Value, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = server.client.post(server.url(path)).json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

fn scores(result: &Value) -> Vec<(String, f64)> {
    result["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["label"].as_str().unwrap().to_string(), s["score"].as_f64().unwrap()))
        .collect()
}

fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

#[tokio::test(flavor = "multi_thread")]
async fn pipeline_options_post_process_cached_logits() {
    let server = server().await;
    let text = "An utterly delightful film with a clever script.";
    let (status, full) = server.analyze(json!({ "text": text })).await;
    assert_eq!(status, 200, "{full}");
    assert_eq!(full["results"][0]["cached"], false);
    assert_eq!(full["results"][0]["truncated"], false);

    // Raw logits, by either name; each option reuses the cached logits.
    let (_, raw) = server.analyze(json!({ "text": text, "function_to_apply": "none" })).await;
    let (_, raw2) = server.analyze(json!({ "text": text, "raw_scores": true })).await;
    assert_eq!(raw["results"][0]["cached"], true, "post-processing options share the cache entry");
    assert_eq!(scores(&raw["results"][0]), scores(&raw2["results"][0]));
    let logits = scores(&raw["results"][0]);
    // Softmax of the raw logits is the default answer.
    let (a, b) = (logits[0].1, logits[1].1);
    let top = 1.0 / (1.0 + (b - a).exp());
    assert!((full["results"][0]["score"].as_f64().unwrap() - top).abs() < 1e-5, "{full} vs {raw}");

    let (_, sig) = server.analyze(json!({ "text": text, "function_to_apply": "sigmoid" })).await;
    for ((label, score), (raw_label, logit)) in scores(&sig["results"][0]).iter().zip(&logits) {
        assert_eq!(label, raw_label);
        assert!((score - sigmoid(*logit)).abs() < 1e-5);
    }

    let (_, top1) = server.analyze(json!({ "texts": [text, "Dreadful."], "top_k": 1 })).await;
    for result in top1["results"].as_array().unwrap() {
        assert_eq!(result["scores"].as_array().unwrap().len(), 1, "{result}");
        assert_eq!(result["scores"][0]["label"], result["label"]);
    }
    let (_, all) = server.analyze(json!({ "text": text, "top_k": null })).await;
    assert_eq!(all["results"][0]["scores"].as_array().unwrap().len(), 2);

    for bad in [
        json!({ "text": text, "top_k": 0 }),
        json!({ "text": text, "function_to_apply": "tanh" }),
        json!({ "text": text, "function_to_apply": "softmax", "raw_scores": true }),
        json!({ "texts": [text], "text_pair": "x" }),
        json!({ "texts": [{ "text": text, "extra": 1 }] }),
    ] {
        let (status, body) = server.analyze(bad.clone()).await;
        assert_eq!(status, 422, "{bad} → {body}");
        assert_eq!(body["error"]["type"], "invalid_request");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn truncation_is_reported_and_can_be_refused() {
    let server = server().await;
    let long = "word ".repeat(100); // 102 tokens with [CLS]/[SEP]; the tiny BERT takes 64
    let (status, body) =
        server.analyze(json!({ "texts": ["short", long.clone()], "model": "bert", "truncate": false })).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["type"], "input_too_long");
    let message = body["error"]["message"].as_str().unwrap();
    assert!(message.contains("input 1 has 102 tokens") && message.contains("at most 64"), "{message}");

    let (status, body) = server.analyze(json!({ "texts": ["short", long.clone()], "model": "bert" })).await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["results"][0]["truncated"], false);
    assert_eq!(body["results"][1]["truncated"], true);
    // The flag survives the cache.
    let (_, again) = server.analyze(json!({ "text": long, "model": "bert" })).await;
    assert_eq!(
        (again["results"][0]["cached"].clone(), again["results"][0]["truncated"].clone()),
        (json!(true), json!(true))
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn text_pairs_match_transformers_and_are_part_of_the_key() {
    let server = server().await;
    let rows = common::pair_references(&common::tiny_dir("bert").join("pairs.jsonl"));
    let texts: Vec<Value> = rows.iter().map(|r| json!({ "text": r.text, "text_pair": r.text_pair })).collect();
    let (status, body) = server.analyze(json!({ "texts": texts, "model": "bert", "raw_scores": true })).await;
    assert_eq!(status, 200, "{body}");
    let labels: Vec<String> = server.get_json("/info?model=bert").await["model_type"]["classifier"]["id2label"]
        .as_object()
        .unwrap()
        .values()
        .map(|v| v.as_str().unwrap().to_string())
        .collect();
    for (row, result) in rows.iter().zip(body["results"].as_array().unwrap()) {
        for (label, logit) in scores(result) {
            let index = labels.iter().position(|l| *l == label).unwrap();
            assert!(
                (logit - f64::from(row.logits[index])).abs() < 1e-4,
                "{}: {label} {logit} vs {:?}",
                row.text,
                row.logits
            );
        }
    }
    // The single-text form of a pair, and the text alone, are different entries.
    let first = &rows[0];
    let (_, pair) = server.analyze(json!({ "text": first.text, "text_pair": first.text_pair, "model": "bert" })).await;
    assert_eq!(pair["results"][0]["cached"], true, "same pair as in the batch: {pair}");
    let (_, alone) = server.analyze(json!({ "text": first.text, "model": "bert" })).await;
    assert_eq!(alone["results"][0]["cached"], false, "the text alone is another input: {alone}");
    assert_ne!(scores(&alone["results"][0]), scores(&pair["results"][0]));
}

#[tokio::test(flavor = "multi_thread")]
async fn cache_control_no_cache_refreshes_and_no_store_writes_nothing() {
    let server = server().await;
    let entries = |stats: &Value| stats["entries"].as_u64().unwrap();

    let (_, body) =
        post(&server, "/analyze", json!({ "text": "no-store text" }), &[("cache-control", "no-store")]).await;
    assert_eq!(body["results"][0]["cached"], false);
    assert_eq!(entries(&server.get_json("/cache").await), 0, "no-store must not write the entry");
    let (_, body) = server.analyze(json!({ "text": "no-store text" })).await;
    assert_eq!(body["results"][0]["cached"], false, "nothing was stored before");

    let (_, body) =
        post(&server, "/analyze", json!({ "text": "no-store text" }), &[("Cache-Control", "max-age=0, No-Cache")])
            .await;
    assert_eq!(body["results"][0]["cached"], false, "no-cache recomputes even when cached");
    assert_eq!(entries(&server.get_json("/cache").await), 2, "the text's key and its token ids' key");
    let (_, body) = server.analyze(json!({ "text": "no-store text" })).await;
    assert_eq!(body["results"][0]["cached"], true, "the refreshed entry serves the next request");
    let misses = server.get_json("/cache").await["misses"].as_u64().unwrap();
    assert_eq!(misses, 3, "three computations: no-store, the first plain request, no-cache");
}

#[tokio::test(flavor = "multi_thread")]
async fn tei_predict_and_info_have_tei_shapes() {
    let server = server().await;
    let (status, single) = post(&server, "/predict", json!({ "inputs": "I love this movie!" }), &[]).await;
    assert_eq!(status, 200, "{single}");
    let list = single.as_array().unwrap();
    assert_eq!(list.len(), 2, "all labels: {single}");
    assert_eq!(list[0]["label"], "POSITIVE");
    assert!(list[0]["score"].as_f64().unwrap() >= list[1]["score"].as_f64().unwrap());
    assert_eq!(list[0].as_object().unwrap().len(), 2, "only score and label: {single}");

    let (_, batch) =
        post(&server, "/predict", json!({ "inputs": [["I love this movie!"], ["Worst purchase ever."]] }), &[]).await;
    let batch = batch.as_array().unwrap();
    assert_eq!(batch.len(), 2);
    assert_eq!(batch[1][0]["label"], "NEGATIVE");

    let (_, raw) = post(&server, "/predict", json!({ "inputs": "I love this movie!", "raw_scores": true }), &[]).await;
    assert!(raw[0]["score"].as_f64().unwrap() > 1.0, "raw logits: {raw}");

    let rows = common::pair_references(&common::tiny_dir("bert").join("pairs.jsonl"));
    let (status, pair) = post(
        &server,
        "/predict?model=bert",
        json!({ "inputs": [rows[0].text, rows[0].text_pair], "raw_scores": true }),
        &[],
    )
    .await;
    assert_eq!(status, 200, "{pair}");
    let best = rows[0].logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
    assert!((pair[0]["score"].as_f64().unwrap() - f64::from(best)).abs() < 1e-4, "{pair}");

    // TEI's error shape and types.
    for bad in [
        json!({ "inputs": ["a", "b", "c"] }),
        json!({ "inputs": 3 }),
        json!({ "inputs": "a", "truncation_direction": "up" }),
    ] {
        let (status, body) = post(&server, "/predict", bad.clone(), &[]).await;
        assert_eq!(status, 422, "{bad} → {body}");
        assert_eq!(body["error_type"], "Validation", "{body}");
        assert!(body["error"].is_string(), "{body}");
    }
    let (status, body) = post(&server, "/predict", json!({ "inputs": [] }), &[]).await;
    assert_eq!((status, body["error_type"].as_str()), (400, Some("Empty")), "{body}");
    let (status, body) = post(&server, "/predict", json!({ "inputs": "a", "not_a_tei_field": 1 }), &[]).await;
    assert_eq!(status, 200, "unknown fields are ignored, as TEI does: {body}");

    let info = server.get_json("/info").await;
    assert_eq!(info["served_model_name"], "minilm");
    assert_eq!(info["model_name"], "minilm");
    assert_eq!(info["max_input_length"], 512);
    assert_eq!(info["model_type"]["classifier"]["id2label"]["1"], "POSITIVE");
    assert_eq!(info["model_type"]["classifier"]["label2id"]["NEGATIVE"], 0);
    let (status, body) = server.get("/info?model=nope").await;
    assert_eq!((status, body["error_type"].clone()), (404, json!("Validation")), "{body}");
    assert!(body["error"].as_str().unwrap().contains("nope"), "{body}");
}

#[tokio::test(flavor = "multi_thread")]
async fn inference_api_route_answers_one_list_per_input() {
    let server = server().await;
    let (status, one) =
        post(&server, "/hf-inference/models/minilm", json!({ "inputs": "I love this movie!" }), &[]).await;
    assert_eq!(status, 200, "{one}");
    assert_eq!(one.as_array().unwrap().len(), 1);
    assert_eq!(one[0].as_array().unwrap().len(), 2, "every label: {one}");
    assert_eq!(one[0][0]["label"], "POSITIVE");

    let body = json!({ "inputs": ["I love this movie!", "Worst purchase ever."], "parameters": { "top_k": 1 } });
    let (_, two) = post(&server, "/hf-inference/models/minilm", body, &[]).await;
    assert_eq!(
        two,
        json!([[{ "label": "POSITIVE", "score": two[0][0]["score"] }], [{ "label": "NEGATIVE", "score": two[1][0]["score"] }]])
    );

    let (status, body) = post(&server, "/hf-inference/models/nope", json!({ "inputs": "x" }), &[]).await;
    assert_eq!((status, body["error"]["type"].clone()), (404, json!("model_not_found")));
}

#[tokio::test(flavor = "multi_thread")]
async fn swagger_ui_and_probes_are_served() {
    let server = server().await;
    let response = server.client.get(server.url("/docs/")).send().await.unwrap();
    assert_eq!(response.status(), 200);
    let page = response.text().await.unwrap();
    assert!(page.contains("swagger-ui"), "{page:.200}");
    let config =
        server.client.get(server.url("/docs/swagger-initializer.js")).send().await.unwrap().text().await.unwrap();
    assert!(config.contains("/openapi.json"), "{config}");
    assert_eq!(server.get_json("/livez").await["status"], "ok");
    assert_eq!(server.get_json("/readyz").await["status"], "ok");
    let doc = server.get_json("/openapi.json").await;
    for path in ["/predict", "/info", "/hf-inference/models/{name}", "/livez", "/readyz"] {
        assert!(doc["paths"][path].is_object(), "{path} documented");
    }
}

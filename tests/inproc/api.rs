//! Routes, options, errors, auth and readiness.

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::common::fake::{self, FakeModel};
use crate::common::inproc::{config, InProc};

fn softmax(logits: &[f32]) -> Vec<f32> {
    let max = logits.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
    let exps: Vec<f32> = logits.iter().map(|x| (x - max).exp()).collect();
    let sum: f32 = exps.iter().sum();
    exps.iter().map(|e| e / sum).collect()
}

/// The fake's logits for `text` under [`FakeModel::sentiment`] at its own limit.
fn expected_logits(text: &str) -> Vec<f32> {
    let model = FakeModel::sentiment();
    let ids = fake::fake_ids(&sentiserve::model::TextInput::single(text));
    fake::fake_logits(&ids, fake::word_id(&model.content), model.labels.len())
}

#[tokio::test]
async fn analyze_answers_in_order_with_the_engines_scores_and_caches_them() {
    let app = InProc::new(config(&["m"])).ready().await;
    let texts = ["great food", "awful service", "great food"];
    let reply = app.analyze(&json!({ "texts": texts })).await;
    assert_eq!(reply.status, StatusCode::OK, "{}", reply.text);
    assert_eq!(reply.json["model"], "m");
    let results = reply.json["results"].as_array().unwrap();
    assert_eq!(results.len(), 3);
    for (text, result) in texts.iter().zip(results) {
        let probabilities = softmax(&expected_logits(text));
        let best = probabilities.iter().cloned().fold(f32::NEG_INFINITY, f32::max);
        let label = ["NEGATIVE", "POSITIVE"][probabilities.iter().position(|p| *p == best).unwrap()];
        assert_eq!(result["label"], label, "{text}");
        assert!((result["score"].as_f64().unwrap() - f64::from(best)).abs() < 1e-6, "{text}: {result}");
        assert_eq!(result["scores"].as_array().unwrap().len(), 2);
    }
    assert_eq!(reply.cached(), [false, false, false]);
    assert_eq!(app.activity().texts(), 2, "a text repeated in one request runs once");

    let again = app.analyze(&json!({ "texts": ["awful service", "great food"] })).await;
    assert_eq!(again.cached(), [true, true]);
    assert_eq!(
        again.json["results"][1],
        results[0]
            .as_object()
            .map(|o| {
                let mut o = o.clone();
                o.insert("cached".into(), json!(true));
                serde_json::Value::Object(o)
            })
            .unwrap()
    );
    assert_eq!(app.activity().texts(), 2, "hits run nothing");
}

#[tokio::test]
async fn pipeline_options_post_process_cached_logits() {
    let app = InProc::new(config(&["m"])).ready().await;
    let text = "the soup was cold";
    let raw = app.analyze(&json!({ "text": text, "function_to_apply": "none" })).await;
    assert_eq!(raw.status, StatusCode::OK, "{}", raw.text);
    let logits = expected_logits(text);
    // Scores are f32 on the wire (shortest representation): compare as f32.
    let mut scores: Vec<f32> = raw.json["results"][0]["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["score"].as_f64().unwrap() as f32)
        .collect();
    scores.sort_by(|a, b| b.partial_cmp(a).unwrap());
    let mut expected = logits.clone();
    expected.sort_by(|a, b| b.partial_cmp(a).unwrap());
    assert_eq!(scores, expected, "raw logits, best first");

    let top1 = app.analyze(&json!({ "text": text, "top_k": 1 })).await;
    assert_eq!(top1.json["results"][0]["scores"].as_array().unwrap().len(), 1);
    assert_eq!(top1.cached(), [true], "options do not change the key");
    assert_eq!(app.activity().texts(), 1);

    let zero = app.analyze(&json!({ "text": text, "top_k": 0 })).await;
    assert!(zero.status.is_client_error(), "top_k 0: {}", zero.status);
}

#[tokio::test]
async fn truncation_is_flagged_and_refusable() {
    let mut config = config(&["m"]);
    config.catalog.models[0].settings.max_tokens = Some(6);
    let app = InProc::new(config).ready().await;
    let long = "one two three four five six seven eight";
    let cut = app.analyze(&json!({ "text": long })).await;
    assert_eq!(cut.status, StatusCode::OK);
    assert_eq!(cut.json["results"][0]["truncated"], true);
    let short = app.analyze(&json!({ "text": "one two" })).await;
    assert_eq!(short.json["results"][0]["truncated"], false);
    let refused = app.analyze(&json!({ "text": long, "truncate": false })).await;
    assert_eq!(refused.status, StatusCode::PAYLOAD_TOO_LARGE, "{}", refused.text);
    assert_eq!(refused.error_type(), "input_too_long");
    let models = app.get("/models").await;
    assert_eq!(models.json["models"][0]["max_tokens"], 6);
}

#[tokio::test]
async fn bad_requests_get_typed_json_errors() {
    let app = InProc::new(config(&["m"])).ready().await;
    let unknown = app.analyze(&json!({ "text": "x", "model": "nope" })).await;
    assert_eq!(unknown.status, StatusCode::NOT_FOUND);
    assert_eq!(unknown.error_type(), "model_not_found");

    let reply = app.send(Method::POST, "/analyze", None, &[("content-type", "application/json")]).await;
    assert!(reply.status.is_client_error());
    assert!(reply.json["error"]["message"].is_string(), "{}", reply.text);

    let both = app.analyze(&json!({ "text": "a", "texts": ["b"] })).await;
    assert!(both.status.is_client_error(), "{}", both.text);
    assert!(!both.error_type().is_empty());

    let wrong_type = app.send(Method::POST, "/analyze", None, &[("content-type", "text/plain")]).await;
    assert_eq!(wrong_type.status, StatusCode::UNSUPPORTED_MEDIA_TYPE);

    let method = app.send(Method::PUT, "/analyze", None, &[]).await;
    assert_eq!(method.status, StatusCode::METHOD_NOT_ALLOWED);
    assert_eq!(method.error_type(), "method_not_allowed");

    let failing = app.analyze(&json!({ "text": "this one #fail" })).await;
    assert_eq!(failing.status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(failing.error_type(), "inference_error");
    let after = app.analyze(&json!({ "text": "still serving" })).await;
    assert_eq!(after.status, StatusCode::OK, "a failed batch does not stop the model");
}

#[tokio::test]
async fn keys_guard_inference_and_admin_routes() {
    let mut config = config(&["m"]);
    config.http.api_key = Some("api-key-1".into());
    config.http.admin_key = Some("admin-key-2".into());
    let app = InProc::new(config).ready().await;
    let body = json!({ "text": "hello" });
    let bearer = |key: &str| format!("Bearer {key}");

    let none = app.send(Method::POST, "/analyze", Some(&body), &[]).await;
    assert_eq!(none.status, StatusCode::UNAUTHORIZED);
    assert_eq!(none.error_type(), "unauthorized");
    let message = |reply: &crate::common::inproc::Reply| reply.json["error"]["message"].as_str().unwrap().to_string();
    assert!(message(&none).starts_with("no key sent"), "{}", none.text);
    let wrong = app.send(Method::POST, "/analyze", Some(&body), &[("authorization", "Bearer nope")]).await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(message(&wrong).starts_with("the key sent is wrong"), "{}", wrong.text);
    let api = bearer("api-key-1");
    let ok = app.send(Method::POST, "/analyze", Some(&body), &[("authorization", &api)]).await;
    assert_eq!(ok.status, StatusCode::OK);
    let x_api = app.send(Method::POST, "/analyze", Some(&body), &[("x-api-key", "api-key-1")]).await;
    assert_eq!(x_api.status, StatusCode::OK);

    let as_api = app.send(Method::DELETE, "/cache", None, &[("authorization", &api)]).await;
    assert_eq!(as_api.status, StatusCode::UNAUTHORIZED, "the API key is not the admin key");
    assert!(message(&as_api).contains("needs the admin key"), "{}", as_api.text);
    let admin = bearer("admin-key-2");
    let as_admin = app.send(Method::DELETE, "/cache", None, &[("authorization", &admin)]).await;
    assert_eq!(as_admin.status, StatusCode::OK);

    for open in ["/health", "/livez", "/openapi.json", "/metrics"] {
        assert_eq!(app.get(open).await.status, StatusCode::OK, "{open} stays open");
    }
}

#[tokio::test]
async fn readiness_follows_preload_and_failed_loads() {
    let loader = fake::FakeLoader::new([("m", FakeModel::sentiment())]);
    let failing = FakeModel::sentiment();
    failing.fail_loads.store(1, std::sync::atomic::Ordering::SeqCst);
    loader.set("m", failing);
    let app = InProc::with_loader(config(&["m"]), loader);
    let before = app.get("/health").await;
    assert_eq!(before.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(before.json["status"], "loading");
    assert_eq!(app.get("/livez").await.status, StatusCode::OK, "alive while loading");

    let app = app.ready().await;
    let failed = app.get("/health").await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(failed.json["status"], "unavailable");
    let analyze = app.analyze(&json!({ "text": "x" })).await;
    assert_eq!(analyze.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(analyze.error_type(), "model_unavailable");

    let retried = app.post("/models/m/load", &json!({})).await;
    assert_eq!(retried.status, StatusCode::OK, "{}", retried.text);
    assert_eq!(app.get("/health").await.json["status"], "ok");
    assert_eq!(app.activity().loads(), 2);
}

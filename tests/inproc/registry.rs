//! Eviction, unload, reload and on-demand loads.

use axum::http::StatusCode;
use serde_json::json;

use crate::common::fake::FakeModel;
use crate::common::inproc::{config, InProc};

#[tokio::test]
async fn a_bounded_registry_evicts_the_least_recently_used_model() {
    let mut config = config(&["a", "b"]);
    config.preload.clear();
    config.registry.max_loaded_models = Some(1);
    let app = InProc::new(config);
    assert_eq!(app.analyze(&json!({ "text": "x", "model": "a" })).await.status, StatusCode::OK);
    assert_eq!(app.analyze(&json!({ "text": "x", "model": "b" })).await.status, StatusCode::OK);
    let models = app.get("/models").await.json;
    let state = |name: &str| models["models"].as_array().unwrap().iter().find(|m| m["name"] == name).unwrap().clone();
    assert_eq!(state("a")["state"], "unloaded");
    assert_eq!(state("a")["evictions"], 1);
    assert_eq!(state("b")["state"], "loaded");

    // An evicted model loads again on demand; its cached answers survive eviction.
    let again = app.analyze(&json!({ "text": "x", "model": "a" })).await;
    assert_eq!(again.cached(), [true]);
    assert_eq!(app.activity().loads(), 3);
}

#[tokio::test]
async fn unload_frees_and_the_next_request_loads_again() {
    let app = InProc::new(config(&["m"])).ready().await;
    let unloaded = app.delete("/models/m").await;
    assert_eq!(unloaded.status, StatusCode::OK);
    assert_eq!(unloaded.json["state"], "unloaded");
    assert_eq!(app.get("/health").await.status, StatusCode::OK, "an unloaded preloaded model stays ready");
    assert_eq!(app.analyze(&json!({ "text": "x" })).await.status, StatusCode::OK);
    assert_eq!(app.activity().loads(), 2);
    assert_eq!(app.delete("/models/zzz").await.status, StatusCode::NOT_FOUND);
}

#[tokio::test]
async fn reload_swaps_weights_and_their_cached_answers() {
    let app = InProc::new(config(&["m"])).ready().await;
    let text = json!({ "text": "the pasta was fine" });
    let first = app.analyze(&text).await;
    let identity = app.get("/models").await.json["models"][0]["fingerprint"].clone();
    assert_eq!(app.analyze(&text).await.cached(), [true]);

    app.loader.set("m", FakeModel { content: "weights-2".into(), ..FakeModel::sentiment() });
    let reloaded = app.post("/models/m/reload", &json!({})).await;
    assert_eq!(reloaded.status, StatusCode::OK, "{}", reloaded.text);
    assert_ne!(reloaded.json["fingerprint"], identity, "new weights, new identity");

    let after = app.analyze(&text).await;
    assert_eq!(after.cached(), [false], "the old weights' answer is not reused");
    assert_ne!(after.json["results"][0]["scores"], first.json["results"][0]["scores"]);

    // A failed reload keeps the new weights serving and says why.
    let broken = FakeModel { content: "weights-3".into(), ..FakeModel::sentiment() };
    broken.fail_loads.store(1, std::sync::atomic::Ordering::SeqCst);
    app.loader.set("m", broken);
    let failed = app.post("/models/m/reload", &json!({})).await;
    assert_eq!(failed.status, StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(failed.error_type(), "reload_failed");
    assert_eq!(app.analyze(&text).await.cached(), [true], "still serving weights-2");
    assert!(app.get("/models").await.json["models"][0]["reload_error"].is_string());
}

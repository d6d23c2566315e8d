//! The cache's second level: texts whose token ids are equal (the fake tokenizer is
//! case-insensitive and splits on whitespace, like an uncased WordPiece) share one
//! answer, in memory and in a shared lower tier, and only when token keys are on.

use std::sync::Arc;

use axum::http::Method;
use serde_json::{json, Value};

use crate::common::fake::{FakeLoader, FakeModel};
use crate::common::inproc::{config, InProc, Reply};
use crate::common::map_tier::{MapTier, SharedMap};

/// `text`'s answer: (cached, truncated, scores).
async fn ask(app: &InProc, text: &str) -> (bool, bool, Value) {
    let reply = app.analyze(&json!({ "text": text })).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    let result = &reply.json["results"][0];
    (result["cached"] == true, result["truncated"] == true, result["scores"].clone())
}

/// `text` computed afresh, writing nothing (`Cache-Control: no-store`).
async fn fresh(app: &InProc, text: &str) -> Reply {
    app.send(Method::POST, "/analyze", Some(&json!({ "text": text })), &[("cache-control", "no-store")]).await
}

async fn token_hits(app: &InProc) -> u64 {
    app.get("/cache").await.json["token_hits"].as_u64().unwrap()
}

#[tokio::test]
async fn case_and_spacing_variants_are_answered_from_the_first_computation() {
    let app = InProc::new(config(&["m"])).ready().await;
    let (cached, _, first) = ask(&app, "GREAT FOOD").await;
    assert!(!cached);
    for variant in ["great food", "  Great \t food\n", "great   FOOD"] {
        let (cached, _, scores) = ask(&app, variant).await;
        assert!(cached, "{variant:?} tokenizes like `GREAT FOOD`");
        assert_eq!(scores, first);
        assert_eq!(scores, fresh(&app, variant).await.json["results"][0]["scores"], "equal to a fresh computation");
    }
    // One forward pass for the first text and one per no-store request.
    assert_eq!(app.activity().texts(), 1 + 3);
    assert_eq!(token_hits(&app).await, 3);
    // The variant's own exact key answers now, without counting a token hit.
    assert!(ask(&app, "great food").await.0);
    let stats = app.get("/cache").await.json;
    assert_eq!((stats["hits"].as_u64(), stats["token_hits"].as_u64()), (Some(4), Some(3)), "{stats}");
    assert!(!ask(&app, "great drinks").await.0, "other tokens are a miss");
}

#[tokio::test]
async fn a_tail_past_the_limit_shares_the_answer_and_each_text_keeps_its_truncation_flag() {
    let mut config = config(&["m"]);
    config.catalog.models[0].settings.max_tokens = Some(8);
    let app = InProc::new(config).ready().await;
    let head = "one two three four five six";
    let (cached, truncated, first) = ask(&app, &format!("{head} seven eight nine")).await;
    assert!(!cached && truncated);
    let (cached, truncated, scores) = ask(&app, &format!("{head} and a different ending")).await;
    assert!(cached && truncated);
    assert_eq!(scores, first);
    // `[CLS] head [SEP]` fits: the same ids as the truncated texts, but not truncated.
    let (cached, truncated, scores) = ask(&app, head).await;
    assert!(cached && !truncated, "the answer's truncation flag is this text's own");
    assert_eq!(scores, first);
    assert_eq!(app.activity().texts(), 1);
}

#[tokio::test]
async fn concurrent_variants_run_the_model_once() {
    let app = Arc::new(InProc::new(config(&["m"])).ready().await);
    app.activity().gate.close();
    let (a, b) = (Arc::clone(&app), Arc::clone(&app));
    let first = tokio::spawn(async move { ask(&a, "Shared Input").await });
    let second = tokio::spawn(async move { ask(&b, "shared   input").await });
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while app.activity().gate.waiting() == 0 {
        assert!(std::time::Instant::now() < deadline, "no forward pass started");
        tokio::task::yield_now().await;
    }
    app.activity().gate.open();
    let (first, second) = (first.await.unwrap(), second.await.unwrap());
    assert_eq!(first.2, second.2);
    assert_eq!([first.0, second.0].iter().filter(|c| **c).count(), 1, "one computed, one waited");
    assert_eq!(app.activity().texts(), 1);
}

/// A replica with its own memory over the shared `map`.
async fn replica(map: &Arc<SharedMap>, token_keys: bool) -> InProc {
    let mut config = config(&["m"]);
    config.cache.token_keys = token_keys;
    let loader = Arc::new(FakeLoader::default());
    loader.set("m", FakeModel::sentiment());
    InProc::with_tiers(config, loader, MapTier::boxed(map)).ready().await
}

#[tokio::test]
async fn a_replica_finds_another_replicas_answer_by_its_tokens_until_a_clear() {
    let map = Arc::new(SharedMap::default());
    let (one, two) = (replica(&map, true).await, replica(&map, true).await);
    let (_, _, first) = ask(&one, "The Service Was Slow").await;
    assert_eq!(map.len(), 1, "the lower tiers hold the token key only: {:?}", map.keys());
    let (cached, _, scores) = ask(&two, "the service was slow").await;
    assert!(cached, "found in the shared tier by its token ids");
    assert_eq!(scores, first);
    assert_eq!(two.activity().texts(), 0);
    assert_eq!(token_hits(&two).await, 1);

    assert_eq!(one.delete("/cache?model=m").await.status, 200);
    assert_eq!(map.len(), 0, "a model's clear takes its token keys too");
    let three = replica(&map, true).await;
    assert!(!ask(&three, "THE SERVICE WAS SLOW").await.0);
}

#[tokio::test]
async fn with_token_keys_off_only_exact_texts_hit() {
    let map = Arc::new(SharedMap::default());
    let app = replica(&map, false).await;
    assert!(!ask(&app, "GREAT FOOD").await.0);
    assert!(!ask(&app, "great food").await.0);
    assert!(ask(&app, "great food").await.0);
    assert_eq!(map.len(), 2, "two exact keys, no token key: {:?}", map.keys());
    assert_eq!(token_hits(&app).await, 0);
}

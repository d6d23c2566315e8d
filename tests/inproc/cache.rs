//! Cache directives and deadlines.

use std::sync::Arc;

use axum::http::{Method, StatusCode};
use serde_json::json;

use crate::common::inproc::{config, InProc};

#[tokio::test]
async fn no_cache_recomputes_and_refreshes_no_store_writes_nothing() {
    let app = InProc::new(config(&["m"])).ready().await;
    let body = json!({ "text": "a directive" });
    let first = app.send(Method::POST, "/analyze", Some(&body), &[("cache-control", "no-store")]).await;
    assert_eq!(first.cached(), [false]);
    assert_eq!(app.analyze(&body).await.cached(), [false], "no-store cached nothing");
    assert_eq!(app.analyze(&body).await.cached(), [true]);
    let refreshed = app.send(Method::POST, "/analyze", Some(&body), &[("cache-control", "no-cache")]).await;
    assert_eq!(refreshed.cached(), [false], "no-cache recomputes");
    assert_eq!(app.activity().texts(), 3);
    assert_eq!(app.analyze(&body).await.cached(), [true]);

    let stats = app.get("/cache").await.json;
    assert_eq!(stats["hits"], 2);
    assert_eq!(stats["misses"], 3);
    let memory = &stats["tiers"][0];
    assert_eq!(memory["tier"], "memory");
    // Each computation writes the text's key and its tokens' key.
    assert_eq!(memory["writes"], 4, "the first computation and the no-cache refresh: {memory}");
    assert_eq!(
        (memory["hits"].as_u64(), memory["misses"].as_u64()),
        (Some(2), Some(2)),
        "the first text missed by text and by tokens; no-cache and no-store skip it"
    );
    let cleared = app.delete("/cache?model=m").await;
    assert_eq!(cleared.status, StatusCode::OK);
    assert_eq!(app.analyze(&body).await.cached(), [false], "cleared");
}

/// Waits until `condition` holds, yielding to the runtime; panics after 10 s.
async fn until(what: &str, condition: impl Fn() -> bool) {
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while !condition() {
        assert!(std::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(std::time::Duration::from_millis(2)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_request_past_its_deadline_computes_nothing_more() {
    let mut config = config(&["m"]);
    config.batch.max_batch_size = 1;
    let app = Arc::new(InProc::new(config).ready().await);
    let gate = || &app.activity().gate;
    gate().close();

    // Four texts, one per batch; the first batch enters the forward pass and is held.
    let body = json!({ "texts": ["t one", "t two", "t three", "t four"] });
    let timed = app.send(Method::POST, "/analyze", Some(&body), &[("x-request-timeout-ms", "1000")]);
    let (reply, ()) = tokio::join!(timed, until("the first batch at the gate", || gate().waiting() == 1));
    // The gate is still closed, so the request could only have ended by its deadline.
    assert_eq!(reply.status, StatusCode::SERVICE_UNAVAILABLE, "{}", reply.text);
    assert_eq!(reply.error_type(), "timeout");
    gate().open();

    // The queue is FIFO: once a later request is answered, the batcher has passed the
    // timed-out request's remaining batches, and must have dropped them unrun.
    assert_eq!(app.analyze(&json!({ "text": "a later request" })).await.status, StatusCode::OK);
    assert_eq!(app.activity().texts(), 2, "the held batch and the later request; nothing after the deadline");
    let metrics = app.get("/metrics").await.text;
    let drops: f64 = metrics
        .lines()
        .find(|l| l.starts_with("sentiserve_deadline_drops_total") && l.contains("model=\"m\""))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse().ok())
        .unwrap_or(0.0);
    assert!(drops >= 3.0, "the three unrun texts count as deadline drops: {drops}");
}

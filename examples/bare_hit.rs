//! The cache-hit anchor of `make bench`: a bare axum endpoint that answers
//! `POST /analyze {"text": …}` with one moka lookup (the text's logits, inserted on
//! first sight) and a fixed-shape JSON body, nothing else: no request id, logging,
//! metrics, auth, batching or tiers. The load bench drives it like the server, so the
//! server's all-hit throughput is reported as a share of this ceiling.
//! `cargo run --release --example bare_hit -- PORT`.

use std::sync::Arc;

use axum::extract::State;
use axum::routing::post;
use axum::{Json, Router};
use serde_json::{json, Value};

type Cache = moka::future::Cache<String, Arc<[f32]>>;

async fn analyze(State(cache): State<Cache>, Json(body): Json<Value>) -> Json<Value> {
    let text = body["text"].as_str().unwrap_or_default().to_string();
    let logits = cache.get_with(text, async { Arc::from(vec![0.25f32, 0.75]) }).await;
    Json(json!({
        "model": "bench",
        "results": [{ "label": "POSITIVE", "score": logits[1], "cached": true,
            "scores": [{ "label": "POSITIVE", "score": logits[1] }, { "label": "NEGATIVE", "score": logits[0] }] }],
    }))
}

#[tokio::main]
async fn main() {
    let port: u16 = std::env::args().nth(1).and_then(|p| p.parse().ok()).unwrap_or(8099);
    let cache: Cache = moka::future::Cache::new(1 << 20);
    let app = Router::new()
        .route("/analyze", post(analyze))
        .route("/health", axum::routing::get(|| async { "ok" }))
        .with_state(cache);
    let listener = tokio::net::TcpListener::bind(("127.0.0.1", port)).await.unwrap();
    axum::serve(listener, app).await.unwrap();
}

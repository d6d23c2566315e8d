//! The cache-hit path without sockets: drives the server's router (every layer: request
//! id, INFO log line, metrics, key check, body limits) in process with
//! `oneshot`, one cached text a request, and prints µs per request next to the same
//! loop over a bare axum + moka router (`examples/bare_hit.rs`'s handler). What the
//! two differ by is the server's own per-request work, apart from the kernel's TCP
//! share; run it under `perf record -g` to see where that goes.
//!
//! `cargo run --release --example hit_inproc -- ITERS [serve flags]`, e.g.
//! `… -- 200000 --model bench=models/minilm-l6-sentiment --api-key k`.
//! Log lines go to stderr, batched as the server writes them: redirect it to a file.

use std::time::Instant;

use axum::body::Body;
use axum::extract::State;
use axum::http::Request;
use axum::routing::post;
use axum::{Json, Router};
use clap::Parser;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tower::ServiceExt;

#[derive(Parser)]
struct Args {
    /// Requests per router.
    iters: usize,
    #[command(flatten)]
    serve: sentiserve::config::cli::ServeArgs,
}

type Cache = moka::future::Cache<String, std::sync::Arc<[f32]>>;

async fn bare(State(cache): State<Cache>, Json(body): Json<Value>) -> Json<Value> {
    let text = body["text"].as_str().unwrap_or_default().to_string();
    let logits = cache.get_with(text, async { std::sync::Arc::from(vec![0.25f32, 0.75]) }).await;
    Json(json!({
        "model": "bench",
        "results": [{ "label": "POSITIVE", "score": logits[1], "cached": true,
            "scores": [{ "label": "POSITIVE", "score": logits[1] }, { "label": "NEGATIVE", "score": logits[0] }] }],
    }))
}

/// Interleaved rounds per router.
const ROUNDS: usize = 7;

const TEXTS: [&str; 4] =
    ["I loved this film.", "The food was cold and late.", "An average day, nothing more.", "Best purchase ever!"];

/// Sends `iters` requests through `router`; returns µs per request.
async fn drive<S>(router: &S, iters: usize, key: Option<&str>) -> f64
where
    S: tower::Service<Request<Body>, Response = axum::response::Response, Error = std::convert::Infallible> + Clone,
{
    let started = Instant::now();
    for i in 0..iters {
        let mut request = Request::post("/analyze").header("content-type", "application/json");
        if let Some(key) = key {
            request = request.header("authorization", format!("Bearer {key}"));
        }
        let body = json!({ "text": TEXTS[i % TEXTS.len()] }).to_string();
        let response = router.clone().oneshot(request.body(Body::from(body)).unwrap()).await.unwrap();
        assert!(response.status().is_success(), "{}", response.status());
        let _ = response.into_body().collect().await.unwrap();
    }
    started.elapsed().as_secs_f64() * 1e6 / iters as f64
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    let (writer, _guard) = sentiserve::log_writer::stderr()?;
    tracing_subscriber::fmt()
        .with_env_filter("info")
        .with_writer(writer)
        .with_ansi(false)
        .fmt_fields(sentiserve::log_format::PlainFields)
        .event_format(sentiserve::log_format::PlainText::default())
        .init();
    let config = args.serve.config()?;
    let key = config.http.api_key.as_ref().map(|k| k.expose().to_string());
    let app = sentiserve::App::new(config)?;
    app.spawn_preload().await?;
    let server = app.router();
    let bare_router = Router::new().route("/analyze", post(bare)).with_state(Cache::new(1 << 20));
    drive(&server, 100, key.as_deref()).await;
    drive(&bare_router, 100, None).await;
    // Interleaved rounds; the least of each is the figure (a shared machine's noise
    // only ever adds time).
    let (mut ours, mut theirs) = (f64::INFINITY, f64::INFINITY);
    for _ in 0..ROUNDS {
        ours = ours.min(drive(&server, args.iters, key.as_deref()).await);
        theirs = theirs.min(drive(&bare_router, args.iters, None).await);
    }
    println!(
        "server {ours:6.2} µs/request   bare {theirs:6.2} µs/request   (+{:.2} µs; least of {ROUNDS} rounds)",
        ours - theirs
    );
    Ok(())
}

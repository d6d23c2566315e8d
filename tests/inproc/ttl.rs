//! Time to live, and idle unload, on tokio's paused clock: `advance` moves time, no
//! test sleeps. Requests carry no deadline here, so no timer but the ones under test
//! can be reached by the paused clock's auto-advance.

use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::time::advance;

use crate::common::fake::{FakeLoader, FakeModel};
use crate::common::inproc::{config, InProc};
use crate::common::map_tier::{MapTier, SharedMap};
use sentiserve::ServerConfig;

/// Models `short` (60 s TTL in its manifest entry) and `long` (the cache's 600 s).
fn ttl_config() -> ServerConfig {
    let mut config = config(&["short", "long"]);
    config.preload = vec!["short".into(), "long".into()];
    config.limits.request_timeout = None;
    config.cache.ttl = Some(Duration::from_secs(600));
    config.catalog.models[0].settings.cache_ttl = Some(Duration::from_secs(60));
    config
}

/// A replica of [`ttl_config`] over the shared `map`.
async fn replica(map: &Arc<SharedMap>) -> InProc {
    let config = ttl_config();
    let loader = Arc::new(FakeLoader::default());
    for spec in &config.catalog.models {
        loader.set_source(spec.source.clone(), FakeModel::sentiment());
    }
    InProc::with_tiers(config, loader, MapTier::boxed(map)).ready().await
}

async fn cached(app: &InProc, model: &str, text: &str) -> bool {
    let reply = app.analyze(&json!({ "model": model, "text": text })).await;
    assert_eq!(reply.status, 200, "{}", reply.text);
    reply.cached()[0]
}

#[tokio::test(start_paused = true)]
async fn an_entry_lives_its_models_ttl_in_every_tier() {
    let map = Arc::new(SharedMap::default());
    let app = replica(&map).await;
    assert!(!cached(&app, "short", "a text").await);
    assert!(!cached(&app, "long", "a text").await);
    assert!(cached(&app, "short", "a text").await);

    advance(Duration::from_secs(59)).await;
    assert!(cached(&app, "short", "a text").await, "59 s into a 60 s TTL");

    advance(Duration::from_secs(2)).await;
    assert!(!cached(&app, "short", "a text").await, "past the model's TTL, in memory and in the shared tier");
    assert!(cached(&app, "long", "a text").await, "the cache's TTL is 600 s");
    assert_eq!(app.activity().texts(), 3);
    let stats = app.get("/cache").await.json;
    assert_eq!(stats["expirations"], 2, "the text's entry and its tokens' entry: {stats}");
    assert_eq!(stats["ttl_secs"], 600.0);

    advance(Duration::from_secs(600)).await;
    assert!(!cached(&app, "long", "a text").await, "past the cache's TTL");
}

#[tokio::test(start_paused = true)]
async fn a_copy_from_a_lower_tier_expires_with_its_source() {
    let map = Arc::new(SharedMap::default());
    let writer = replica(&map).await;
    assert!(!cached(&writer, "short", "shared text").await);

    advance(Duration::from_secs(50)).await;
    let reader = replica(&map).await;
    assert!(cached(&reader, "short", "shared text").await, "read from the shared tier with 10 s left");
    assert!(cached(&reader, "short", "shared text").await, "now from the reader's memory");

    advance(Duration::from_secs(11)).await;
    assert!(!cached(&reader, "short", "shared text").await, "the memory copy expired with the stored value");
    assert_eq!(reader.activity().texts(), 1);
}

/// Yields to the runtime until `/models` shows `state` for the first model, at most
/// `turns` times; returns the last `/models` answer.
async fn yield_until_state(app: &InProc, state: &str, turns: usize) -> serde_json::Value {
    let mut models = app.get("/models").await.json;
    for _ in 0..turns {
        if models["models"][0]["state"] == state {
            break;
        }
        tokio::task::yield_now().await;
        models = app.get("/models").await.json;
    }
    models
}

#[tokio::test(start_paused = true)]
async fn an_idle_model_is_unloaded_after_its_idle_time() {
    let mut config = config(&["m"]);
    config.limits.request_timeout = None;
    config.catalog.models[0].settings.idle_unload = Some(Duration::from_secs(300));
    config.catalog.models[0].settings.pinned = Some(false);
    let app = InProc::new(config).ready().await;
    assert!(!cached(&app, "m", "keep me busy").await);
    // The registry's sweeper (every 500 ms), started once no request is in flight.
    let sweeper = app.app.service.spawn_maintenance();

    advance(Duration::from_secs(299)).await;
    let models = yield_until_state(&app, "unloaded", 100).await;
    assert_eq!(models["models"][0]["state"], "loaded", "299 s idle of 300: {models}");

    advance(Duration::from_secs(2)).await;
    let models = yield_until_state(&app, "unloaded", 1000).await;
    assert_eq!(models["models"][0]["state"], "unloaded", "{models}");
    assert_eq!(models["models"][0]["evictions"], 1);
    sweeper.abort();
}

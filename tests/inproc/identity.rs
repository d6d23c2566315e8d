//! One identity for cached answers: two apps (replicas) sharing one lower tier reuse
//! each other's entries exactly when every field of the identity is equal.

use std::sync::Arc;

use serde_json::json;

use crate::common::fake::{self, FakeLoader, FakeModel};
use crate::common::inproc::{config, InProc};
use crate::common::map_tier::{MapTier, SharedMap};
use sentiserve::model::Dtype;
use sentiserve::ServerConfig;

/// A replica serving `model` as `m` from `source`, over the shared `map`.
async fn replica(map: &Arc<SharedMap>, model: FakeModel, tweak: impl FnOnce(&mut ServerConfig)) -> InProc {
    let mut config = config(&["m"]);
    tweak(&mut config);
    let loader = Arc::new(FakeLoader::default());
    loader.set_source(config.catalog.models[0].source.clone(), model);
    InProc::with_tiers(config, loader, MapTier::boxed(map)).ready().await
}

const LONG: &str = "one two three four five six seven eight nine ten eleven twelve";

/// Asks `first` then `second` for the same long text; returns whether `second`'s
/// answer was a cache hit, and checks a miss equals its own fresh computation.
async fn shared(first: &InProc, second: &InProc) -> bool {
    shared_text(first, second, LONG).await
}

/// [`shared`] for `text`.
async fn shared_text(first: &InProc, second: &InProc, text: &str) -> bool {
    let body = json!({ "text": text });
    let computed_before = second.activity().texts();
    assert_eq!(first.analyze(&body).await.cached(), [false]);
    let reply = second.analyze(&body).await;
    assert_eq!(reply.status, 200);
    let hit = reply.cached()[0];
    if !hit {
        assert_eq!(second.activity().texts(), computed_before + 1, "a miss is computed by the second replica");
    }
    hit
}

#[tokio::test]
async fn the_same_files_and_settings_share_entries_across_paths() {
    let map = Arc::new(SharedMap::default());
    let a = replica(&map, FakeModel::sentiment(), |_| {}).await;
    let b = replica(&map, FakeModel::sentiment(), |c| c.catalog.models[0].source = fake::source("elsewhere/m")).await;
    assert!(shared(&a, &b).await, "same content at another path: one entry");
    assert_eq!(map.len(), 1);
}

#[tokio::test]
async fn other_content_is_another_identity() {
    let map = Arc::new(SharedMap::default());
    let a = replica(&map, FakeModel::sentiment(), |_| {}).await;
    let b = replica(&map, FakeModel { content: "weights-2".into(), ..FakeModel::sentiment() }, |_| {}).await;
    assert!(!shared(&a, &b).await);
}

#[tokio::test]
async fn another_dtype_is_another_identity() {
    let map = Arc::new(SharedMap::default());
    let a = replica(&map, FakeModel::sentiment(), |_| {}).await;
    let b = replica(&map, FakeModel::sentiment(), |c| c.dtype = Dtype::Int8).await;
    assert!(!shared(&a, &b).await);
    let c = replica(&map, FakeModel::sentiment(), |c| c.catalog.models[0].settings.dtype = Some(Dtype::Bf16)).await;
    assert!(!shared_text(&b, &c, "another text for int8 then bf16").await);
}

#[tokio::test]
async fn another_max_tokens_is_another_identity_but_a_capped_equal_one_is_not() {
    let map = Arc::new(SharedMap::default());
    let a = replica(&map, FakeModel::sentiment(), |_| {}).await;
    let b = replica(&map, FakeModel::sentiment(), |c| c.catalog.models[0].settings.max_tokens = Some(4)).await;
    assert!(!shared(&a, &b).await, "a 4-token answer is not a 512-token answer");
    // 4096 is capped at the model's own 512: the same logits, so the same entries.
    let c = replica(&map, FakeModel::sentiment(), |c| c.catalog.models[0].settings.max_tokens = Some(4096)).await;
    let reply = c.analyze(&json!({ "text": LONG })).await;
    assert_eq!(reply.cached(), [true]);
}

#[tokio::test]
async fn another_label_count_never_reads_a_foreign_entry() {
    // Same content hash and settings but three labels: a forged or foreign value with
    // two logits is a miss, not an answer with an empty label.
    let map = Arc::new(SharedMap::default());
    let a = replica(&map, FakeModel::sentiment(), |_| {}).await;
    let three = FakeModel { labels: vec!["a".into(), "b".into(), "c".into()], ..FakeModel::sentiment() };
    let b = replica(&map, three, |_| {}).await;
    assert!(!shared(&a, &b).await);
    let reply = b.analyze(&json!({ "text": LONG })).await;
    assert_eq!(reply.json["results"][0]["scores"].as_array().unwrap().len(), 3);
}

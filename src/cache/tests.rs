//! Unit tests of the front: hits, clearing, bounds, TTL, single-flight, and the
//! lower-tier list (read order, back-fill, down tiers skipped).

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use futures::future::BoxFuture;

use super::*;

fn key(model: &str, text: &str) -> CacheKey {
    CacheKey {
        model: model.into(),
        identity: "fp".into(),
        num_labels: 1,
        input: crate::model::TextInput::single(text).into(),
    }
}

fn prediction(value: f32) -> Prediction {
    Prediction { logits: Arc::from(vec![value]), truncated: false }
}

async fn compute(value: f32) -> Result<Prediction, std::convert::Infallible> {
    Ok(prediction(value))
}

#[tokio::test]
async fn second_lookup_hits_and_per_model_clear_keeps_others() {
    let cache = PredictionCache::new(CacheConfig::default());
    let (_, cached) = cache.get_or_compute(key("a", "x"), compute(1.0)).await.unwrap();
    assert!(!cached);
    let (v, cached) = cache.get_or_compute(key("a", "x"), compute(2.0)).await.unwrap();
    assert!(cached);
    assert_eq!(&*v.logits, &[1.0]);
    cache.get_or_compute(key("b", "x"), compute(3.0)).await.unwrap();
    cache.clear(Some("a")).await;
    let (_, cached_a) = cache.get_or_compute(key("a", "x"), compute(4.0)).await.unwrap();
    let (_, cached_b) = cache.get_or_compute(key("b", "x"), compute(5.0)).await.unwrap();
    assert!(!cached_a, "model a's entry should be gone");
    assert!(cached_b, "model b's entry should survive");
    let stats = cache.stats().await;
    assert_eq!((stats.hits, stats.misses), (2, 3));
}

#[tokio::test]
async fn byte_bound_evicts() {
    let cache = PredictionCache::new(CacheConfig { capacity_bytes: 4096, ..Default::default() });
    for i in 0..500 {
        cache.get_or_compute(key("m", &format!("text number {i}")), compute(0.0)).await.unwrap();
    }
    let stats = cache.stats().await;
    assert!(stats.bytes <= 4096, "{stats:?}");
    assert!(stats.evictions > 0, "{stats:?}");
}

#[tokio::test]
async fn ttl_expires_entries() {
    let cache = PredictionCache::new(CacheConfig { ttl: Some(Duration::from_millis(50)), ..Default::default() });
    cache.get_or_compute(key("m", "x"), compute(1.0)).await.unwrap();
    // Wait for the expiry to be observed (stats run moka's maintenance), not a fixed time.
    let deadline = Instant::now() + Duration::from_secs(10);
    while cache.stats().await.expirations == 0 {
        assert!(Instant::now() < deadline, "the entry never expired");
        tokio::time::sleep(Duration::from_millis(10)).await;
    }
    let (_, cached) = cache.get_or_compute(key("m", "x"), compute(1.0)).await.unwrap();
    assert!(!cached);
}

#[tokio::test]
async fn concurrent_misses_compute_once() {
    let cache = PredictionCache::new(CacheConfig::default());
    let runs = Arc::new(AtomicU64::new(0));
    let tasks = (0..16).map(|_| {
        let (cache, runs) = (cache.clone(), Arc::clone(&runs));
        tokio::spawn(async move {
            cache
                .get_or_compute(key("m", "same"), async move {
                    runs.fetch_add(1, Ordering::SeqCst);
                    tokio::task::yield_now().await;
                    compute(1.0).await
                })
                .await
                .unwrap()
                .1
        })
    });
    let flags = futures::future::join_all(tasks).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1);
    assert_eq!(flags.into_iter().filter(|f| !f.as_ref().unwrap()).count(), 1);
}

/// A lower tier in a hash map, for testing the tier list.
struct MapTier {
    name: &'static str,
    up: bool,
    entries: Mutex<HashMap<String, Vec<u8>>>,
    counters: TierCounters,
}

impl MapTier {
    fn new(name: &'static str, up: bool) -> Arc<Self> {
        Arc::new(Self { name, up, entries: Mutex::default(), counters: TierCounters::default() })
    }
    fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }
}

/// Lets the test keep a handle on a tier the cache owns.
struct Shared(Arc<MapTier>);

impl Tier for Shared {
    fn name(&self) -> &'static str {
        self.0.name
    }
    fn is_up(&self) -> bool {
        self.0.up
    }
    fn counters(&self) -> &TierCounters {
        &self.0.counters
    }
    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, TierError>> {
        Box::pin(async move { Ok(self.0.entries.lock().unwrap().get(key).cloned()) })
    }
    fn put(&self, key: &str, value: Vec<u8>, _ttl: Option<Duration>) {
        self.0.entries.lock().unwrap().insert(key.to_string(), value);
    }
    fn clear<'a>(&'a self, _model: Option<&'a str>) -> BoxFuture<'a, Result<Option<u64>, TierError>> {
        Box::pin(async move {
            let mut entries = self.0.entries.lock().unwrap();
            let removed = entries.len() as u64;
            entries.clear();
            Ok(Some(removed))
        })
    }
    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }
    fn stats(&self) -> BoxFuture<'_, TierStats> {
        Box::pin(async move { self.0.counters.snapshot(self.0.name, self.0.up) })
    }
}

#[tokio::test]
async fn lower_tiers_are_read_in_order_back_filled_and_skipped_when_down() {
    let (first, down, last) = (MapTier::new("first", true), MapTier::new("down", false), MapTier::new("last", true));
    let tiers: Vec<Box<dyn Tier>> = vec![
        Box::new(Shared(Arc::clone(&first))),
        Box::new(Shared(Arc::clone(&down))),
        Box::new(Shared(Arc::clone(&last))),
    ];
    let cache = PredictionCache::with_tiers(CacheConfig::default(), tiers);

    // A value only the last tier holds is a hit there, and is copied into the first.
    let k = key("m", "known below");
    last.entries.lock().unwrap().insert(codec::stored_key(&k, "g0.0"), codec::encode(&prediction(7.0), 0));
    let (logits, cached) = cache.get_or_compute(k.clone(), compute(0.0)).await.unwrap();
    assert_eq!((&*logits.logits, cached), (&[7.0][..], true));
    assert_eq!(first.len(), 1, "the first tier was back-filled");
    assert_eq!(down.len(), 0, "a down tier is neither read nor written");
    assert_eq!(first.counters.misses.load(Ordering::Relaxed), 1);
    assert_eq!(last.counters.hits.load(Ordering::Relaxed), 1);

    // A computed value is written to every up tier.
    cache.get_or_compute(key("m", "new"), compute(1.0)).await.unwrap();
    assert_eq!((first.len(), last.len(), down.len()), (2, 2, 0));

    // Clearing reaches every tier, and reports each.
    let report = cache.clear(None).await;
    let names: Vec<_> = report.iter().map(|t| t.tier).collect();
    assert_eq!(names, ["memory", "first", "down", "last"]);
    assert_eq!((first.len(), last.len()), (0, 0));
    let stats = cache.stats().await;
    assert_eq!(stats.tiers.len(), 4);
    assert!(!stats.tiers[2].up);
}

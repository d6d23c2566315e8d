//! A shared in-memory lower tier: what Redis is to replicas, without a process. Writes
//! land at once (no write-behind), so a test can read them back deterministically.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use futures::future::BoxFuture;
use sentiserve::cache::{Tier, TierCounters, TierError, TierStats};

/// The store several apps share: clone the `Arc` into each app's tier list.
#[derive(Default)]
pub struct SharedMap {
    pub entries: Mutex<HashMap<String, Vec<u8>>>,
}

impl SharedMap {
    pub fn len(&self) -> usize {
        self.entries.lock().unwrap().len()
    }

    pub fn keys(&self) -> Vec<String> {
        self.entries.lock().unwrap().keys().cloned().collect()
    }
}

/// One app's handle on a [`SharedMap`].
pub struct MapTier {
    map: Arc<SharedMap>,
    counters: TierCounters,
}

impl MapTier {
    pub fn boxed(map: &Arc<SharedMap>) -> Vec<Box<dyn Tier>> {
        vec![Box::new(Self { map: Arc::clone(map), counters: TierCounters::default() })]
    }
}

impl Tier for MapTier {
    fn name(&self) -> &'static str {
        "shared"
    }

    fn is_up(&self) -> bool {
        true
    }

    fn is_shared(&self) -> bool {
        true
    }

    fn counters(&self) -> &TierCounters {
        &self.counters
    }

    fn get<'a>(&'a self, key: &'a str) -> BoxFuture<'a, Result<Option<Vec<u8>>, TierError>> {
        Box::pin(async move { Ok(self.map.entries.lock().unwrap().get(key).cloned()) })
    }

    fn put(&self, key: &str, value: Vec<u8>, _ttl: Option<Duration>) {
        self.counters.writes.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        self.map.entries.lock().unwrap().insert(key.to_string(), value);
    }

    fn clear<'a>(&'a self, model: Option<&'a str>) -> BoxFuture<'a, Result<Option<u64>, TierError>> {
        Box::pin(async move {
            let mut entries = self.map.entries.lock().unwrap();
            let before = entries.len();
            entries
                .retain(|key, _| model.is_some_and(|m| !key.starts_with(&sentiserve::cache::codec::model_prefix(m))));
            Ok(Some((before - entries.len()) as u64))
        })
    }

    fn flush(&self) -> BoxFuture<'_, ()> {
        Box::pin(async {})
    }

    fn stats(&self) -> BoxFuture<'_, TierStats> {
        Box::pin(async move {
            let mut stats = self.counters.snapshot("shared", true);
            stats.entries = Some(self.map.len() as u64);
            stats
        })
    }
}

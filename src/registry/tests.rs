//! Eviction never takes a model a request holds; the sweep takes it once released.

use std::path::PathBuf;

use super::*;
use crate::model::ModelSource;

fn tiny(arch: &str) -> ModelSource {
    ModelSource::Local(PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/tiny").join(arch))
}

fn registry(max_loaded_models: usize) -> Registry {
    let specs = vec![ModelSpec::new("a", tiny("bert")), ModelSpec::new("b", tiny("distilbert"))];
    let config = RegistryConfig {
        loader: Arc::new(crate::engine::hf::HfLoader),
        device_spec: DeviceSpec::Cpu,
        device: Device::Cpu,
        batch: BatchConfig::default(),
        bounds: RegistryBounds { max_loaded_models: Some(max_loaded_models), ..RegistryBounds::default() },
        dtype: crate::model::Dtype::F32,
        pinned: HashSet::new(),
    };
    Registry::new(specs, "a", config).unwrap()
}

#[tokio::test]
async fn a_model_in_flight_is_not_evicted_until_its_request_finishes() {
    let registry = registry(1);
    let in_flight = registry.get("a").await.unwrap();
    registry.load("b").await.unwrap();
    assert_eq!(registry.state("a").unwrap(), ModelState::Loaded, "a request holds a");
    assert_eq!(registry.state("b").unwrap(), ModelState::Loaded);
    drop(in_flight);
    registry.sweep();
    // Both are idle now: the least recently used (a) goes.
    assert_eq!(registry.state("a").unwrap(), ModelState::Unloaded);
    assert_eq!(registry.state("b").unwrap(), ModelState::Loaded);
    assert_eq!(registry.status("a").unwrap().evictions, 1);
}

#[tokio::test]
async fn an_unknown_default_is_refused() {
    let config = RegistryConfig {
        loader: Arc::new(crate::engine::hf::HfLoader),
        device_spec: DeviceSpec::Cpu,
        device: Device::Cpu,
        batch: BatchConfig::default(),
        bounds: RegistryBounds::default(),
        dtype: crate::model::Dtype::F32,
        pinned: HashSet::new(),
    };
    let error = Registry::new(vec![ModelSpec::new("a", tiny("bert"))], "zzz", config).err().unwrap();
    assert!(matches!(error, RegistryError::UnknownModel { .. }));
}

#[tokio::test(start_paused = true)]
async fn models_used_within_one_millisecond_are_evicted_in_use_order() {
    let mut specs = vec![ModelSpec::new("c", tiny("roberta"))];
    specs.extend(["a", "b"].map(|name| ModelSpec::new(name, tiny(if name == "a" { "bert" } else { "distilbert" }))));
    let config = RegistryConfig {
        loader: Arc::new(crate::engine::hf::HfLoader),
        device_spec: DeviceSpec::Cpu,
        device: Device::Cpu,
        batch: BatchConfig::default(),
        bounds: RegistryBounds { max_loaded_models: Some(2), ..RegistryBounds::default() },
        dtype: crate::model::Dtype::F32,
        pinned: HashSet::new(),
    };
    let registry = Registry::new(specs, "a", config).unwrap();
    // tokio's clock stands still: every use below falls in the same millisecond, so
    // last-used times tie and only the use order can tell a from b.
    let started = crate::cache::codec::now_ms();
    registry.get("a").await.unwrap();
    registry.get("b").await.unwrap();
    registry.get("a").await.unwrap();
    registry.get("c").await.unwrap();
    assert_eq!(crate::cache::codec::now_ms(), started, "the clock moved; the test no longer ties the times");
    assert_eq!(registry.state("a").unwrap(), ModelState::Loaded, "used after b");
    assert_eq!(registry.state("b").unwrap(), ModelState::Unloaded, "the least recently used");
    assert_eq!(registry.state("c").unwrap(), ModelState::Loaded);
}

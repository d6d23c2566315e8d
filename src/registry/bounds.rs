//! The registry as a bounded, expiring resource cache: at most
//! `--max-loaded-models` models and `--models-max-bytes` bytes loaded (the least
//! recently used model with no request in flight is evicted after a load pushes the
//! registry over either bound), and models unloaded after `idle_unload_secs` without a
//! request. Pinned models are never evicted or idle-unloaded. Evicted and idle models
//! load again on their next request (single-flight as ever).

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{Registry, Slot, SlotState};
use crate::cache::codec::now_ms;

/// How often the idle sweep runs (it also re-applies the bounds a request in flight
/// kept the registry over).
pub const SWEEP_INTERVAL: Duration = Duration::from_millis(500);

/// The order in which models were last used, for LRU eviction: a sequence number
/// handed to a model each time it is used after another one. Models used within one
/// millisecond keep their order (their `last_used_ms` ties), and a server busy with
/// one model writes nothing shared per request.
pub(super) struct Recency {
    /// The last number handed out.
    seq: AtomicU64,
    /// [`Slot::id`] of the model used last (`usize::MAX`: none yet).
    latest: AtomicUsize,
}

impl Recency {
    /// No model used yet.
    pub(super) fn new() -> Self {
        Self { seq: AtomicU64::new(0), latest: AtomicUsize::new(usize::MAX) }
    }
}

impl Slot {
    /// Marks the model used now: the time (idle unload, status), stored once per
    /// millisecond (every core shares this cache line, and a write per request makes
    /// it bounce), and its place in the use order, taken only when another model was
    /// used last.
    pub(super) fn touch(&self, recency: &Recency) {
        if recency.latest.load(Ordering::Relaxed) != self.id {
            self.used_seq.store(recency.seq.fetch_add(1, Ordering::Relaxed) + 1, Ordering::Relaxed);
            recency.latest.store(self.id, Ordering::Relaxed);
        }
        let now = now_ms();
        if self.last_used_ms.load(Ordering::Relaxed) != now {
            self.last_used_ms.store(now, Ordering::Relaxed);
        }
    }
}

/// The registry's bounds; `None`: unbounded.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegistryBounds {
    /// Most models loaded at once (`--max-loaded-models`).
    pub max_loaded_models: Option<usize>,
    /// Most estimated bytes of loaded models (`--models-max-bytes`).
    pub max_bytes: Option<u64>,
    /// Default idle unload for models whose settings name none (`--idle-unload-secs`).
    pub idle_unload: Option<Duration>,
}

/// Why the registry unloaded a model on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Eviction {
    /// A bound was exceeded and it was the least recently used.
    Capacity,
    /// Unused for its `idle_unload_secs`.
    Idle,
}

impl Eviction {
    fn as_str(self) -> &'static str {
        match self {
            Self::Capacity => "capacity",
            Self::Idle => "idle",
        }
    }
}

impl Slot {
    /// The loaded model if the registry may unload it now: not pinned, no request
    /// holding it, and no load or unload running.
    fn evictable(&self) -> Option<Arc<super::LoadedModel>> {
        if self.pinned {
            return None;
        }
        let loaded = self.loaded()?;
        // The registry's reference and `loaded` are the only ones: nothing in flight.
        (Arc::strong_count(&loaded) == 2).then_some(loaded)
    }
}

impl Registry {
    /// Unloads `slot` if it still holds `expected` (no load, reload or unload running).
    fn evict(&self, slot: &Slot, expected: &Arc<super::LoadedModel>, why: Eviction) -> bool {
        let Ok(_transition) = slot.transition.try_lock() else { return false };
        let mut state = slot.state();
        if !matches!(&*state, SlotState::Loaded(current) if Arc::ptr_eq(current, expected)) {
            return false;
        }
        *state = SlotState::Unloaded;
        drop(state);
        slot.evictions.fetch_add(1, Ordering::SeqCst);
        metrics::counter!("sentiserve_model_evictions_total", "model" => slot.spec.name.clone(), "reason" => why.as_str())
            .increment(1);
        let idle_ms = now_ms().saturating_sub(slot.last_used_ms.load(Ordering::Relaxed));
        tracing::info!(
            model = %slot.spec.name,
            reason = why.as_str(),
            bytes = expected.bytes,
            idle_ms,
            "model evicted; its next request loads it again"
        );
        true
    }

    /// Loaded models and their estimated bytes.
    fn loaded_totals(&self) -> (usize, u64) {
        self.shared.slots.values().filter_map(Slot::loaded).fold((0, 0), |(n, b), m| (n + 1, b + m.bytes))
    }

    /// Evicts least recently used models (never `keep`, pinned ones, or ones in
    /// flight) until the registry is within its bounds, or nothing more can go.
    pub(super) fn enforce_bounds(&self, keep: &str) {
        let bounds = &self.shared.bounds;
        loop {
            let (count, bytes) = self.loaded_totals();
            let over = bounds.max_loaded_models.is_some_and(|max| count > max)
                || bounds.max_bytes.is_some_and(|max| bytes > max);
            if !over {
                break;
            }
            let victim = self
                .shared
                .slots
                .values()
                .filter(|slot| slot.spec.name != keep)
                .filter_map(|slot| slot.evictable().map(|loaded| (slot, loaded)))
                .min_by_key(|(slot, _)| slot.used_seq.load(Ordering::Relaxed));
            match victim {
                Some((slot, loaded)) => {
                    if !self.evict(slot, &loaded, Eviction::Capacity) {
                        break;
                    }
                }
                None => {
                    tracing::debug!(
                        count,
                        bytes,
                        "registry over its bounds; nothing evictable now (pinned or in flight)"
                    );
                    break;
                }
            }
        }
        self.publish_gauges();
    }

    /// Unloads every model idle past its `idle_unload_secs`, then re-applies the
    /// bounds.
    pub fn sweep(&self) {
        let now = now_ms();
        for slot in self.shared.slots.values() {
            let Some(idle) = slot.idle_unload else { continue };
            let last = slot.last_used_ms.load(Ordering::Relaxed);
            if now.saturating_sub(last) < idle.as_millis() as u64 {
                continue;
            }
            if let Some(loaded) = slot.evictable() {
                self.evict(slot, &loaded, Eviction::Idle);
            }
        }
        self.enforce_bounds("");
    }

    /// Runs [`Registry::sweep`] every [`SWEEP_INTERVAL`] until the task is aborted.
    pub fn spawn_maintenance(&self) -> tokio::task::JoinHandle<()> {
        let registry = self.clone();
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(SWEEP_INTERVAL);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                registry.sweep();
            }
        })
    }

    /// Sets the loaded-models gauges (`sentiserve_models_loaded`,
    /// `sentiserve_model_bytes{model}`).
    pub(super) fn publish_gauges(&self) {
        let (count, _) = self.loaded_totals();
        metrics::gauge!("sentiserve_models_loaded").set(count as f64);
        for slot in self.shared.slots.values() {
            let bytes = slot.loaded().map_or(0, |m| m.bytes);
            metrics::gauge!("sentiserve_model_bytes", "model" => slot.spec.name.clone()).set(bytes as f64);
        }
    }
}

//! Cache generations: cluster-wide invalidation through Redis.
//!
//! Every key a lower tier (disk, Redis) stores carries a tag `g{all}.{model}` made of
//! two counters kept in one Redis hash, `{namespace}:generations` (field `*` for the
//! whole cache, one field per model). `DELETE /cache[?model=NAME]` on any replica
//! increments the matching counter (`HINCRBY`, O(1) however many keys Redis holds), so
//! no replica can read an entry written before the clear, from Redis or from its own
//! disk, even one that was down during the clear. Each replica polls the hash with its
//! Redis health ping (every 500 ms) and, when a counter moved, drops that scope from
//! its memory and disk tiers, which frees their space.
//!
//! Until a replica has read the counters once (Redis configured but not reached
//! yet), lower tiers are not read: its disk may hold entries that a clear it did not
//! see has invalidated. Without Redis there is nothing to share and the counters stay
//! at zero. Counters only move forward: a Redis restarted without persistence gets the
//! higher values back from the replicas.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::RwLock;

/// The hash field of the whole-cache counter.
pub const ALL: &str = "*";

/// A cleared scope: the whole cache (`None`) or one model.
pub type Scope = Option<String>;

/// This replica's view of the generation counters.
#[derive(Debug)]
pub struct Generations {
    /// Whether the counters are known (always, without Redis).
    known: AtomicBool,
    counters: RwLock<HashMap<String, u64>>,
    /// Scopes whose counter moved, for the cache to drop locally.
    changes: tokio::sync::broadcast::Sender<Scope>,
}

/// How many unhandled scope changes may queue before the oldest are dropped (then
/// everything is cleared).
const CHANGE_BACKLOG: usize = 64;

impl Generations {
    /// Counters at zero; `known` unless they live in Redis (`shared`).
    pub fn new(shared: bool) -> Self {
        let (changes, _) = tokio::sync::broadcast::channel(CHANGE_BACKLOG);
        Self { known: AtomicBool::new(!shared), counters: RwLock::new(HashMap::new()), changes }
    }

    /// Whether lower tiers may be read (the counters are known).
    pub fn known(&self) -> bool {
        self.known.load(Ordering::Acquire)
    }

    fn get(&self, field: &str) -> u64 {
        self.counters.read().unwrap_or_else(|p| p.into_inner()).get(field).copied().unwrap_or(0)
    }

    /// The tag stored keys of `model` carry: `g{all}.{model}`.
    pub fn tag(&self, model: &str) -> String {
        format!("g{}.{}", self.get(ALL), self.get(model))
    }

    /// Subscribes to scopes cleared by other replicas.
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Scope> {
        self.changes.subscribe()
    }

    /// Takes the counters read from Redis. Returns the fields where this replica holds
    /// a higher value than Redis (Redis lost them: write them back). A counter that
    /// moved announces its scope, unless this is the first read (nothing was served
    /// from a lower tier before it).
    pub fn observe(&self, remote: &HashMap<String, u64>) -> Vec<(String, u64)> {
        let first = !self.known();
        let mut moved = Vec::new();
        let mut behind = Vec::new();
        {
            let mut counters = self.counters.write().unwrap_or_else(|p| p.into_inner());
            for (field, &value) in remote {
                let local = counters.entry(field.clone()).or_insert(0);
                if value > *local {
                    *local = value;
                    moved.push(field.clone());
                }
            }
            for (field, &local) in counters.iter() {
                if remote.get(field).copied().unwrap_or(0) < local {
                    behind.push((field.clone(), local));
                }
            }
        }
        self.known.store(true, Ordering::Release);
        if !first {
            for field in moved {
                let _ = self.changes.send((field != ALL).then_some(field));
            }
        }
        behind
    }

    /// Records this replica's own clear (the counter Redis returned after `HINCRBY`).
    pub fn advance(&self, field: &str, value: u64) {
        let mut counters = self.counters.write().unwrap_or_else(|p| p.into_inner());
        let local = counters.entry(field.to_string()).or_insert(0);
        *local = (*local).max(value);
    }
}

/// The hash field of a scope.
pub fn field(model: Option<&str>) -> &str {
    model.unwrap_or(ALL)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn remote(pairs: &[(&str, u64)]) -> HashMap<String, u64> {
        pairs.iter().map(|(k, v)| (k.to_string(), *v)).collect()
    }

    #[test]
    fn tags_follow_the_counters_and_moves_are_announced_after_the_first_read() {
        let generations = Generations::new(true);
        assert!(!generations.known());
        let mut changes = generations.subscribe();
        assert!(generations.observe(&remote(&[("*", 2), ("m", 1)])).is_empty());
        assert!(generations.known());
        assert_eq!(generations.tag("m"), "g2.1");
        assert_eq!(generations.tag("other"), "g2.0");
        assert!(changes.try_recv().is_err(), "the first read announces nothing");
        generations.observe(&remote(&[("*", 2), ("m", 2)]));
        assert_eq!(changes.try_recv().unwrap(), Some("m".to_string()));
        generations.observe(&remote(&[("*", 3), ("m", 2)]));
        assert_eq!(changes.try_recv().unwrap(), None);
    }

    #[test]
    fn counters_never_go_back_and_lost_ones_are_reported() {
        let generations = Generations::new(true);
        generations.observe(&remote(&[("*", 4), ("m", 2)]));
        let behind = generations.observe(&remote(&[]));
        assert_eq!(generations.tag("m"), "g4.2");
        let mut behind: Vec<_> = behind.into_iter().collect();
        behind.sort();
        assert_eq!(behind, vec![("*".to_string(), 4), ("m".to_string(), 2)]);
        generations.advance("m", 3);
        assert_eq!(generations.tag("m"), "g4.3");
    }
}

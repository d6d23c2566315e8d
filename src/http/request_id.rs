//! Request ids: a client's `x-request-id` when it is sane, else a new v4 UUID.
//!
//! New ids come from a counter passed through SplitMix64 (Steele, Lea and Flood,
//! "Fast splittable pseudorandom number generators", OOPSLA 2014), started at a
//! random v4 UUID per process: no syscall per request (tower-http's `MakeRequestUuid`
//! asks the OS for 16 random bytes each time), distinct within a process (SplitMix64's
//! finalizer is a bijection of the counter) and unlikely to repeat across replicas.
//! They are identifiers, not secrets.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use axum::http::{HeaderName, HeaderValue};

/// The `x-request-id` header: taken from the request when present, else a new UUID;
/// echoed on the response and attached to the request's log line.
pub const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Longest `x-request-id` accepted from a client, bytes; a longer one (or one with
/// characters outside visible ASCII) is replaced by a new UUID, so ids cannot forge
/// log lines.
pub const MAX_REQUEST_ID_BYTES: usize = 128;

/// SplitMix64's increment (the golden ratio, 2⁶⁴/φ).
const GAMMA: u64 = 0x9e37_79b9_7f4a_7c15;

/// Makes v4-formatted UUIDs (`xxxxxxxx-xxxx-4xxx-[89ab]xxx-xxxxxxxxxxxx`). Clones share
/// one counter.
#[derive(Clone)]
pub struct RequestUuids {
    counter: Arc<AtomicU64>,
    /// Mixed into the second half, so the two halves are independent.
    salt: u64,
}

impl Default for RequestUuids {
    fn default() -> Self {
        let (high, low) = uuid::Uuid::new_v4().as_u64_pair();
        Self { counter: Arc::new(AtomicU64::new(high)), salt: low }
    }
}

/// SplitMix64's output function.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

impl RequestUuids {
    /// The next id, as a UUID.
    pub fn next(&self) -> uuid::Uuid {
        let state = self.counter.fetch_add(GAMMA, Ordering::Relaxed).wrapping_add(GAMMA);
        let (high, low) = (mix(state), mix(state ^ self.salt));
        uuid::Builder::from_random_bytes(((u128::from(high) << 64) | u128::from(low)).to_be_bytes()).into_uuid()
    }
}

impl RequestUuids {
    /// The next id as a header value: 36 bytes, lower-case hyphenated.
    pub fn header_value(&self) -> HeaderValue {
        let mut text = [0u8; uuid::fmt::Hyphenated::LENGTH];
        let text = self.next().hyphenated().encode_lower(&mut text);
        HeaderValue::from_str(text).expect("a hyphenated UUID is a valid header value")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_distinct_v4_uuids() {
        let ids = RequestUuids::default();
        let mut seen = std::collections::HashSet::new();
        for _ in 0..10_000 {
            let id = ids.next();
            assert_eq!(id.get_version_num(), 4);
            assert_eq!(id.get_variant(), uuid::Variant::RFC4122);
            assert!(seen.insert(id), "{id} repeated");
            assert!(crate::http::edge::acceptable_id(&ids.header_value()));
        }
        assert_ne!(RequestUuids::default().next(), RequestUuids::default().next(), "each process starts elsewhere");
    }
}

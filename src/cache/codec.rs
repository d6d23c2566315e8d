//! How predictions are stored outside process memory (disk and Redis tiers): the
//! stored key and a compact, checked binary value.
//!
//! Stored key: `{model}:v{FORMAT_VERSION}:{fingerprint}:{sha256(text)[..16] hex}`. The
//! model name comes first so one model's entries share a prefix (per-model clearing);
//! the format version and fingerprint make a new value format or new weights miss old
//! entries instead of misreading them.
//!
//! Value, little-endian: `b'S'`, format version `u8`, label count `u16`, expiry
//! `u64` (ms since the Unix epoch, 0 = never), `count × f32` logits, then the low 64
//! bits of xxh3 over everything before. A value that fails any check is a miss.

use std::time::{Duration, SystemTime, UNIX_EPOCH};

use sha2::{Digest, Sha256};

use super::key::CacheKey;
use crate::model::Logits;

/// Bumped whenever the key or value layout changes.
pub const FORMAT_VERSION: u8 = 1;
const MAGIC: u8 = b'S';
const HEADER: usize = 1 + 1 + 2 + 8;
const CHECKSUM: usize = 8;

/// The key of `key` in the disk and Redis tiers (without any Redis namespace).
pub fn stored_key(key: &CacheKey) -> String {
    let digest = Sha256::digest(key.text.as_bytes());
    let hash: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}:v{FORMAT_VERSION}:{}:{hash}", key.model, key.fingerprint)
}

/// The prefix shared by every stored key of `model`.
pub fn model_prefix(model: &str) -> String {
    format!("{model}:")
}

/// Milliseconds since the Unix epoch.
pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Encodes logits `[num_labels]` with an absolute expiry (ms since epoch, 0 = never).
pub fn encode(logits: &[f32], expires_at_ms: u64) -> Vec<u8> {
    let count = u16::try_from(logits.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(HEADER + 4 * logits.len() + CHECKSUM);
    out.push(MAGIC);
    out.push(FORMAT_VERSION);
    out.extend_from_slice(&count.to_le_bytes());
    out.extend_from_slice(&expires_at_ms.to_le_bytes());
    for value in &logits[..usize::from(count)] {
        out.extend_from_slice(&value.to_le_bytes());
    }
    let checksum = xxhash_rust::xxh3::xxh3_64(&out);
    out.extend_from_slice(&checksum.to_le_bytes());
    out
}

/// Why a stored value was not used.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum DecodeError {
    /// Wrong length, magic, version or checksum: the bytes are not a value we wrote.
    #[error("corrupt or foreign cache value")]
    Corrupt,
    /// The value's TTL has passed.
    #[error("expired")]
    Expired,
}

/// The time a stored value has left to live (`None`: it never expires, or the bytes
/// are too short to say). Used when a value is copied to another tier.
pub fn remaining_ttl(bytes: &[u8], now_ms: u64) -> Option<Duration> {
    let expires_at = u64::from_le_bytes(bytes.get(4..HEADER)?.try_into().ok()?);
    (expires_at != 0).then(|| Duration::from_millis(expires_at.saturating_sub(now_ms).max(1)))
}

/// Decodes and checks a stored value.
///
/// Errors: [`DecodeError::Corrupt`] for anything malformed, [`DecodeError::Expired`]
/// when `now_ms` is past its expiry.
pub fn decode(bytes: &[u8], now_ms: u64) -> Result<Logits, DecodeError> {
    if bytes.len() < HEADER + CHECKSUM || bytes[0] != MAGIC || bytes[1] != FORMAT_VERSION {
        return Err(DecodeError::Corrupt);
    }
    let count = usize::from(u16::from_le_bytes([bytes[2], bytes[3]]));
    if bytes.len() != HEADER + 4 * count + CHECKSUM {
        return Err(DecodeError::Corrupt);
    }
    let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM);
    if xxhash_rust::xxh3::xxh3_64(body).to_le_bytes() != checksum {
        return Err(DecodeError::Corrupt);
    }
    let expires_at = u64::from_le_bytes(body[4..12].try_into().map_err(|_| DecodeError::Corrupt)?);
    if expires_at != 0 && now_ms >= expires_at {
        return Err(DecodeError::Expired);
    }
    let logits: Vec<f32> =
        body[HEADER..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    Ok(Logits::from(logits))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn round_trips_and_rejects_every_corruption() {
        let bytes = encode(&[1.5, -2.25, 0.0], 0);
        assert_eq!(&*decode(&bytes, now_ms()).unwrap(), &[1.5, -2.25, 0.0]);
        for i in 0..bytes.len() {
            let mut flipped = bytes.clone();
            flipped[i] ^= 0x40;
            assert_eq!(decode(&flipped, 0), Err(DecodeError::Corrupt), "byte {i} flipped");
        }
        for len in 0..bytes.len() {
            assert_eq!(decode(&bytes[..len], 0), Err(DecodeError::Corrupt), "truncated to {len}");
        }
    }

    #[test]
    fn expiry_is_checked() {
        let bytes = encode(&[1.0], 1_000);
        assert!(decode(&bytes, 999).is_ok());
        assert_eq!(decode(&bytes, 1_000), Err(DecodeError::Expired));
        assert_eq!(remaining_ttl(&bytes, 400), Some(Duration::from_millis(600)));
        assert_eq!(remaining_ttl(&encode(&[1.0], 0), 400), None);
    }

    #[test]
    fn keys_separate_models_fingerprints_and_texts() {
        let key = |m: &str, f: &str, t: &str| CacheKey { model: m.into(), fingerprint: f.into(), text: t.into() };
        let a = stored_key(&key("m", "f1", "text"));
        assert!(a.starts_with(&model_prefix("m")));
        assert!(a.contains(&format!(":v{FORMAT_VERSION}:")));
        assert_ne!(a, stored_key(&key("m", "f2", "text")));
        assert_ne!(a, stored_key(&key("m", "f1", "text ")));
        assert!(!stored_key(&key("mm", "f1", "text")).starts_with(&model_prefix("m")));
    }
}

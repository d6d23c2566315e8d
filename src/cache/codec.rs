//! How predictions are stored outside process memory (disk and Redis tiers): the
//! stored key and a compact, checked binary value.
//!
//! Stored key: `{model}:v{FORMAT_VERSION}:{generation}:{identity}:{digest}`, where the
//! digest is `sha256(input)[..16]` in hex over an unambiguous encoding of the input:
//! the text's length (u64 LE) and bytes, then `0` for a single text or `1`, the pair's
//! length and bytes (so no text can collide with a pair, whatever bytes it holds). The
//! model name comes first so one model's entries share a prefix (per-model clearing);
//! the format version and the [`super::Identity`] make a new value format, new weights
//! or new logits settings miss old entries instead of misreading them.
//!
//! Value, little-endian: `b'S'`, format version `u8`, flags `u8` (bit 0: the input was
//! truncated), label count `u16`, expiry `u64` (ms since the Unix epoch, 0 = never),
//! `count × f32` logits, then the low 64 bits of xxh3 over everything before. A value
//! that fails any check is a miss.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::key::CacheKey;
use crate::model::{Logits, Prediction};

/// Bumped whenever the key or value layout changes (3: identity and length-prefixed
/// input digest in the key).
pub const FORMAT_VERSION: u8 = 3;
const MAGIC: u8 = b'S';
/// Magic, version, flags, label count, expiry.
const HEADER: usize = 1 + 1 + 1 + 2 + 8;
/// Where the expiry starts in a value.
const EXPIRY_AT: usize = 5;
/// Flag bit: the input was truncated.
const TRUNCATED: u8 = 1;
const CHECKSUM: usize = 8;

/// The key of `key` in the disk and Redis tiers (without any Redis namespace):
/// `{model}:v{format}:{generation}:{identity}:{digest}` (see the module docs), where
/// `generation` is the tag of [`super::generation::Generations::tag`].
pub fn stored_key(key: &CacheKey, generation: &str) -> String {
    let mut hasher = Sha256::new();
    let text = key.input.text.as_bytes();
    hasher.update((text.len() as u64).to_le_bytes());
    hasher.update(text);
    match &key.input.pair {
        None => hasher.update([0u8]),
        Some(pair) => {
            hasher.update([1u8]);
            hasher.update((pair.len() as u64).to_le_bytes());
            hasher.update(pair.as_bytes());
        }
    }
    let digest = hasher.finalize();
    let hash: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
    format!("{}:v{FORMAT_VERSION}:{generation}:{}:{hash}", key.model, key.identity)
}

/// The prefix shared by every stored key of `model`.
pub fn model_prefix(model: &str) -> String {
    format!("{model}:")
}

/// Milliseconds since the Unix epoch ([`super::clock`]).
pub use super::clock::now_ms;

/// Encodes a prediction (logits `[num_labels]`, truncation flag) with an absolute
/// expiry (ms since epoch, 0 = never).
pub fn encode(prediction: &Prediction, expires_at_ms: u64) -> Vec<u8> {
    let logits = &prediction.logits;
    let count = u16::try_from(logits.len()).unwrap_or(u16::MAX);
    let mut out = Vec::with_capacity(HEADER + 4 * logits.len() + CHECKSUM);
    out.push(MAGIC);
    out.push(FORMAT_VERSION);
    out.push(if prediction.truncated { TRUNCATED } else { 0 });
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
    /// Wrong length, magic, version or checksum, or a logit that is not finite: the
    /// bytes are not a value we wrote.
    #[error("corrupt or foreign cache value")]
    Corrupt,
    /// A well-formed value whose logit count is not the model's label count: written
    /// by something else under our key.
    #[error("cache value with {found} logits for a model with {expected} labels")]
    WrongLabelCount {
        /// The model's label count.
        expected: usize,
        /// Logits in the value.
        found: usize,
    },
    /// The value's TTL has passed.
    #[error("expired")]
    Expired,
}

/// A stored value's expiry, ms since the Unix epoch (0: never, or the bytes are too
/// short to say).
pub fn expires_at(bytes: &[u8]) -> u64 {
    bytes.get(EXPIRY_AT..HEADER).and_then(|b| b.try_into().ok()).map_or(0, u64::from_le_bytes)
}

/// The time a stored value has left to live (`None`: it never expires, or the bytes
/// are too short to say). Used when a value is copied to another tier.
pub fn remaining_ttl(bytes: &[u8], now_ms: u64) -> Option<Duration> {
    let expires_at = u64::from_le_bytes(bytes.get(EXPIRY_AT..HEADER)?.try_into().ok()?);
    (expires_at != 0).then(|| Duration::from_millis(expires_at.saturating_sub(now_ms).max(1)))
}

/// Whether `bytes` are a value this format wrote, unaltered (length, magic, version
/// and checksum; expiry is not looked at).
pub fn is_intact(bytes: &[u8]) -> bool {
    !matches!(decode(bytes, 0), Err(DecodeError::Corrupt))
}

/// Decodes and checks a stored value for a model with `num_labels` labels.
///
/// Errors: [`DecodeError::WrongLabelCount`] for a well-formed value of another model;
/// otherwise as [`decode`].
pub fn decode_for(bytes: &[u8], now_ms: u64, num_labels: usize) -> Result<Prediction, DecodeError> {
    let prediction = decode(bytes, now_ms)?;
    match prediction.logits.len() {
        found if found == num_labels => Ok(prediction),
        found => Err(DecodeError::WrongLabelCount { expected: num_labels, found }),
    }
}

/// Decodes and checks a stored value.
///
/// Errors: [`DecodeError::Corrupt`] for anything malformed, [`DecodeError::Expired`]
/// when `now_ms` is past its expiry.
pub fn decode(bytes: &[u8], now_ms: u64) -> Result<Prediction, DecodeError> {
    if bytes.len() < HEADER + CHECKSUM || bytes[0] != MAGIC || bytes[1] != FORMAT_VERSION || bytes[2] & !TRUNCATED != 0
    {
        return Err(DecodeError::Corrupt);
    }
    let count = usize::from(u16::from_le_bytes([bytes[3], bytes[4]]));
    if bytes.len() != HEADER + 4 * count + CHECKSUM {
        return Err(DecodeError::Corrupt);
    }
    let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM);
    if xxhash_rust::xxh3::xxh3_64(body).to_le_bytes() != checksum {
        return Err(DecodeError::Corrupt);
    }
    let expires_at = u64::from_le_bytes(body[EXPIRY_AT..HEADER].try_into().map_err(|_| DecodeError::Corrupt)?);
    if expires_at != 0 && now_ms >= expires_at {
        return Err(DecodeError::Expired);
    }
    let logits: Vec<f32> =
        body[HEADER..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    if logits.iter().any(|x| !x.is_finite()) {
        return Err(DecodeError::Corrupt);
    }
    Ok(Prediction { logits: Logits::from(logits), truncated: bytes[2] & TRUNCATED != 0 })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::TextInput;

    fn prediction(logits: &[f32], truncated: bool) -> Prediction {
        Prediction { logits: Logits::from(logits), truncated }
    }

    #[test]
    fn round_trips_and_rejects_every_corruption() {
        for truncated in [false, true] {
            let bytes = encode(&prediction(&[1.5, -2.25, 0.0], truncated), 0);
            assert_eq!(decode(&bytes, now_ms()).unwrap(), prediction(&[1.5, -2.25, 0.0], truncated));
            for i in 0..bytes.len() {
                let mut flipped = bytes.clone();
                flipped[i] ^= 0x40;
                assert_eq!(decode(&flipped, 0), Err(DecodeError::Corrupt), "byte {i} flipped");
            }
            for len in 0..bytes.len() {
                assert_eq!(decode(&bytes[..len], 0), Err(DecodeError::Corrupt), "truncated to {len}");
            }
        }
    }

    #[test]
    fn expiry_is_checked() {
        let bytes = encode(&prediction(&[1.0], false), 1_000);
        assert!(decode(&bytes, 999).is_ok());
        assert_eq!(decode(&bytes, 1_000), Err(DecodeError::Expired));
        assert_eq!(remaining_ttl(&bytes, 400), Some(Duration::from_millis(600)));
        assert_eq!(remaining_ttl(&encode(&prediction(&[1.0], false), 0), 400), None);
    }

    #[test]
    fn keys_separate_models_fingerprints_texts_and_pairs() {
        let key =
            |m: &str, f: &str, input: TextInput| CacheKey { model: m.into(), identity: f.into(), num_labels: 2, input };
        let a = stored_key(&key("m", "f1", TextInput::single("text")), "g0.0");
        assert!(a.starts_with(&model_prefix("m")));
        assert!(a.contains(&format!(":v{FORMAT_VERSION}:g0.0:")));
        assert_ne!(a, stored_key(&key("m", "f1", TextInput::single("text")), "g1.0"));
        assert_ne!(a, stored_key(&key("m", "f2", TextInput::single("text")), "g0.0"));
        assert_ne!(a, stored_key(&key("m", "f1", TextInput::single("text ")), "g0.0"));
        assert!(!stored_key(&key("mm", "f1", TextInput::single("text")), "g0.0").starts_with(&model_prefix("m")));
        let pair = stored_key(&key("m", "f1", TextInput::pair("text", "other")), "g0.0");
        assert_ne!(a, pair);
        assert_ne!(pair, stored_key(&key("m", "f1", TextInput::pair("text", "")), "g0.0"));
        assert_ne!(pair, stored_key(&key("m", "f1", TextInput::pair("textother", "")), "g0.0"));
        assert_ne!(pair, stored_key(&key("m", "f1", TextInput::pair("tex", "tother")), "g0.0"));
    }

    #[test]
    fn no_text_shares_a_key_with_a_pair() {
        // The verified wrong answer: a text holding NUL hashed like the pair around it.
        let key = |input: TextInput| {
            stored_key(&CacheKey { model: "m".into(), identity: "f".into(), num_labels: 2, input }, "g")
        };
        let pair = key(TextInput::pair("This is terrible", "just kidding, it is wonderful"));
        assert_ne!(pair, key(TextInput::single("This is terrible\u{0}just kidding, it is wonderful")));
        assert_ne!(pair, key(TextInput::single("This is terrible\u{0}\u{1}just kidding, it is wonderful")));
        assert_ne!(key(TextInput::single("")), key(TextInput::pair("", "")));
    }

    #[test]
    fn non_finite_and_foreign_values_are_refused() {
        for bad in [f32::NAN, f32::INFINITY, f32::NEG_INFINITY] {
            assert_eq!(decode(&encode(&prediction(&[1.0, bad], false), 0), 0), Err(DecodeError::Corrupt));
        }
        let two = encode(&prediction(&[1.0, -1.0], false), 0);
        assert!(decode_for(&two, 0, 2).is_ok());
        assert_eq!(decode_for(&two, 0, 3), Err(DecodeError::WrongLabelCount { expected: 3, found: 2 }));
        let empty = encode(&prediction(&[], false), 0);
        assert_eq!(decode_for(&empty, 0, 2), Err(DecodeError::WrongLabelCount { expected: 2, found: 0 }));
    }
}

//! How predictions are stored outside process memory (disk and Redis tiers): the
//! stored key and a compact, checked binary value, both as small as they can be, since
//! Redis holds one key and one value per cached text.
//!
//! Stored key: 22 characters, the URL-safe base64 (no padding) of 16 bytes: a 3-byte
//! model tag (`sha256("model:" ‖ name)[..3]`, so one model's keys share a 4-character
//! prefix, [`model_prefix`], for per-model clearing) and a 13-byte digest, `sha256`
//! over the format version, the model name, the generation tag, the model's
//! [`super::Identity`] and an unambiguous encoding of the input (the text's length
//! (u64 LE) and bytes, then `0` for a single text or `1`, the pair's length and bytes,
//! so no text can collide with a pair, whatever bytes it holds), or, for a token key,
//! its [`super::key::TokenDigest`] after a first byte with bit 7 set. A new value format,
//! new weights, new logits settings or a clear (a new generation) give new keys, so
//! old entries are missed, never misread. SHA-256 keeps a chosen text from landing on
//! another text's key (a second preimage of 104 bits).
//!
//! Value, little-endian: format version `u8`, flags `u8` (bit 0: the input was
//! truncated), expiry `u32` (whole seconds since the Unix epoch, rounded up; 0 =
//! never), the logits as `f32`s (as many as the length leaves), then the low 32 bits of
//! xxh3 over everything before: 10 bytes beside the logits, 18 for a 2-label model. A
//! value that fails any check is a miss.

use std::time::Duration;

use sha2::{Digest, Sha256};

use super::key::{CacheKey, KeyInput};
use crate::model::{Logits, Prediction};

/// Bumped whenever the key or value layout changes (3: identity and length-prefixed
/// input digest in the key; 4: 22-character keys, 18-byte 2-label values).
pub const FORMAT_VERSION: u8 = 4;
/// Version, flags, expiry.
const HEADER: usize = 1 + 1 + 4;
/// Where the expiry starts in a value.
const EXPIRY_AT: usize = 2;
/// Flag bit: the input was truncated.
const TRUNCATED: u8 = 1;
const CHECKSUM: usize = 4;
/// Bytes of the model tag and of the entry digest in a stored key.
const TAG_BYTES: usize = 3;
const DIGEST_BYTES: usize = 13;
/// Set in the first hashed byte of a token key ([`KeyInput::Tokens`]).
const TOKEN_KEY: u8 = 0x80;

/// URL-safe base64 without padding (RFC 4648 §5) of `bytes`, whose length is a
/// multiple of 3 (so every character stands for whole bytes and prefixes line up).
fn base64url(bytes: &[u8]) -> String {
    const ALPHABET: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
    let mut out = String::with_capacity(bytes.len().div_ceil(3) * 4);
    for chunk in bytes.chunks(3) {
        let n = chunk.iter().enumerate().fold(0u32, |n, (i, &b)| n | u32::from(b) << (16 - 8 * i));
        let chars = chunk.len() + 1;
        for i in 0..chars {
            out.push(char::from(ALPHABET[(n >> (18 - 6 * i) & 63) as usize]));
        }
    }
    out
}

/// The bytes of a stored key (22 characters of [`base64url`]), for a store that takes
/// binary keys (Redis: 16 bytes instead of 22 characters); `None` for anything else.
pub fn key_bytes(stored: &str) -> Option<[u8; TAG_BYTES + DIGEST_BYTES]> {
    fn value(c: u8) -> Option<u32> {
        Some(u32::from(match c {
            b'A'..=b'Z' => c - b'A',
            b'a'..=b'z' => c - b'a' + 26,
            b'0'..=b'9' => c - b'0' + 52,
            b'-' => 62,
            b'_' => 63,
            _ => return None,
        }))
    }
    let chars = stored.as_bytes();
    if chars.len() != 22 {
        return None;
    }
    let mut out = [0u8; TAG_BYTES + DIGEST_BYTES];
    let mut filled = 0;
    for group in chars.chunks(4) {
        let n = group.iter().try_fold((0u32, 0), |(n, i), &c| Some((n | value(c)? << (18 - 6 * i), i + 1)))?.0;
        for i in 0..group.len() - 1 {
            out[filled] = (n >> (16 - 8 * i)) as u8;
            filled += 1;
        }
    }
    // The last group's unused low bits must be zero, as the encoder writes them.
    (base64url(&out) == stored).then_some(out)
}

/// The raw model tag of [`model_prefix`].
pub fn model_tag_bytes(model: &str) -> [u8; TAG_BYTES] {
    model_tag(model)
}

/// The 3-byte tag every stored key of `model` starts with.
fn model_tag(model: &str) -> [u8; TAG_BYTES] {
    let digest = Sha256::new().chain_update(b"model:").chain_update(model.as_bytes()).finalize();
    [digest[0], digest[1], digest[2]]
}

/// Length-prefixed bytes, so that no two fields can trade bytes.
fn update_field(hasher: &mut Sha256, bytes: &[u8]) {
    hasher.update((bytes.len() as u64).to_le_bytes());
    hasher.update(bytes);
}

/// The key of `key` in the disk and Redis tiers (without any Redis namespace): 22
/// characters (see the module docs), where `generation` is the tag of
/// [`super::generation::Generations::tag`].
pub fn stored_key(key: &CacheKey, generation: &str) -> String {
    let mut hasher = Sha256::new();
    // A token key hashes another first byte, so it can share no key with a text
    // whatever the rest holds; text keys hash exactly what format 4 did (with token
    // keys off, entries written before token keys existed stay readable).
    hasher.update([match key.input {
        KeyInput::Text(_) => FORMAT_VERSION,
        KeyInput::Tokens(_) => FORMAT_VERSION | TOKEN_KEY,
    }]);
    update_field(&mut hasher, key.model.as_bytes());
    update_field(&mut hasher, generation.as_bytes());
    update_field(&mut hasher, key.identity.as_str().as_bytes());
    match &key.input {
        KeyInput::Text(input) => {
            update_field(&mut hasher, input.text.as_bytes());
            match &input.pair {
                None => hasher.update([0u8]),
                Some(pair) => {
                    hasher.update([1u8]);
                    update_field(&mut hasher, pair.as_bytes());
                }
            }
        }
        KeyInput::Tokens(digest) => hasher.update(digest.0),
    }
    let digest = hasher.finalize();
    let mut bytes = [0u8; TAG_BYTES + DIGEST_BYTES];
    bytes[..TAG_BYTES].copy_from_slice(&model_tag(&key.model));
    bytes[TAG_BYTES..].copy_from_slice(&digest[..DIGEST_BYTES]);
    base64url(&bytes)
}

/// The prefix shared by every stored key of `model` (4 characters).
pub fn model_prefix(model: &str) -> String {
    base64url(&model_tag(model))
}

/// Milliseconds since the Unix epoch ([`super::clock`]).
pub use super::clock::now_ms;

/// Encodes a prediction (logits `[num_labels]`, truncation flag) with an absolute
/// expiry (ms since epoch, 0 = never; stored rounded up to whole seconds).
pub fn encode(prediction: &Prediction, expires_at_ms: u64) -> Vec<u8> {
    let logits = &prediction.logits;
    let expiry = u32::try_from(expires_at_ms.div_ceil(1000)).unwrap_or(u32::MAX);
    let mut out = Vec::with_capacity(HEADER + 4 * logits.len() + CHECKSUM);
    out.push(FORMAT_VERSION);
    out.push(if prediction.truncated { TRUNCATED } else { 0 });
    out.extend_from_slice(&expiry.to_le_bytes());
    for value in logits.iter() {
        out.extend_from_slice(&value.to_le_bytes());
    }
    let checksum = xxhash_rust::xxh3::xxh3_64(&out) as u32;
    out.extend_from_slice(&checksum.to_le_bytes());
    out
}

/// Bytes of the compact value beside the logits: version and flags, 24-bit checksum.
const COMPACT_OVERHEAD: usize = 1 + 3;

/// The compact form of a value, for a store that keeps the expiry itself (Redis, by
/// `PX`): `version << 1 | truncated` (`u8`), the logits, then the low 24 bits of xxh3
/// over everything before: 12 bytes for a 2-label model. `None` when `canonical` is
/// not an intact value.
pub fn compact(canonical: &[u8]) -> Option<Vec<u8>> {
    if !is_intact(canonical) {
        return None;
    }
    let logits = &canonical[HEADER..canonical.len() - CHECKSUM];
    let mut out = Vec::with_capacity(COMPACT_OVERHEAD + logits.len());
    out.push(FORMAT_VERSION << 1 | (canonical[1] & TRUNCATED));
    out.extend_from_slice(logits);
    let checksum = xxhash_rust::xxh3::xxh3_64(&out).to_le_bytes();
    out.extend_from_slice(&checksum[..3]);
    Some(out)
}

/// The value [`compact`] made, back in the canonical form with `expires_at_ms` (ms
/// since the Unix epoch, 0 = never). `None` when `compact` is not intact.
pub fn from_compact(compact: &[u8], expires_at_ms: u64) -> Option<Vec<u8>> {
    if compact.len() < COMPACT_OVERHEAD || !(compact.len() - COMPACT_OVERHEAD).is_multiple_of(4) {
        return None;
    }
    let (body, checksum) = compact.split_at(compact.len() - 3);
    if body[0] >> 1 != FORMAT_VERSION || body[0] & !(FORMAT_VERSION << 1 | TRUNCATED) != 0 {
        return None;
    }
    if xxhash_rust::xxh3::xxh3_64(body).to_le_bytes()[..3] != *checksum {
        return None;
    }
    let logits = body[1..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect::<Vec<_>>();
    let prediction = Prediction { logits: Logits::from(logits), truncated: body[0] & TRUNCATED != 0 };
    Some(encode(&prediction, expires_at_ms))
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
    bytes.get(EXPIRY_AT..HEADER).and_then(|b| b.try_into().ok()).map_or(0, |b| u64::from(u32::from_le_bytes(b)) * 1000)
}

/// The time a stored value has left to live (`None`: it never expires, or the bytes
/// are too short to say). Used when a value is copied to another tier.
pub fn remaining_ttl(bytes: &[u8], now_ms: u64) -> Option<Duration> {
    let expires_at = expires_at(bytes);
    (expires_at != 0).then(|| Duration::from_millis(expires_at.saturating_sub(now_ms).max(1)))
}

/// Whether `bytes` are a value this format wrote, unaltered (length, version and
/// checksum; expiry is not looked at).
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
    if bytes.len() < HEADER + CHECKSUM
        || !(bytes.len() - HEADER - CHECKSUM).is_multiple_of(4)
        || bytes[0] != FORMAT_VERSION
        || bytes[1] & !TRUNCATED != 0
    {
        return Err(DecodeError::Corrupt);
    }
    let (body, checksum) = bytes.split_at(bytes.len() - CHECKSUM);
    if (xxhash_rust::xxh3::xxh3_64(body) as u32).to_le_bytes() != checksum {
        return Err(DecodeError::Corrupt);
    }
    let expires_at = expires_at(body);
    if expires_at != 0 && now_ms >= expires_at {
        return Err(DecodeError::Expired);
    }
    let logits: Vec<f32> =
        body[HEADER..].chunks_exact(4).map(|c| f32::from_le_bytes([c[0], c[1], c[2], c[3]])).collect();
    if logits.iter().any(|x| !x.is_finite()) {
        return Err(DecodeError::Corrupt);
    }
    Ok(Prediction { logits: Logits::from(logits), truncated: bytes[1] & TRUNCATED != 0 })
}

#[cfg(test)]
mod tests;

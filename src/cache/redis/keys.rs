//! Where entries live in Redis: binary keys under the namespace, and the `SCAN MATCH`
//! patterns that find one model's entries (or all) for clearing.

use crate::cache::codec;

/// The Redis key of the stored key `stored` under `namespace`: `{namespace}:` and the
/// key's 16 bytes (28 bytes with the default namespace; a stored key in no known form
/// is kept as text).
pub fn entry_key(namespace: &str, stored: &str) -> Vec<u8> {
    let mut key = Vec::with_capacity(namespace.len() + 1 + 16);
    key.extend_from_slice(namespace.as_bytes());
    key.push(b':');
    match codec::key_bytes(stored) {
        Some(bytes) => key.extend_from_slice(&bytes),
        None => key.extend_from_slice(stored.as_bytes()),
    }
    key
}

/// The `SCAN MATCH` pattern of every entry of `model` (or of all, `None`) under
/// `namespace`: the binary model tag, glob characters escaped.
pub fn entry_pattern(namespace: &str, model: Option<&str>) -> Vec<u8> {
    let mut pattern = Vec::with_capacity(namespace.len() + 8);
    pattern.extend_from_slice(namespace.as_bytes());
    pattern.push(b':');
    if let Some(model) = model {
        for byte in codec::model_tag_bytes(model) {
            if b"*?[]\\".contains(&byte) {
                pattern.push(b'\\');
            }
            pattern.push(byte);
        }
    }
    pattern.push(b'*');
    pattern
}

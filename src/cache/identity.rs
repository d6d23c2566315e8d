//! The one identity of cached answers: which logits an entry holds.

use std::fmt;
use std::sync::Arc;

use super::codec::FORMAT_VERSION;
use crate::engine::LogitsSettings;

/// Names the logits a loaded model computes: a 128-bit hash (32 hex digits) of the
/// files' content hash, every [`LogitsSettings`] field (dtype, the applied
/// `max_tokens`, truncation side, the engine) and the stored value format's version.
/// Built here and nowhere else; every cache key carries it, so an answer is reused
/// only by a model that would compute the same logits. Paths are not in it: replicas
/// that load the same files from different directories share entries. The model's
/// name is not either (it is part of every key already, for per-model clears).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Identity(Arc<str>);

impl Identity {
    /// The identity of an engine loaded from files whose content hash is
    /// `content_hash`, computing with `settings`.
    pub fn new(content_hash: &str, settings: &LogitsSettings) -> Self {
        Self::with_format(FORMAT_VERSION, content_hash, settings)
    }

    fn with_format(format_version: u8, content_hash: &str, settings: &LogitsSettings) -> Self {
        let mut hasher = xxhash_rust::xxh3::Xxh3::new();
        hasher.update(b"sentiserve-identity\0");
        hasher.update(&[format_version]);
        hasher.update(&(content_hash.len() as u64).to_le_bytes());
        hasher.update(content_hash.as_bytes());
        // Serializing the whole struct means a field added to it is hashed too.
        let settings = serde_json::to_vec(settings).unwrap_or_default();
        hasher.update(&settings);
        Self(Arc::from(format!("{:032x}", hasher.digest128())))
    }

    /// The 32 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for Identity {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl From<&str> for Identity {
    /// An identity given verbatim (tests and benches that need a fixed key).
    fn from(value: &str) -> Self {
        Self(Arc::from(value))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::TruncationSide;
    use crate::model::Dtype;

    fn settings() -> LogitsSettings {
        LogitsSettings { engine: "candle", dtype: Dtype::F32, max_tokens: 512, truncation: TruncationSide::Right }
    }

    #[test]
    fn every_field_changes_the_identity() {
        let base = Identity::new("abc", &settings());
        assert_eq!(base, Identity::new("abc", &settings()), "deterministic");
        assert_eq!(base.as_str().len(), 32);
        assert_ne!(base, Identity::new("abd", &settings()), "files' content");
        assert_ne!(base, Identity::new("abc", &LogitsSettings { dtype: Dtype::Int8, ..settings() }), "dtype");
        assert_ne!(base, Identity::new("abc", &LogitsSettings { dtype: Dtype::Bf16, ..settings() }), "dtype");
        assert_ne!(base, Identity::new("abc", &LogitsSettings { max_tokens: 16, ..settings() }), "max_tokens");
        assert_ne!(base, Identity::new("abc", &LogitsSettings { engine: "fake", ..settings() }), "engine");
    }

    #[test]
    fn the_value_format_version_changes_the_identity() {
        let current = Identity::new("abc", &settings());
        assert_eq!(current, Identity::with_format(FORMAT_VERSION, "abc", &settings()));
        assert_ne!(current, Identity::with_format(FORMAT_VERSION + 1, "abc", &settings()));
    }
}

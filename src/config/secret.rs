//! Secrets in configuration (API keys, admin keys, a Redis URL with a password): their
//! `Debug` never shows them, so a `{:?}` of a configuration (a log line, a panic
//! message) cannot leak them.

use std::fmt;

/// A secret string whose `Debug` prints `Secret("***")`. Read it with
/// [`Secret::expose`].
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    /// Wraps `value`.
    pub fn new(value: impl Into<String>) -> Self {
        Self(value.into())
    }

    /// The secret itself, for the one place that needs it.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Secret(\"***\")")
    }
}

impl From<String> for Secret {
    fn from(value: String) -> Self {
        Self(value)
    }
}

impl From<&str> for Secret {
    fn from(value: &str) -> Self {
        Self(value.to_string())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn debug_hides_the_value() {
        let secret = Secret::from("hunter2");
        assert_eq!(format!("{secret:?}"), "Secret(\"***\")");
        assert_eq!(format!("{:?}", Some(secret.clone())), "Some(Secret(\"***\"))");
        assert_eq!(secret.expose(), "hunter2");
    }

    #[test]
    fn urls_lose_their_password_only() {
        let cases = [
            ("redis://user:pw@host:6379/0", "redis://user:***@host:6379/0"),
            ("redis://:pw@host:6379", "redis://:***@host:6379"),
            ("redis://pw@host", "redis://***@host"),
            ("rediss://u:p@ss@host", "rediss://u:***@host"),
            ("redis://host:6379/0", "redis://host:6379/0"),
            ("redis://host/x@y", "redis://host/x@y"),
            ("not a url", "not a url"),
        ];
        for (url, want) in cases {
            assert_eq!(crate::cache::redis::redact(url), want, "{url}");
        }
    }
}

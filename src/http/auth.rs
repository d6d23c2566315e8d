//! API keys: `--api-key` protects inference and read routes, `--admin-key` protects
//! loading/unloading models and clearing the cache. Keys are sent as
//! `Authorization: Bearer KEY` (or `X-API-Key: KEY`) and compared in constant time
//! (over SHA-256 digests, so not even the length leaks). Which routes need which key
//! is decided by the sub-router a route is registered in (`routes.rs`).

use std::sync::Arc;

use axum::extract::{Request, State};
use axum::http::{header, HeaderMap, HeaderValue};
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use sha2::{Digest, Sha256};
use subtle::ConstantTimeEq;

use super::error::{ApiError, ErrorKind};

/// Which key a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// No key.
    Open,
    /// The API key (or the admin key).
    Inference,
    /// The admin key (or, when no admin key is set, the API key).
    Admin,
}

/// The configured keys, kept as SHA-256 digests.
#[derive(Clone, Default)]
pub struct Keys {
    api: Option<[u8; 32]>,
    admin: Option<[u8; 32]>,
}

fn digest(key: &str) -> [u8; 32] {
    Sha256::digest(key.as_bytes()).into()
}

impl Keys {
    /// Keys from configuration; empty strings count as unset.
    pub fn new(api: Option<&str>, admin: Option<&str>) -> Self {
        let set = |k: Option<&str>| k.filter(|k| !k.is_empty()).map(digest);
        Self { api: set(api), admin: set(admin) }
    }

    /// Whether any key is configured.
    pub fn any(&self) -> bool {
        self.api.is_some() || self.admin.is_some()
    }

    fn matches(expected: &Option<[u8; 32]>, presented: &Option<[u8; 32]>) -> bool {
        match (expected, presented) {
            (Some(e), Some(p)) => bool::from(e.ct_eq(p)),
            _ => false,
        }
    }

    /// Whether `presented` grants `access`.
    pub fn allows(&self, access: Access, presented: Option<&str>) -> bool {
        self.check(access, presented).is_ok()
    }

    /// Whether `presented` grants `access`, and if not, why.
    ///
    /// Errors: [`Denied`].
    pub fn check(&self, access: Access, presented: Option<&str>) -> Result<(), Denied> {
        let digest = presented.map(digest);
        let api = Self::matches(&self.api, &digest);
        let admin = Self::matches(&self.admin, &digest);
        let allowed = match access {
            Access::Open => true,
            Access::Inference => self.api.is_none() || api || admin,
            Access::Admin if self.admin.is_some() => admin,
            Access::Admin => self.api.is_none() || api,
        };
        match (allowed, presented) {
            (true, _) => Ok(()),
            (false, None) => Err(Denied::Missing),
            (false, Some(_)) if api => Err(Denied::NotAdmin),
            (false, Some(_)) => Err(Denied::Wrong),
        }
    }
}

/// Why a request was refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Denied {
    /// No key was sent.
    Missing,
    /// The key sent is no configured key.
    Wrong,
    /// The key sent is the API key, and the route needs the admin key.
    NotAdmin,
}

/// The token of an `Authorization: Bearer TOKEN` value: the scheme is
/// case-insensitive (RFC 9110 §11.1) and separated by spaces or tabs.
fn bearer_token(value: &str) -> Option<&str> {
    let value = value.trim_start_matches([' ', '\t']);
    let (scheme, rest) = value.split_at(value.find([' ', '\t'])?);
    let token = rest.trim_matches([' ', '\t']);
    (scheme.eq_ignore_ascii_case("bearer") && !token.is_empty()).then_some(token)
}

/// The key a request presents: `Authorization: Bearer KEY` or `X-API-Key: KEY`.
pub fn presented_key(headers: &HeaderMap) -> Option<&str> {
    let bearer = headers.get(header::AUTHORIZATION).and_then(|v| v.to_str().ok()).and_then(bearer_token);
    bearer.or_else(|| headers.get("x-api-key").and_then(|v| v.to_str().ok()).map(str::trim))
}

/// Middleware state: the keys and the access level of the routes it guards.
pub type Guard = (Arc<Keys>, Access);

/// Middleware: answers 401 with a JSON error when the route's key is missing or wrong.
/// (The hit path's routes take the same check inside [`super::guard`].)
pub async fn require(State((keys, access)): State<Guard>, req: Request, next: Next) -> Response {
    match keys.check(access, presented_key(req.headers())) {
        Ok(()) => next.run(req).await,
        Err(denied) => refusal(access, denied),
    }
}

/// The 401 answer for `denied` on a route needing `access`: the JSON error naming what
/// is missing, and `WWW-Authenticate: Bearer`.
pub fn refusal(access: Access, denied: Denied) -> Response {
    let what = if access == Access::Admin { "the admin key" } else { "an API key" };
    let message = match denied {
        Denied::Missing => {
            format!("no key sent; this route needs {what}: send `Authorization: Bearer <key>` or `X-API-Key: <key>`")
        }
        Denied::Wrong => format!("the key sent is wrong; this route needs {what}"),
        Denied::NotAdmin => "the key sent is the API key; this route (load, unload, reload, clearing the cache) \
                             needs the admin key"
            .to_string(),
    };
    let mut response = ApiError::new(ErrorKind::Unauthorized, message).into_response();
    response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer realm=\"sentiserve\""));
    response
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bearer_scheme_is_case_insensitive_and_takes_tabs() {
        for value in ["Bearer k", "bearer k", "BEARER k", "Bearer\tk", "  Bearer   k  ", "bEaReR\t k"] {
            assert_eq!(bearer_token(value), Some("k"), "{value:?}");
        }
        for value in ["Bearerk", "Basic k", "Bearer", "Bearer  ", "k"] {
            assert_eq!(bearer_token(value), None, "{value:?}");
        }
    }

    #[test]
    fn no_keys_means_everything_is_open() {
        let keys = Keys::new(None, Some(""));
        assert!(!keys.any());
        assert!(keys.allows(Access::Inference, None));
        assert!(keys.allows(Access::Admin, None));
    }

    #[test]
    fn api_key_alone_guards_both_levels() {
        let keys = Keys::new(Some("k1"), None);
        assert!(!keys.allows(Access::Inference, None));
        assert!(!keys.allows(Access::Inference, Some("k2")));
        assert!(keys.allows(Access::Inference, Some("k1")));
        assert!(keys.allows(Access::Admin, Some("k1")));
        assert!(keys.allows(Access::Open, None));
    }

    #[test]
    fn admin_key_is_needed_for_admin_routes_and_works_everywhere() {
        let keys = Keys::new(Some("user"), Some("root"));
        assert!(!keys.allows(Access::Admin, Some("user")));
        assert!(keys.allows(Access::Admin, Some("root")));
        assert!(keys.allows(Access::Inference, Some("root")));
        assert!(keys.allows(Access::Inference, Some("user")));
        let admin_only = Keys::new(None, Some("root"));
        assert!(admin_only.allows(Access::Inference, None), "without an API key, inference stays open");
        assert!(!admin_only.allows(Access::Admin, None));
    }
}

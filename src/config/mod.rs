//! Configuration: command-line flags and environment ([`cli`]), the model manifest
//! `models/models.toml` ([`manifest`]), what the server runs with ([`runtime`]) and
//! secrets that `Debug` hides ([`secret`]).
//! Every default is a constant in [`crate::defaults`].

pub mod analyze;
pub mod cli;
pub mod manifest;
pub mod runtime;
pub mod secret;
#[cfg(test)]
mod tests;

pub use cli::{CacheArgs, LogFormat, ModelArgs, ServeArgs};
pub use manifest::{Catalog, ConfigError};
pub use runtime::{ConnectionLimits, HttpConfig, Limits, ServerConfig};
pub use secret::Secret;

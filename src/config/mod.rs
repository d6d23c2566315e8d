//! Configuration: command-line flags and environment ([`cli`]), the model manifest
//! `models/models.toml` ([`manifest`]), and what the server runs with ([`runtime`]).
//! Every default is a constant in [`defaults`].

pub mod cli;
pub mod defaults;
pub mod manifest;
pub mod runtime;

pub use cli::{LogFormat, ModelArgs, ServeArgs};
pub use manifest::{Catalog, ConfigError};
pub use runtime::{ConnectionLimits, HttpConfig, Limits, ServerConfig};

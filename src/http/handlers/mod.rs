//! Route handlers: thin adapters from JSON to [`Service`](crate::service::Service),
//! one module per group of the OpenAPI document (inference, models, cache,
//! operations); the compatibility routes are in `compat.rs`. Which key each needs is
//! decided where it is registered (`routes.rs`); requests are parsed in `request/`.

pub mod analyze;
pub mod cache;
pub mod models;
pub mod operations;

//! sentiserve: a text-classification inference server built around a process-wide
//! model registry (each model loaded once, shared read-only) and a prediction cache
//! (logits memoized by model identity and exact input).
//!
//! The request path: [`http`] → [`service::Service::analyze`] → [`cache`] (hit → done)
//! → [`registry`] (single-flight load) → [`batch`] (dynamic batching on an inference
//! thread) → [`model`] (tokenizer + family body/head behind `SequenceClassifier`).
#![warn(missing_docs)]
#![warn(unsafe_op_in_unsafe_fn)]
#![warn(clippy::undocumented_unsafe_blocks, clippy::missing_safety_doc)]

pub mod allocator;
pub mod batch;
pub mod cache;
pub mod config;
pub mod defaults;
pub mod engine;
pub mod files;
pub mod http;
pub mod log_format;
pub mod log_time;
pub mod log_writer;
pub mod model;
pub mod registry;
pub mod server;
pub mod service;
pub mod telemetry;

pub use config::ServerConfig;
pub use server::App;
pub use service::{Analysis, Service};

//! The state every handler shares, in its own module so handlers depend on it without
//! depending on the router that holds them (`super`).

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Limits;
use crate::service::Service;

/// Shared state of every handler: one `Arc`, since axum clones the state for every
/// extractor and middleware of every request.
#[derive(Clone)]
pub struct AppState(Arc<Shared>);

impl AppState {
    /// The state holding `shared`.
    pub fn new(shared: Shared) -> Self {
        Self(Arc::new(shared))
    }
}

impl std::ops::Deref for AppState {
    type Target = Shared;

    fn deref(&self) -> &Shared {
        &self.0
    }
}

/// What [`AppState`] holds.
pub struct Shared {
    /// The request path.
    pub service: Service,
    /// Request limits.
    pub limits: Arc<Limits>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
}

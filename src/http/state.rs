//! The state every handler shares, in its own module so handlers depend on it without
//! depending on the router that holds them (`super`).

use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;

use crate::config::Limits;
use crate::service::Service;

/// Shared state of every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The request path.
    pub service: Service,
    /// Request limits.
    pub limits: Arc<Limits>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
}

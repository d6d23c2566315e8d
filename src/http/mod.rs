//! The HTTP API (axum): routes, JSON errors, limits and metrics. It knows nothing of
//! tensors; everything goes through [`Service`].

pub mod error;
pub mod extract;
pub mod routes;

use std::sync::Arc;

use axum::extract::DefaultBodyLimit;
use axum::routing::{delete, get, post};
use axum::Router;
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::catch_panic::CatchPanicLayer;

use crate::config::Limits;
use crate::service::Service;
use error::ApiError;

/// Shared state of every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The request path.
    pub service: Service,
    /// Request limits.
    pub limits: Arc<Limits>,
    /// Models `/health` waits for.
    pub preload: Arc<Vec<String>>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
}

/// Builds the router with every route.
pub fn router(state: AppState) -> Router {
    let max_body = state.limits.max_body_bytes;
    Router::new()
        .route("/analyze", post(routes::analyze))
        .route("/models", get(routes::list_models))
        .route("/models/{name}", delete(routes::unload_model))
        .route("/models/{name}/load", post(routes::load_model))
        .route("/cache", get(routes::cache_stats).delete(routes::clear_cache))
        .route("/health", get(routes::health))
        .route("/metrics", get(routes::metrics))
        .route_layer(axum::middleware::from_fn(crate::telemetry::track))
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .fallback(|| async { ApiError::no_route() })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::new(
                axum::http::StatusCode::INTERNAL_SERVER_ERROR,
                "internal",
                "internal error",
            ))
        }))
        .with_state(state)
}

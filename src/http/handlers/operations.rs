//! Open operational routes: health and readiness probes, liveness, metrics.

use axum::extract::State;
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::http::state::AppState;
use crate::http::wire::Readiness;

/// `GET /health`: 200 once every preloaded model is loaded; 503 before, or when one
/// failed (see `GET /models` for the reason).
#[utoipa::path(
    get, path = "/health", tag = "operations",
    responses(
        (status = 200, description = "Every preloaded model is loaded", body = Readiness),
        (status = 503, description = "A preloaded model is loading or failed", body = Readiness),
    )
)]
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Readiness>) {
    let readiness = state.service.readiness();
    let code = if readiness.is_ready() { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(readiness.into()))
}

/// Liveness: the process is up and serving HTTP.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Liveness {
    /// Always `ok`.
    pub status: &'static str,
}

/// `GET /livez`: 200 while the process runs (an orchestrator's liveness probe; it
/// never depends on models, so a replica that is still downloading is not killed).
#[utoipa::path(
    get, path = "/livez", tag = "operations",
    responses((status = 200, description = "The process is up", body = Liveness))
)]
pub async fn livez() -> Json<Liveness> {
    Json(Liveness { status: "ok" })
}

/// `GET /readyz`: readiness (the same answer as `GET /health`).
#[utoipa::path(
    get, path = "/readyz", tag = "operations",
    responses(
        (status = 200, description = "Every preloaded model is loaded", body = Readiness),
        (status = 503, description = "A preloaded model is loading or failed", body = Readiness),
    )
)]
pub async fn readyz(state: State<AppState>) -> (StatusCode, Json<Readiness>) {
    health(state).await
}

/// `GET /metrics`: Prometheus text format.
#[utoipa::path(
    get, path = "/metrics", tag = "operations",
    responses((status = 200, description = "Prometheus metrics", content_type = "text/plain", body = String))
)]
pub async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

//! The prediction cache's routes: stats (inference key) and clearing (admin key).

use axum::extract::State;
use axum::Json;
use serde::Deserialize;

use crate::http::error::{ApiError, ErrorResponse};
use crate::http::extract::QueryParams;
use crate::http::state::AppState;
use crate::http::wire::{CacheStats, ClearReport};

/// `GET /cache`.
#[utoipa::path(
    get, path = "/cache", tag = "cache",
    responses(
        (status = 200, description = "Sizes and counters, per tier", body = CacheStats),
        (status = 401, description = "Missing or wrong API key", body = ErrorResponse),
    ),
)]
pub async fn cache_stats(State(state): State<AppState>) -> Json<CacheStats> {
    Json(state.service.cache_stats().await.into())
}

/// Query of `DELETE /cache`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ClearQuery {
    /// Clear only this model's entries.
    pub model: Option<String>,
}

/// `DELETE /cache[?model=NAME]`: clears every tier (Redis: only this server's namespace).
#[utoipa::path(
    delete, path = "/cache", tag = "cache", params(ClearQuery),
    responses(
        (status = 200, description = "What each tier removed, and the stats after", body = ClearReport),
        (status = 400, description = "Malformed query string", body = ErrorResponse),
        (status = 401, description = "Missing or wrong admin key", body = ErrorResponse),
        (status = 404, description = "Unknown model", body = ErrorResponse),
    ),
)]
pub async fn clear_cache(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ClearQuery>,
) -> Result<Json<ClearReport>, ApiError> {
    Ok(Json(state.service.clear_cache(query.model.as_deref()).await?.into()))
}

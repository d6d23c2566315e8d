//! Route handlers: thin adapters from JSON to [`Service`](crate::service::Service).
//! Which key each needs is decided where it is registered (`super::routes`).

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;

use super::error::{ApiError, ErrorKind, ErrorResponse};
use super::extract::{JsonBody, QueryParams};
use super::AppState;
use crate::cache::CacheStats;
use crate::registry::ModelStatus;
use crate::service::{Analysis, ClearReport, ModelsReport, Readiness};

/// Body of `POST /analyze`: exactly one of `text` and `texts`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeRequest {
    /// One text.
    pub text: Option<String>,
    /// Several texts, answered in order.
    pub texts: Option<Vec<String>>,
    /// A configured model name; default model when absent.
    pub model: Option<String>,
}

/// `POST /analyze`.
#[utoipa::path(
    post, path = "/analyze", tag = "inference", request_body = AnalyzeRequest,
    responses(
        (status = 200, description = "One result per input, in input order", body = Analysis),
        (status = 400, description = "Malformed JSON", body = ErrorResponse),
        (status = 401, description = "Missing or wrong API key", body = ErrorResponse),
        (status = 404, description = "Unknown model", body = ErrorResponse),
        (status = 413, description = "Body or number of texts over the limit", body = ErrorResponse),
        (status = 415, description = "Content type is not application/json", body = ErrorResponse),
        (status = 422, description = "Missing, extra or wrongly typed fields", body = ErrorResponse),
        (status = 429, description = "The model's inference queue is full", body = ErrorResponse),
        (status = 500, description = "Inference failed", body = ErrorResponse),
        (status = 503, description = "The model failed to load or was unloaded", body = ErrorResponse),
    ),
)]
pub async fn analyze(
    State(state): State<AppState>,
    JsonBody(request): JsonBody<AnalyzeRequest>,
) -> Result<Json<Analysis>, ApiError> {
    let texts = match (request.text, request.texts) {
        (Some(_), Some(_)) => return Err(ApiError::invalid("give either `text` or `texts`, not both")),
        (None, None) => {
            return Err(ApiError::invalid("missing field `text` (a string) or `texts` (a list of strings)"))
        }
        (Some(text), None) => vec![text],
        (None, Some(texts)) if texts.is_empty() => return Err(ApiError::invalid("`texts` is empty")),
        (None, Some(texts)) => texts,
    };
    if texts.len() > state.limits.max_texts {
        return Err(ApiError::new(
            ErrorKind::BatchTooLarge,
            format!("{} texts in one request; the limit is {}", texts.len(), state.limits.max_texts),
        ));
    }
    let analysis = state.service.analyze(request.model.as_deref(), &texts).await?;
    Ok(Json(analysis))
}

/// `GET /models`.
#[utoipa::path(
    get, path = "/models", tag = "models",
    responses(
        (status = 200, description = "Every configured model", body = ModelsReport),
        (status = 401, description = "Missing or wrong API key", body = ErrorResponse),
    ),
)]
pub async fn list_models(State(state): State<AppState>) -> Json<ModelsReport> {
    Json(state.service.models())
}

/// `POST /models/{name}/load`: loads (or retries) a configured model; 503 with the
/// reason when the load fails.
#[utoipa::path(
    post, path = "/models/{name}/load", tag = "models",
    params(("name" = String, Path, description = "A configured model name")),
    responses(
        (status = 200, description = "The model is loaded", body = ModelStatus),
        (status = 401, description = "Missing or wrong admin key", body = ErrorResponse),
        (status = 404, description = "Unknown model", body = ErrorResponse),
        (status = 503, description = "The load failed; the message says why", body = ErrorResponse),
    ),
)]
pub async fn load_model(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ModelStatus>, ApiError> {
    Ok(Json(state.service.load(&name).await?))
}

/// `DELETE /models/{name}`: unloads a model; its cached predictions stay valid.
#[utoipa::path(
    delete, path = "/models/{name}", tag = "models",
    params(("name" = String, Path, description = "A configured model name")),
    responses(
        (status = 200, description = "The model is unloaded", body = ModelStatus),
        (status = 401, description = "Missing or wrong admin key", body = ErrorResponse),
        (status = 404, description = "Unknown model", body = ErrorResponse),
    ),
)]
pub async fn unload_model(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ModelStatus>, ApiError> {
    Ok(Json(state.service.unload(&name).await?))
}

/// `GET /cache`.
#[utoipa::path(
    get, path = "/cache", tag = "cache",
    responses(
        (status = 200, description = "Sizes and counters, per tier", body = CacheStats),
        (status = 401, description = "Missing or wrong API key", body = ErrorResponse),
    ),
)]
pub async fn cache_stats(State(state): State<AppState>) -> Json<CacheStats> {
    Json(state.service.cache_stats().await)
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
    Ok(Json(state.service.clear_cache(query.model.as_deref()).await?))
}

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
    (code, Json(readiness))
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

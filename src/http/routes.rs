//! Route handlers: thin adapters from JSON to [`Service`](crate::service::Service) and
//! the registry.

use std::collections::BTreeMap;

use axum::extract::{Path, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::ApiError;
use super::extract::{JsonBody, QueryParams};
use super::AppState;
use crate::cache::{CacheStats, TierClear};
use crate::registry::{ModelState, ModelStatus};
use crate::service::Analysis;

/// Body of `POST /analyze`: exactly one of `text` and `texts`.
#[derive(Debug, Deserialize)]
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
            StatusCode::PAYLOAD_TOO_LARGE,
            "batch_too_large",
            format!("{} texts in one request; the limit is {}", texts.len(), state.limits.max_texts),
        ));
    }
    let analysis = state.service.analyze(request.model.as_deref(), &texts).await?;
    Ok(Json(analysis))
}

/// Body of `GET /models`.
#[derive(Debug, Serialize)]
pub struct ModelsResponse {
    /// The default model's name.
    pub default: String,
    /// Every configured model.
    pub models: Vec<ModelStatus>,
}

/// `GET /models`.
pub async fn list_models(State(state): State<AppState>) -> Json<ModelsResponse> {
    let registry = &state.service.registry;
    Json(ModelsResponse { default: registry.default_name().to_string(), models: registry.statuses() })
}

/// `POST /models/{name}/load`: loads (or retries) a configured model; 503 with the
/// reason when the load fails.
pub async fn load_model(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ModelStatus>, ApiError> {
    state.service.registry.load(&name).await?;
    Ok(Json(state.service.registry.status(&name)?))
}

/// `DELETE /models/{name}`: unloads a model; its cached predictions stay valid.
pub async fn unload_model(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ModelStatus>, ApiError> {
    state.service.registry.unload(&name).await?;
    Ok(Json(state.service.registry.status(&name)?))
}

/// `GET /cache`.
pub async fn cache_stats(State(state): State<AppState>) -> Json<CacheStats> {
    Json(state.service.cache.stats().await)
}

/// Query of `DELETE /cache`.
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ClearQuery {
    /// Clear only this model's entries.
    pub model: Option<String>,
}

/// Body of `DELETE /cache`.
#[derive(Debug, Serialize)]
pub struct ClearResponse {
    /// `"all"` or the model's name.
    pub cleared: String,
    /// What happened in each tier (a tier that is down says so).
    pub tiers: Vec<TierClear>,
    /// Stats after clearing.
    pub cache: CacheStats,
}

/// `DELETE /cache[?model=NAME]`: clears every tier (Redis: only this server's namespace).
pub async fn clear_cache(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ClearQuery>,
) -> Result<Json<ClearResponse>, ApiError> {
    let cache = &state.service.cache;
    if let Some(model) = &query.model {
        state.service.registry.state(model)?;
    }
    let tiers = cache.clear(query.model.as_deref()).await;
    let cleared = query.model.unwrap_or_else(|| "all".to_string());
    tracing::info!(cleared = %cleared, "prediction cache cleared");
    Ok(Json(ClearResponse { cleared, tiers, cache: cache.stats().await }))
}

/// Body of `GET /health`.
#[derive(Debug, Serialize)]
pub struct Health {
    /// `ok` when every preloaded model is loaded, else `loading` or `unavailable`.
    pub status: &'static str,
    /// State of each preloaded model.
    pub models: BTreeMap<String, ModelState>,
}

/// `GET /health`: 200 once every preloaded model is loaded; 503 before, or when one
/// failed (see `GET /models` for the reason).
pub async fn health(State(state): State<AppState>) -> (StatusCode, Json<Health>) {
    let registry = &state.service.registry;
    let models: BTreeMap<String, ModelState> =
        state.preload.iter().filter_map(|name| registry.state(name).ok().map(|s| (name.clone(), s))).collect();
    let status = if models.values().all(|s| *s == ModelState::Loaded) {
        "ok"
    } else if models.values().any(|s| *s == ModelState::Failed) {
        "unavailable"
    } else {
        "loading"
    };
    let code = if status == "ok" { StatusCode::OK } else { StatusCode::SERVICE_UNAVAILABLE };
    (code, Json(Health { status, models }))
}

/// `GET /metrics`: Prometheus text format.
pub async fn metrics(State(state): State<AppState>) -> Response {
    state.metrics.run_upkeep();
    ([(header::CONTENT_TYPE, "text/plain; version=0.0.4")], state.metrics.render()).into_response()
}

//! Route handlers: thin adapters from JSON to [`Service`](crate::service::Service).
//! Which key each needs is decided where it is registered (`super::routes`).

use axum::extract::{Path, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::{Deserialize, Serialize};

use super::error::{ApiError, ErrorKind, ErrorResponse};
use super::extract::{JsonBody, QueryParams};
use super::AppState;
use crate::cache::{CachePolicy, CacheStats};
use crate::model::{ScoreFunction, TextInput};
use crate::registry::ModelStatus;
use crate::service::{Analysis, AnalyzeOptions, ClearReport, ModelsReport, Readiness};

/// Body of `POST /analyze`: exactly one of `text` (with an optional `text_pair`) and
/// `texts`, plus transformers pipeline options. Its OpenAPI shape is
/// [`AnalyzeRequestSchema`](super::analyze_schema::AnalyzeRequestSchema).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeRequest {
    /// One text (absent, never `null`, when `texts` is given).
    #[serde(default, deserialize_with = "non_null")]
    pub text: Option<String>,
    /// The second sequence of a text pair (NLI hypothesis, passage); only with `text`.
    pub text_pair: Option<String>,
    /// Several inputs, answered in order: strings, or `{"text", "text_pair"}` objects
    /// (absent, never `null`, when `text` is given).
    #[serde(default, deserialize_with = "non_null")]
    pub texts: Option<Vec<AnalyzeInput>>,
    /// A configured model name; default model when absent.
    pub model: Option<String>,
    /// Keep only the best `k` labels in `scores`; `null` (default) keeps all.
    #[serde(default, deserialize_with = "whole_number")]
    pub top_k: Option<usize>,
    /// Overrides the model's score function, as in transformers' pipeline.
    pub function_to_apply: Option<ScoreFunction>,
    /// `true` is a synonym for `function_to_apply: "none"` (TEI's name).
    pub raw_scores: Option<bool>,
    /// `true` (default) cuts over-long inputs to the model's limit; `false` refuses
    /// them with 413 `input_too_long`.
    pub truncate: Option<bool>,
}

/// Deserializes a field that may be absent (`#[serde(default)]` makes it `None`) but
/// is never `null`.
fn non_null<'de, D: serde::Deserializer<'de>, T: Deserialize<'de>>(deserializer: D) -> Result<Option<T>, D::Error> {
    T::deserialize(deserializer).map(Some)
}

/// Deserializes an optional count that JSON may spell `3` or `3.0` (both are the
/// integer 3 to JSON Schema).
///
/// Errors: a negative, fractional or too large number.
pub(super) fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<usize>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else { return Ok(None) };
    if let Some(n) = number.as_u64() {
        return usize::try_from(n).map(Some).map_err(serde::de::Error::custom);
    }
    match number.as_f64() {
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= usize::MAX as f64 => Ok(Some(f as usize)),
        _ => Err(serde::de::Error::custom(format!("expected a non-negative integer, got {number}"))),
    }
}

/// One input of `texts`: a string, or a text pair.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum AnalyzeInput {
    /// A single text.
    Text(String),
    /// A text, optionally with its pair.
    Pair(TextPair),
}

/// A text and, optionally, its pair.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TextPair {
    /// The text (first sequence).
    pub text: String,
    /// The second sequence.
    pub text_pair: Option<String>,
}

impl From<AnalyzeInput> for TextInput {
    fn from(input: AnalyzeInput) -> Self {
        match input {
            AnalyzeInput::Text(text) => TextInput::single(text),
            AnalyzeInput::Pair(TextPair { text, text_pair: None }) => TextInput::single(text),
            AnalyzeInput::Pair(TextPair { text, text_pair: Some(pair) }) => TextInput::pair(text, pair),
        }
    }
}

/// The score function a request asks for: `function_to_apply`, or `raw_scores`.
///
/// Errors: 422 when the two disagree.
pub(super) fn score_function(
    function_to_apply: Option<ScoreFunction>,
    raw_scores: Option<bool>,
) -> Result<Option<ScoreFunction>, ApiError> {
    match (function_to_apply, raw_scores) {
        (Some(f), Some(true)) if f != ScoreFunction::None => {
            Err(ApiError::invalid("`raw_scores: true` contradicts `function_to_apply`"))
        }
        (Some(f), _) => Ok(Some(f)),
        (None, Some(true)) => Ok(Some(ScoreFunction::None)),
        (None, _) => Ok(None),
    }
}

/// The request's cache directive from `Cache-Control`: `no-store` (compute, write
/// nothing) wins over `no-cache` (compute, refresh the entry); anything else uses the
/// cache.
pub(super) fn cache_policy(headers: &HeaderMap) -> CachePolicy {
    let mut policy = CachePolicy::Use;
    for value in headers.get_all(header::CACHE_CONTROL) {
        for directive in value.to_str().unwrap_or("").split(',') {
            let directive = directive.trim();
            if directive.eq_ignore_ascii_case("no-store") {
                return CachePolicy::Bypass;
            }
            if directive.eq_ignore_ascii_case("no-cache") {
                policy = CachePolicy::Refresh;
            }
        }
    }
    policy
}

/// Refuses more inputs than `--max-texts`.
/// The request's deadline: `X-Request-Timeout-Ms` (ms, > 0), else
/// `--request-timeout-ms`, else none.
///
/// Errors: 422 for a header that is not a positive integer.
pub(super) fn deadline(state: &AppState, headers: &HeaderMap) -> Result<Option<std::time::Instant>, ApiError> {
    let timeout = match headers.get(REQUEST_TIMEOUT_HEADER) {
        Some(value) => {
            let ms = value.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()).filter(|&ms| ms > 0);
            let ms = ms.ok_or_else(|| {
                ApiError::invalid(format!("`{REQUEST_TIMEOUT_HEADER}` must be a positive integer (milliseconds)"))
            })?;
            Some(std::time::Duration::from_millis(ms))
        }
        None => state.limits.request_timeout,
    };
    Ok(timeout.map(|t| std::time::Instant::now() + t))
}

/// The header a request sets its own deadline with, ms.
pub const REQUEST_TIMEOUT_HEADER: &str = "x-request-timeout-ms";

pub(super) fn check_count(state: &AppState, count: usize) -> Result<(), ApiError> {
    if count > state.limits.max_texts {
        return Err(ApiError::new(
            ErrorKind::BatchTooLarge,
            format!("{count} texts in one request; the limit is {}", state.limits.max_texts),
        ));
    }
    Ok(())
}

/// `POST /analyze`.
#[utoipa::path(
    post, path = "/analyze", tag = "inference", request_body = super::analyze_schema::AnalyzeRequestSchema,
    description = "Classifies one input or several. A request may set its own deadline with the `X-Request-Timeout-Ms` header (ms; default `--request-timeout-ms`): past it the answer is 503 `timeout` and its queued texts are dropped unrun.",
    params(("Cache-Control" = Option<String>, Header, description = "`no-cache`: recompute and refresh the cached entry; `no-store`: recompute and cache nothing")),
    responses(
        (status = 200, description = "One result per input, in input order", body = Analysis),
        (status = 400, description = "Malformed JSON", body = ErrorResponse),
        (status = 401, description = "Missing or wrong API key", body = ErrorResponse),
        (status = 404, description = "Unknown model", body = ErrorResponse),
        (status = 413, description = "Body or number of texts over the limit, or an over-long input with `truncate: false`", body = ErrorResponse),
        (status = 415, description = "Content type is not application/json", body = ErrorResponse),
        (status = 422, description = "Missing, extra or wrongly typed fields", body = ErrorResponse),
        (status = 429, description = "The model's inference queue is full", body = ErrorResponse),
        (status = 500, description = "Inference failed", body = ErrorResponse),
        (status = 503, description = "The model failed to load, or the request passed its deadline", body = ErrorResponse),
    ),
)]
pub async fn analyze(
    State(state): State<AppState>,
    headers: HeaderMap,
    JsonBody(request): JsonBody<AnalyzeRequest>,
) -> Result<Json<Analysis>, ApiError> {
    let inputs: Vec<TextInput> = match (request.text, request.texts) {
        (Some(_), Some(_)) => return Err(ApiError::invalid("give either `text` or `texts`, not both")),
        (None, None) => {
            return Err(ApiError::invalid("missing field `text` (a string) or `texts` (a list of strings)"))
        }
        (Some(text), None) => vec![match request.text_pair {
            Some(pair) => TextInput::pair(text, pair),
            None => TextInput::single(text),
        }],
        (None, Some(_)) if request.text_pair.is_some() => {
            return Err(ApiError::invalid(
                "`text_pair` goes with `text`; in `texts`, give {\"text\", \"text_pair\"} objects",
            ))
        }
        (None, Some(texts)) if texts.is_empty() => return Err(ApiError::invalid("`texts` is empty")),
        (None, Some(texts)) => texts.into_iter().map(TextInput::from).collect(),
    };
    check_count(&state, inputs.len())?;
    if request.top_k == Some(0) {
        return Err(ApiError::invalid("`top_k` must be at least 1 (or null for all labels)"));
    }
    let options = AnalyzeOptions {
        top_k: request.top_k,
        function: score_function(request.function_to_apply, request.raw_scores)?,
        truncate: request.truncate.unwrap_or(true),
        cache: cache_policy(&headers),
        deadline: deadline(&state, &headers)?,
    };
    let analysis = state.service.analyze(request.model.as_deref(), &inputs, &options).await?;
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

/// `POST /models/{name}/reload`: loads the model's weights again from its sources
/// beside the serving ones and swaps them in atomically (no gap, no error for
/// requests); a failed reload keeps the old weights serving.
#[utoipa::path(
    post, path = "/models/{name}/reload", tag = "models",
    params(("name" = String, Path, description = "A configured model name")),
    responses(
        (status = 200, description = "The new weights serve (a model that was not loaded is loaded)", body = ModelStatus),
        (status = 401, description = "Missing or wrong admin key", body = ErrorResponse),
        (status = 404, description = "Unknown model", body = ErrorResponse),
        (status = 503, description = "The reload failed (the previous weights keep serving) or the load failed", body = ErrorResponse),
    ),
)]
pub async fn reload_model(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ModelStatus>, ApiError> {
    Ok(Json(state.service.reload(&name).await?))
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

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn top_k_takes_integers_however_json_spells_them() {
        let parse = |body: &str| serde_json::from_str::<AnalyzeRequest>(body).map(|r| r.top_k);
        assert_eq!(parse(r#"{"text": "x", "top_k": 3}"#).unwrap(), Some(3));
        assert_eq!(parse(r#"{"text": "x", "top_k": 3.0}"#).unwrap(), Some(3));
        assert_eq!(parse(r#"{"text": "x", "top_k": null}"#).unwrap(), None);
        assert_eq!(parse(r#"{"text": "x"}"#).unwrap(), None);
        for bad in [r#"{"top_k": 2.5}"#, r#"{"top_k": -1}"#, r#"{"top_k": "3"}"#] {
            assert!(parse(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn text_and_texts_may_be_absent_but_never_null() {
        assert!(serde_json::from_str::<AnalyzeRequest>(r#"{"text": null, "texts": ["a"]}"#).is_err());
        assert!(serde_json::from_str::<AnalyzeRequest>(r#"{"text": "a", "texts": null}"#).is_err());
        assert!(serde_json::from_str::<AnalyzeRequest>(r#"{"texts": ["a"]}"#).is_ok());
    }
}

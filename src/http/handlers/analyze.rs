//! `POST /analyze`: sentiserve's own inference route.

use axum::extract::State;

use crate::http::error::{ApiError, ErrorResponse};
use crate::http::extract::JsonWithHeaders;
use crate::http::json::JsonAnswer;
use crate::http::request::analyze::AnalyzeRequest;
use crate::http::request::{prepare, Prepared};
use crate::http::state::AppState;
use crate::http::wire::Analysis;

/// `POST /analyze`.
#[utoipa::path(
    post, path = "/analyze", tag = "inference", request_body = AnalyzeRequest,
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
    JsonWithHeaders { headers, body: mut request }: JsonWithHeaders<AnalyzeRequest>,
) -> Result<JsonAnswer<Analysis>, ApiError> {
    let inputs = request.inputs()?;
    let Prepared { inputs, options } = prepare(&state.limits, &headers, inputs, request.options)?;
    let analysis = state.service.analyze(request.model.as_deref(), &inputs, &options).await?;
    Ok(JsonAnswer(analysis.into()))
}

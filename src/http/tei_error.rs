//! TEI's error shape on TEI's routes (`/predict`, `/rerank`, `/info`, `/tokenize`,
//! `/decode`): `{"error": "...", "error_type": "Validation"}`, as text-embeddings-inference
//! answers (its `ErrorResponse`, v1.9.3), so scripts written for TEI read our errors.
//! The status stays sentiserve's (documented per route); the body is rewritten by a
//! layer from the [`ApiError`] every error response carries, so extractor, key-check
//! and handler errors all get the shape. The same layer reads a body sent without a
//! `Content-Type` as JSON (TEI's document names no 415 answer).

use axum::extract::Request;
use axum::http::header;
use axum::middleware::Next;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use super::error::{ApiError, ErrorKind};

/// TEI's `ErrorType`, serialized as TEI does (the variant name).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
pub enum TeiErrorType {
    /// The model is not available (failed load, deadline, reload).
    Unhealthy,
    /// Inference failed, or the model cannot serve the route (not a re-ranker).
    Backend,
    /// The inference queue is full.
    Overloaded,
    /// The request is invalid (shape, size, limits, keys).
    Validation,
    /// The tokenizer failed.
    Tokenizer,
    /// An empty batch.
    Empty,
}

impl From<ErrorKind> for TeiErrorType {
    fn from(kind: ErrorKind) -> Self {
        match kind {
            ErrorKind::EmptyBatch => Self::Empty,
            ErrorKind::TokenizerError => Self::Tokenizer,
            ErrorKind::Overloaded => Self::Overloaded,
            ErrorKind::ModelUnavailable | ErrorKind::ReloadFailed | ErrorKind::Timeout => Self::Unhealthy,
            ErrorKind::InferenceError | ErrorKind::Internal | ErrorKind::NotAReranker => Self::Backend,
            ErrorKind::InvalidJson
            | ErrorKind::InvalidQuery
            | ErrorKind::InvalidBody
            | ErrorKind::MalformedHead
            | ErrorKind::UriTooLong
            | ErrorKind::InvalidRequest
            | ErrorKind::NotNli
            | ErrorKind::Unauthorized
            | ErrorKind::ModelNotFound
            | ErrorKind::NotFound
            | ErrorKind::MethodNotAllowed
            | ErrorKind::RequestTimeout
            | ErrorKind::PayloadTooLarge
            | ErrorKind::BatchTooLarge
            | ErrorKind::InputTooLong
            | ErrorKind::UnsupportedMediaType
            | ErrorKind::HeadersTooLarge => Self::Validation,
        }
    }
}

/// TEI's error body.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct TeiErrorResponse {
    /// Human-readable explanation.
    pub error: String,
    /// Machine-readable kind.
    pub error_type: TeiErrorType,
}

impl From<&ApiError> for TeiErrorResponse {
    fn from(error: &ApiError) -> Self {
        Self { error: error.message.clone(), error_type: error.kind.into() }
    }
}

/// Middleware for TEI's routes: an error response is answered with the same status
/// and headers (`Retry-After`, request id) and TEI's body. A body sent without any
/// `Content-Type` is read as JSON (a declared other type is still 415).
pub async fn answer_as_tei(mut request: Request, next: Next) -> Response {
    if !request.headers().contains_key(header::CONTENT_TYPE) {
        request.headers_mut().insert(header::CONTENT_TYPE, header::HeaderValue::from_static("application/json"));
    }
    let response = next.run(request).await;
    let Some(error) = response.extensions().get::<ApiError>() else {
        return response;
    };
    let body = Json(TeiErrorResponse::from(error)).into_response();
    let (mut parts, _) = response.into_parts();
    let (body_parts, body) = body.into_parts();
    parts.headers.remove(header::CONTENT_LENGTH);
    if let Some(content_type) = body_parts.headers.get(header::CONTENT_TYPE) {
        parts.headers.insert(header::CONTENT_TYPE, content_type.clone());
    }
    Response::from_parts(parts, body)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn kinds_map_to_teis_types_and_serialize_as_tei_does() {
        let cases = [
            (ErrorKind::EmptyBatch, "Empty"),
            (ErrorKind::BatchTooLarge, "Validation"),
            (ErrorKind::InvalidRequest, "Validation"),
            (ErrorKind::InputTooLong, "Validation"),
            (ErrorKind::Overloaded, "Overloaded"),
            (ErrorKind::NotAReranker, "Backend"),
            (ErrorKind::InferenceError, "Backend"),
            (ErrorKind::ModelUnavailable, "Unhealthy"),
        ];
        for (kind, name) in cases {
            let body = TeiErrorResponse::from(&ApiError::new(kind, "why"));
            let json = serde_json::to_value(&body).unwrap();
            assert_eq!(json, serde_json::json!({"error": "why", "error_type": name}), "{kind:?}");
        }
    }
}

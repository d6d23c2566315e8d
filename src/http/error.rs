//! One error type for every route: an [`ErrorKind`] (which fixes the status) and a
//! message, serialized as [`ErrorResponse`] `{"error": {"type": "...", "message": "..."}}`.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::batch::BatchError;
use crate::registry::RegistryError;
use crate::service::ServiceError;

/// Machine-readable error kinds; each has one HTTP status.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "snake_case")]
pub enum ErrorKind {
    /// 400: the body is not valid JSON.
    InvalidJson,
    /// 400: the query string does not parse.
    InvalidQuery,
    /// 400: the body could not be read.
    InvalidBody,
    /// 400: the request head does not parse (request line, `Content-Length`, a header
    /// with a control character); answered before any route.
    MalformedHead,
    /// 414: the request target is too long; answered before any route.
    UriTooLong,
    /// 422: the JSON parsed but a field is missing, extra or invalid.
    InvalidRequest,
    /// 422: the tokenizer could not encode an input.
    TokenizerError,
    /// 424 (TEI's status): `/rerank` on a model that is not a cross-encoder (more
    /// than one label).
    NotAReranker,
    /// 400 (TEI's status): an empty batch on a TEI route (`inputs: []`, `texts: []`,
    /// `ids: []`).
    EmptyBatch,
    /// 409: zero-shot classification on a model that is not an NLI model.
    NotNli,
    /// 401: a key is missing or wrong.
    Unauthorized,
    /// 404: the model is not configured.
    ModelNotFound,
    /// 404: no route serves the path.
    NotFound,
    /// 405: the route does not accept the method.
    MethodNotAllowed,
    /// 408: the whole body did not arrive within `--body-read-timeout-ms`.
    RequestTimeout,
    /// 413: the body is (or its `Content-Length` says it is) over `--max-body-bytes`.
    PayloadTooLarge,
    /// 413: more texts than `--max-texts`.
    BatchTooLarge,
    /// 413: an input over the model's token limit with `truncate: false`.
    InputTooLong,
    /// 415: the body is not `application/json`.
    UnsupportedMediaType,
    /// 431: the request head is over `--max-header-bytes`.
    HeadersTooLarge,
    /// 429: the model's inference queue is full.
    Overloaded,
    /// 500: inference failed.
    InferenceError,
    /// 503: the model failed to load or was unloaded mid-request.
    ModelUnavailable,
    /// 503: a reload failed; the previous weights keep serving.
    ReloadFailed,
    /// 503: the request passed its deadline (`--request-timeout-ms`,
    /// `X-Request-Timeout-Ms`).
    Timeout,
    /// 500: an unexpected failure (a caught panic).
    Internal,
}

impl ErrorKind {
    /// The HTTP status of this kind.
    pub fn status(self) -> StatusCode {
        match self {
            Self::InvalidJson | Self::InvalidQuery | Self::InvalidBody | Self::MalformedHead | Self::EmptyBatch => {
                StatusCode::BAD_REQUEST
            }
            Self::NotAReranker => StatusCode::FAILED_DEPENDENCY,
            Self::NotNli => StatusCode::CONFLICT,
            Self::UriTooLong => StatusCode::URI_TOO_LONG,
            Self::InvalidRequest | Self::TokenizerError => StatusCode::UNPROCESSABLE_ENTITY,
            Self::Unauthorized => StatusCode::UNAUTHORIZED,
            Self::ModelNotFound | Self::NotFound => StatusCode::NOT_FOUND,
            Self::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            Self::RequestTimeout => StatusCode::REQUEST_TIMEOUT,
            Self::PayloadTooLarge | Self::BatchTooLarge | Self::InputTooLong => StatusCode::PAYLOAD_TOO_LARGE,
            Self::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            Self::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            Self::Overloaded => StatusCode::TOO_MANY_REQUESTS,
            Self::InferenceError | Self::Internal => StatusCode::INTERNAL_SERVER_ERROR,
            Self::ModelUnavailable | Self::ReloadFailed | Self::Timeout => StatusCode::SERVICE_UNAVAILABLE,
        }
    }
}

/// An HTTP error response.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// What went wrong (fixes the status).
    pub kind: ErrorKind,
    /// Human-readable explanation.
    pub message: String,
}

impl ApiError {
    /// Builds an error.
    pub fn new(kind: ErrorKind, message: impl Into<String>) -> Self {
        Self { kind, message: message.into() }
    }

    /// 422: the JSON parsed but a field is invalid.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(ErrorKind::InvalidRequest, message)
    }

    /// 404 for a path no route serves.
    pub fn no_route() -> Self {
        Self::new(ErrorKind::NotFound, "no such route; see GET /openapi.json or the README")
    }

    /// 405 for a known path with the wrong method.
    pub fn method_not_allowed() -> Self {
        Self::new(ErrorKind::MethodNotAllowed, "this route does not accept that method")
    }
}

/// The body of every error response.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// Kind and explanation of an error.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable kind.
    #[serde(rename = "type")]
    pub kind: ErrorKind,
    /// Human-readable explanation.
    pub message: String,
}

/// Seconds a client should wait before retrying a 429 or a 503 (`Retry-After`).
pub const RETRY_AFTER_SECS: u32 = 1;

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        // The error rides along, so a layer can answer it in another server's shape
        // (TEI's routes: `super::tei_error`) without parsing the body.
        let carried = self.clone();
        let body = ErrorResponse { error: ErrorDetail { kind: self.kind, message: self.message } };
        let mut response = (self.kind.status(), Json(body)).into_response();
        response.extensions_mut().insert(carried);
        if matches!(self.kind, ErrorKind::Overloaded | ErrorKind::ModelUnavailable | ErrorKind::Timeout) {
            response.headers_mut().insert(header::RETRY_AFTER, header::HeaderValue::from(RETRY_AFTER_SECS));
        }
        response
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        let kind = match e {
            RegistryError::UnknownModel { .. } => ErrorKind::ModelNotFound,
            RegistryError::LoadFailed { .. } => ErrorKind::ModelUnavailable,
            RegistryError::ReloadFailed { .. } => ErrorKind::ReloadFailed,
        };
        Self::new(kind, e.to_string())
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        let kind = match &e {
            ServiceError::Registry(e) => return e.clone().into(),
            ServiceError::Overloaded { .. } => ErrorKind::Overloaded,
            ServiceError::Inference { source: BatchError::Stopped, .. } => ErrorKind::ModelUnavailable,
            ServiceError::Inference { .. } => ErrorKind::InferenceError,
            ServiceError::Tokenizer { .. } => ErrorKind::TokenizerError,
            ServiceError::InputTooLong { .. } => ErrorKind::InputTooLong,
            ServiceError::ExceedsQueue { .. } => ErrorKind::BatchTooLarge,
            ServiceError::Timeout { .. } => ErrorKind::Timeout,
            ServiceError::NotNli { .. } => ErrorKind::NotNli,
        };
        Self::new(kind, e.to_string())
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let kind = match &rejection {
            JsonRejection::JsonDataError(_) => ErrorKind::InvalidRequest,
            JsonRejection::JsonSyntaxError(_) => ErrorKind::InvalidJson,
            JsonRejection::MissingJsonContentType(_) => ErrorKind::UnsupportedMediaType,
            _ if is_body_timeout(&rejection) => ErrorKind::RequestTimeout,
            _ if rejection.status() == StatusCode::PAYLOAD_TOO_LARGE => ErrorKind::PayloadTooLarge,
            _ => ErrorKind::InvalidBody,
        };
        Self::new(kind, rejection.body_text())
    }
}

/// Whether a body rejection was caused by the body read timeout.
fn is_body_timeout(rejection: &JsonRejection) -> bool {
    let mut source: Option<&(dyn std::error::Error + 'static)> = Some(rejection);
    while let Some(error) = source {
        if error.is::<super::body::BodyReadTimeout>() {
            return true;
        }
        source = error.source();
    }
    false
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::new(ErrorKind::InvalidQuery, rejection.body_text())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_kind_serializes_to_its_documented_name_and_status() {
        let cases = [
            (ErrorKind::InvalidJson, "invalid_json", 400),
            (ErrorKind::InvalidBody, "invalid_body", 400),
            (ErrorKind::MalformedHead, "malformed_head", 400),
            (ErrorKind::NotAReranker, "not_a_reranker", 424),
            (ErrorKind::EmptyBatch, "empty_batch", 400),
            (ErrorKind::NotNli, "not_nli", 409),
            (ErrorKind::UriTooLong, "uri_too_long", 414),
            (ErrorKind::InvalidRequest, "invalid_request", 422),
            (ErrorKind::TokenizerError, "tokenizer_error", 422),
            (ErrorKind::ModelNotFound, "model_not_found", 404),
            (ErrorKind::BatchTooLarge, "batch_too_large", 413),
            (ErrorKind::InputTooLong, "input_too_long", 413),
            (ErrorKind::RequestTimeout, "request_timeout", 408),
            (ErrorKind::HeadersTooLarge, "headers_too_large", 431),
            (ErrorKind::Overloaded, "overloaded", 429),
            (ErrorKind::ModelUnavailable, "model_unavailable", 503),
            (ErrorKind::ReloadFailed, "reload_failed", 503),
            (ErrorKind::Timeout, "timeout", 503),
        ];
        for (kind, name, status) in cases {
            assert_eq!(serde_json::to_value(kind).unwrap(), name);
            assert_eq!(kind.status().as_u16(), status, "{name}");
        }
    }
}

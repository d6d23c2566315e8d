//! One error type for every route: a status code and a JSON body
//! `{"error": {"type": "...", "message": "..."}}`.

use axum::extract::rejection::{JsonRejection, QueryRejection};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;

use crate::registry::RegistryError;
use crate::service::ServiceError;

/// An HTTP error response.
#[derive(Debug, Clone)]
pub struct ApiError {
    /// Response status.
    pub status: StatusCode,
    /// Machine-readable kind, e.g. `invalid_request`.
    pub kind: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

impl ApiError {
    /// Builds an error.
    pub fn new(status: StatusCode, kind: &'static str, message: impl Into<String>) -> Self {
        Self { status, kind, message: message.into() }
    }

    /// 422: the JSON parsed but a field is invalid.
    pub fn invalid(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_request", message)
    }

    /// 404 for a path no route serves.
    pub fn no_route() -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", "no such route; see GET /openapi.json or the README")
    }

    /// 405 for a known path with the wrong method.
    pub fn method_not_allowed() -> Self {
        Self::new(StatusCode::METHOD_NOT_ALLOWED, "method_not_allowed", "this route does not accept that method")
    }
}

/// The body of every error response (for the OpenAPI document).
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorResponse {
    /// What went wrong.
    pub error: ErrorDetail,
}

/// Kind and explanation of an error.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ErrorDetail {
    /// Machine-readable kind: `invalid_json`, `invalid_query`, `invalid_request`,
    /// `unauthorized`, `model_not_found`, `not_found`, `method_not_allowed`,
    /// `payload_too_large`, `batch_too_large`, `unsupported_media_type`, `overloaded`,
    /// `inference_error`, `model_unavailable`, `internal`.
    #[serde(rename = "type")]
    pub kind: String,
    /// Human-readable explanation.
    pub message: String,
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let body = serde_json::json!({ "error": { "type": self.kind, "message": self.message } });
        (self.status, Json(body)).into_response()
    }
}

impl From<RegistryError> for ApiError {
    fn from(e: RegistryError) -> Self {
        match e {
            RegistryError::UnknownModel { .. } => Self::new(StatusCode::NOT_FOUND, "model_not_found", e.to_string()),
            RegistryError::LoadFailed { .. } => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "model_unavailable", e.to_string())
            }
        }
    }
}

impl From<ServiceError> for ApiError {
    fn from(e: ServiceError) -> Self {
        match e {
            ServiceError::Registry(e) => e.into(),
            ServiceError::Overloaded { .. } => Self::new(StatusCode::TOO_MANY_REQUESTS, "overloaded", e.to_string()),
            ServiceError::Inference { source: crate::batch::BatchError::Stopped, .. } => {
                Self::new(StatusCode::SERVICE_UNAVAILABLE, "model_unavailable", e.to_string())
            }
            ServiceError::Inference { .. } => {
                Self::new(StatusCode::INTERNAL_SERVER_ERROR, "inference_error", e.to_string())
            }
        }
    }
}

impl From<JsonRejection> for ApiError {
    fn from(rejection: JsonRejection) -> Self {
        let status = rejection.status();
        let kind = match &rejection {
            JsonRejection::JsonDataError(_) => "invalid_request",
            JsonRejection::JsonSyntaxError(_) => "invalid_json",
            JsonRejection::MissingJsonContentType(_) => "unsupported_media_type",
            _ if status == StatusCode::PAYLOAD_TOO_LARGE => "payload_too_large",
            _ => "invalid_body",
        };
        Self::new(status, kind, rejection.body_text())
    }
}

impl From<QueryRejection> for ApiError {
    fn from(rejection: QueryRejection) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "invalid_query", rejection.body_text())
    }
}

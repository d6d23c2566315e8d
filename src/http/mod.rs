//! The HTTP API (axum): routes, JSON errors, limits, API keys, request ids, CORS and
//! metrics. It knows nothing of tensors; everything goes through [`Service`].

pub mod auth;
pub mod compat;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod openapi;
pub mod routes;
pub mod ui;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::{Extension, Router};
use metrics_exporter_prometheus::PrometheusHandle;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::{DefaultOnResponse, TraceLayer};
use tower_http::LatencyUnit;

use crate::config::{HttpConfig, Limits};
use crate::service::Service;
use error::{ApiError, ErrorKind};

/// Shared state of every handler. Cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The request path.
    pub service: Service,
    /// Request limits.
    pub limits: Arc<Limits>,
    /// Renders `/metrics`.
    pub metrics: PrometheusHandle,
}

/// The `x-request-id` header: taken from the request when present, else a new UUID;
/// echoed on the response and attached to the request's log line.
const REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// Builds the router with every route and layer.
pub fn router(state: AppState, http: &HttpConfig) -> Router {
    let max_body = state.limits.max_body_bytes;
    let keys = Arc::new(auth::Keys::new(http.api_key.as_deref(), http.admin_key.as_deref()));
    let (router, document) = routes::table(keys).split_for_parts();
    let document = openapi::Document(Arc::new(serde_json::to_string(&document).unwrap_or_default()));
    // Swagger UI at /docs, bundled into the binary (utoipa-swagger-ui's `vendored`
    // feature), reading the same /openapi.json.
    let swagger: Router<AppState> =
        utoipa_swagger_ui::SwaggerUi::new("/docs").config(utoipa_swagger_ui::Config::new(["/openapi.json"])).into();
    let router: Router<AppState> = router
        .merge(swagger)
        .route_layer(axum::middleware::from_fn(crate::telemetry::track))
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .fallback(|| async { ApiError::no_route() })
        .layer(DefaultBodyLimit::max(max_body))
        .layer(Extension(document))
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::new(ErrorKind::Internal, "internal error"))
        }))
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<axum::body::Body>| {
                    let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path())
                })
                .on_request(())
                .on_failure(())
                .on_response(DefaultOnResponse::new().level(tracing::Level::INFO).latency_unit(LatencyUnit::Micros)),
        )
        .layer(SetRequestIdLayer::new(REQUEST_ID, MakeRequestUuid));
    let router = match cors(&http.cors_origins) {
        Some(layer) => router.layer(layer),
        None => router,
    };
    router.with_state(state)
}

/// CORS for the configured origins (`*` for any); `None` when none is configured.
fn cors(origins: &[HeaderValue]) -> Option<CorsLayer> {
    if origins.is_empty() {
        return None;
    }
    let allow =
        if origins.iter().any(|o| o == "*") { AllowOrigin::any() } else { AllowOrigin::list(origins.iter().cloned()) };
    Some(
        CorsLayer::new()
            .allow_origin(allow)
            .allow_methods([Method::GET, Method::POST, Method::DELETE])
            .allow_headers([header::CONTENT_TYPE, header::AUTHORIZATION, HeaderName::from_static("x-api-key")])
            .expose_headers([REQUEST_ID])
            .max_age(Duration::from_secs(3600)),
    )
}

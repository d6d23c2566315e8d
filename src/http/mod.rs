//! The HTTP API (axum): routes, JSON errors, limits, API keys, request ids, CORS and
//! metrics. It knows nothing of tensors; everything goes through [`Service`].

pub mod auth;
pub mod body;
pub mod compat;
pub mod error;
pub mod extract;
pub mod handlers;
pub mod head_errors;
pub mod hf_inference;
pub mod listener;
pub mod openapi;
pub mod request;
pub mod request_id;
pub mod rerank;
pub mod routes;
pub mod state;
pub mod tei_error;
pub mod tokenize;
pub mod ui;
pub mod wire;
pub mod zero_shot;

use std::sync::Arc;
use std::time::Duration;

use axum::extract::DefaultBodyLimit;
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::{Extension, Router};
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::cors::{AllowOrigin, CorsLayer};
use tower_http::request_id::{PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::trace::TraceLayer;

use crate::config::{ConnectionLimits, HttpConfig};
use error::{ApiError, ErrorKind};
pub use state::AppState;

pub use request_id::{MAX_REQUEST_ID_BYTES, REQUEST_ID};

/// Builds the router with every route and layer.
pub fn router(state: AppState, http: &HttpConfig, connections: &ConnectionLimits) -> Router {
    let max_body = state.limits.max_body_bytes;
    let keys = Arc::new(auth::Keys::new(
        http.api_key.as_ref().map(crate::config::Secret::expose),
        http.admin_key.as_ref().map(crate::config::Secret::expose),
    ));
    let (router, document) = routes::table(keys).split_for_parts();
    let document = openapi::Document(Arc::new(serde_json::to_string(&document).unwrap_or_default()));
    // Swagger UI at /docs, bundled into the binary (utoipa-swagger-ui's `vendored`
    // feature), reading the same /openapi.json.
    let swagger: Router<AppState> =
        utoipa_swagger_ui::SwaggerUi::new("/docs").config(utoipa_swagger_ui::Config::new(["/openapi.json"])).into();
    let routed: Router = router
        .merge(swagger)
        // Inside request ids, tracing and metrics (a 413 for a declared length is
        // logged and counted like any answer), outside the keys (it needs none).
        .route_layer(axum::middleware::from_fn_with_state(
            body::BodyLimits { max_bytes: max_body, read_timeout: connections.body_read_timeout },
            body::limit,
        ))
        .route_layer(axum::middleware::from_fn(crate::telemetry::track))
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .fallback(|| async { ApiError::no_route() })
        .with_state(state);
    // The layers every request passes, outermost first, around the routed router as
    // one service: a layer added with `Router::layer` wraps every route, and axum
    // clones a route's whole stack on each request.
    let stack = tower::ServiceBuilder::new()
        .option_layer(cors(&http.cors_origins))
        .layer(axum::middleware::from_fn_with_state(connections.max_header_bytes, limit_head))
        .layer(axum::middleware::map_request(request_id::sanitize))
        .layer(SetRequestIdLayer::new(REQUEST_ID, request_id::RequestUuids::default()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(|req: &axum::http::Request<axum::body::Body>| {
                    let id = req.headers().get(REQUEST_ID).and_then(|v| v.to_str().ok()).unwrap_or("-");
                    tracing::info_span!("request", id = %id, method = %req.method(), path = %req.uri().path())
                })
                .on_request(())
                .on_failure(())
                // Integer fields: cheaper to format than tower-http's default line
                // (`latency=412 μs`), which the hit path paid on every request.
                .on_response(log_response),
        )
        .layer(PropagateRequestIdLayer::new(REQUEST_ID))
        .layer(CatchPanicLayer::custom(|_| {
            axum::response::IntoResponse::into_response(ApiError::new(ErrorKind::Internal, "internal error"))
        }))
        .layer(Extension(document))
        .layer(DefaultBodyLimit::max(max_body))
        .service(routed);
    Router::new().fallback_service(stack)
}

/// The request's log line, inside its span (id, method, path): status and latency in
/// µs as integers, cheaper to format than tower-http's default line (`latency=412
/// μs`), which the cache-hit path paid on every request.
fn log_response<B>(res: &axum::http::Response<B>, latency: std::time::Duration, _: &tracing::Span) {
    tracing::info!(
        status = res.status().as_u16(),
        latency_us = latency.as_micros() as u64,
        "finished processing request"
    );
}

/// 431 with the JSON error shape for a request head over `max_header_bytes` (hyper
/// itself only refuses heads over twice that, with an empty body).
async fn limit_head(
    axum::extract::State(max_header_bytes): axum::extract::State<usize>,
    req: axum::extract::Request,
    next: axum::middleware::Next,
) -> axum::response::Response {
    let uri = req.uri();
    let uri_bytes = uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |p| p.as_str().len());
    let head: usize =
        uri_bytes + req.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum::<usize>();
    if head > max_header_bytes {
        return axum::response::IntoResponse::into_response(ApiError::new(
            ErrorKind::HeadersTooLarge,
            format!("the request head is {head} bytes; the limit is {max_header_bytes} (--max-header-bytes)"),
        ));
    }
    next.run(req).await
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

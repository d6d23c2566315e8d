//! The HTTP API (axum): routes, JSON errors, limits, API keys, request ids, CORS and
//! metrics. It knows nothing of tensors; everything goes through [`Service`].

pub mod answer;
pub mod auth;
pub mod body;
pub mod compat;
pub mod edge;
pub mod error;
pub mod extract;
pub mod guard;
pub mod handlers;
pub mod head_deadline;
pub mod head_errors;
pub mod hf_inference;
pub mod hot;
pub mod json;
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

use std::convert::Infallible;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request};
use axum::http::{header, HeaderName, HeaderValue, Method};
use axum::response::Response;
use axum::{Extension, Router};
use tower::Service;
use tower_http::cors::{AllowOrigin, CorsLayer};

use crate::config::{ConnectionLimits, HttpConfig};
use error::ApiError;
pub use state::AppState;

pub use request_id::{MAX_REQUEST_ID_BYTES, REQUEST_ID};

/// What [`router`] returns: the whole HTTP application as one cloneable tower service
/// over axum's [`Request`] (the listener and in-process tests both drive it).
pub trait HttpService:
    Service<Request, Response = Response, Error = Infallible, Future: Send + 'static> + Clone + Send + Sync + 'static
{
}

impl<T> HttpService for T where
    T: Service<Request, Response = Response, Error = Infallible, Future: Send + 'static>
        + Clone
        + Send
        + Sync
        + 'static
{
}

/// Builds the application: every route, and the layers every request passes.
pub fn router(state: AppState, http: &HttpConfig, connections: &ConnectionLimits) -> impl HttpService {
    let max_body = state.limits.max_body_bytes;
    let keys = Arc::new(auth::Keys::new(
        http.api_key.as_ref().map(crate::config::Secret::expose),
        http.admin_key.as_ref().map(crate::config::Secret::expose),
    ));
    let body = body::BodyLimits { max_bytes: max_body, read_timeout: connections.body_read_timeout };
    let hot_guard = guard::GuardLayer {
        keys: Arc::clone(&keys),
        access: auth::Access::Inference,
        body,
        route: Some(hot::HOT_PATH),
    };
    let (router, document) = routes::table(Arc::clone(&keys), body).split_for_parts();
    let document = openapi::Document(Arc::new(serde_json::to_string(&document).unwrap_or_default()));
    // Swagger UI at /docs, bundled into the binary (utoipa-swagger-ui's `vendored`
    // feature), reading the same /openapi.json.
    let swagger: Router<AppState> =
        utoipa_swagger_ui::SwaggerUi::new("/docs").config(utoipa_swagger_ui::Config::new(["/openapi.json"])).into();
    let swagger = swagger.route_layer(guard::GuardLayer {
        keys: Arc::clone(&keys),
        access: auth::Access::Open,
        body,
        route: None,
    });
    let routed: Router = router
        .merge(swagger)
        .method_not_allowed_fallback(|| async { ApiError::method_not_allowed() })
        .fallback(|| async { ApiError::no_route() })
        .with_state(state.clone());
    // The layers every request passes, outermost first, around the routed router as
    // one service, served as it is: a layer added with `Router::layer` wraps every
    // route, and axum clones a route's whole stack on each request; an outer router
    // around the stack (`fallback_service`) boxed and cloned it on each request too.
    // Innermost, `POST /analyze` leaves the router for its guarded handler (`hot`).
    tower::ServiceBuilder::new()
        .option_layer(cors(&http.cors_origins))
        .layer(edge::EdgeLayer {
            max_header_bytes: connections.max_header_bytes,
            ids: request_id::RequestUuids::default(),
        })
        .layer(Extension(document))
        .layer(DefaultBodyLimit::max(max_body))
        .service(hot::hot_route(routed, state, hot_guard))
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

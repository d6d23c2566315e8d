//! The route guard: what every routed request passes once its route is known, as one
//! hand-written tower layer (in order):
//! - metrics: `sentiserve_http_requests_total{method,route,status}` and
//!   `sentiserve_http_request_duration_seconds{method,route}` ([`crate::telemetry`]),
//!   for every answer below, refusals included;
//! - body limits ([`super::body`]): a declared `Content-Length` over
//!   `--max-body-bytes` is answered 413 without reading the body, and the body is read
//!   under `--body-read-timeout-ms`;
//! - the key check for the route's [`Access`] ([`super::auth`]): 401 when the key is
//!   missing or wrong.
//!
//! One layer where there were three `from_fn` layers (metrics, body limits, keys): each
//! of those boxed its future and cloned the route's boxed service per request.

use std::convert::Infallible;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::body::Body;
use axum::extract::{MatchedPath, Request};
use axum::http::Method;
use axum::response::Response;
use tower::{Layer, Service};

use super::answer::Answer;
use super::auth::{self, Access, Keys};
use super::body::{self, BodyLimits, DeadlineBody};

/// The route guard for routes needing `access`.
#[derive(Clone)]
pub struct GuardLayer {
    /// The configured keys.
    pub keys: Arc<Keys>,
    /// What the guarded routes need.
    pub access: Access,
    /// Body size and read-time limits.
    pub body: BodyLimits,
    /// The route's metrics label when the guard stands in front of one route outside
    /// the router (`super::hot`), which sets no [`MatchedPath`]; `None` for routed
    /// requests, labelled by their [`MatchedPath`] (`unmatched` without one).
    pub route: Option<&'static str>,
}

impl<S> Layer<S> for GuardLayer {
    type Service = Guard<S>;

    fn layer(&self, inner: S) -> Guard<S> {
        Guard { inner, layer: self.clone() }
    }
}

/// The guard service around `S` (see [`GuardLayer`]).
#[derive(Clone)]
pub struct Guard<S> {
    inner: S,
    layer: GuardLayer,
}

impl<S> Service<Request> for Guard<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = Infallible;
    type Future = GuardFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> GuardFuture<S::Future> {
        let started = Instant::now();
        let method = req.method().clone();
        let route = match self.layer.route {
            Some(_) => None,
            None => req.extensions().get::<MatchedPath>().cloned(),
        };
        let access = self.layer.access;
        let refused = body::over_limit(&req, self.layer.body.max_bytes).or_else(|| match access {
            Access::Open => None,
            _ => self
                .layer
                .keys
                .check(access, auth::presented_key(req.headers()))
                .err()
                .map(|e| auth::refusal(access, e)),
        });
        let answer = match refused {
            Some(response) => Answer::Ready(Some(response)),
            None => {
                let timeout = self.layer.body.read_timeout;
                Answer::Inner(self.inner.call(req.map(|body| Body::new(DeadlineBody::new(body, timeout)))))
            }
        };
        GuardFuture { answer, started, method, route, fixed_route: self.layer.route }
    }
}

/// [`Guard`]'s response future: records the answer's metrics when it is ready (a
/// panic below included, as the 500 it is answered with).
pub struct GuardFuture<F> {
    answer: Answer<F>,
    started: Instant,
    method: Method,
    route: Option<MatchedPath>,
    fixed_route: Option<&'static str>,
}

impl<F> Future for GuardFuture<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let response = std::task::ready!(this.answer.poll_response(cx));
        let route = this.route.as_ref().map(MatchedPath::as_str).or(this.fixed_route).unwrap_or("unmatched");
        crate::telemetry::record(&this.method, route, response.status().as_u16(), this.started.elapsed().as_secs_f64());
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use axum::http::{header, StatusCode};
    use axum::routing::post;
    use axum::Router;
    use tower::ServiceExt;

    use super::*;

    /// `POST /guard-test/{n}` echoing its body's length, behind the API key `k` and a
    /// 16-byte body limit.
    fn guarded() -> Router {
        let layer = GuardLayer {
            keys: Arc::new(Keys::new(Some("k"), None)),
            access: Access::Inference,
            body: BodyLimits { max_bytes: 16, read_timeout: Duration::from_secs(5) },
            route: None,
        };
        Router::new()
            .route("/guard-test/{n}", post(|body: axum::body::Bytes| async move { body.len().to_string() }))
            .route_layer(layer)
    }

    async fn send(key: Option<&str>, body: &'static str) -> StatusCode {
        let mut req = Request::post("/guard-test/1").header(header::CONTENT_LENGTH, body.len());
        if let Some(key) = key {
            req = req.header(header::AUTHORIZATION, format!("Bearer {key}"));
        }
        guarded().oneshot(req.body(Body::from(body)).unwrap()).await.unwrap().status()
    }

    #[tokio::test]
    async fn answers_and_refusals_are_counted_by_route_and_status() {
        let metrics = crate::telemetry::prometheus();
        assert_eq!(send(Some("k"), "short").await, StatusCode::OK);
        assert_eq!(send(None, "short").await, StatusCode::UNAUTHORIZED);
        assert_eq!(send(Some("wrong"), "short").await, StatusCode::UNAUTHORIZED);
        assert_eq!(send(Some("k"), "a body over sixteen bytes").await, StatusCode::PAYLOAD_TOO_LARGE);
        assert_eq!(send(None, "a body over sixteen bytes").await, StatusCode::PAYLOAD_TOO_LARGE, "size before keys");
        let text = metrics.render();
        let count = |status: &str| {
            let prefix = format!(
                "sentiserve_http_requests_total{{method=\"POST\",route=\"/guard-test/{{n}}\",status=\"{status}\"}} "
            );
            text.lines().find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
        };
        assert_eq!(count("200").as_deref(), Some("1"), "{text}");
        assert_eq!(count("401").as_deref(), Some("2"), "{text}");
        assert_eq!(count("413").as_deref(), Some("2"), "{text}");
    }

    #[tokio::test]
    async fn a_panicking_handler_is_answered_and_counted_as_500() {
        let metrics = crate::telemetry::prometheus();
        let layer = GuardLayer {
            keys: Arc::new(Keys::default()),
            access: Access::Open,
            body: BodyLimits { max_bytes: 16, read_timeout: Duration::from_secs(5) },
            route: None,
        };
        let router = Router::new()
            .route(
                "/guard-panic",
                post(|| async {
                    if true {
                        panic!("handler bug");
                    }
                    "unreachable"
                }),
            )
            .route_layer(layer);
        let response = router.oneshot(Request::post("/guard-panic").body(Body::empty()).unwrap()).await.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        let text = metrics.render();
        let line = "sentiserve_http_requests_total{method=\"POST\",route=\"/guard-panic\",status=\"500\"} 1";
        assert!(text.lines().any(|l| l == line), "{text}");
    }
}

//! The hot route: `POST /analyze`, the route a cache hit takes, served without going
//! through axum's router.
//!
//! axum's router, per request, matches the path, stores the matched path and the URL
//! parameters in the request's extensions, and clones the route's boxed service
//! stack; on a cache hit that was as much CPU as the key check, metrics and log line
//! together (`examples/hit_inproc.rs`, `perf`). [`HotRoute`] hands exactly
//! `POST /analyze` to the same handler behind the same [`GuardLayer`] (key check, body
//! limits, metrics under the route's label) and everything else, `/analyze` with
//! another method included, to the router. The router keeps the route too: the
//! OpenAPI document is built from its table, and no request reaches it there.

use std::convert::Infallible;
use std::task::{Context, Poll};

use axum::extract::Request;
use axum::handler::Handler;
use axum::http::Method;
use axum::response::Response;
use futures::future::Either;
use tower::{Layer, Service};

use super::guard::GuardLayer;
use super::handlers::analyze;
use super::state::AppState;

/// The path served by [`HotRoute`] (`POST` only).
pub const HOT_PATH: &str = "/analyze";

/// `POST /analyze` to its guarded handler `H`, every other request to the router `R`.
#[derive(Clone)]
pub struct HotRoute<R, H> {
    router: R,
    analyze: H,
}

impl<R, H> HotRoute<R, H> {
    /// `POST /analyze` to `analyze`, the rest to `router`.
    pub fn new(router: R, analyze: H) -> Self {
        Self { router, analyze }
    }
}

/// `router` with `POST /analyze` taken off its path: to the handler with `state`,
/// behind `guard` (whose `route` should name [`HOT_PATH`]).
pub fn hot_route<R>(
    router: R,
    state: AppState,
    guard: GuardLayer,
) -> HotRoute<
    R,
    impl Service<Request, Response = Response, Error = Infallible, Future: Unpin + Send + 'static>
        + Clone
        + Send
        + Sync
        + 'static,
> {
    HotRoute::new(router, guard.layer(analyze::analyze.with_state(state)))
}

impl<R, H> Service<Request> for HotRoute<R, H>
where
    R: Service<Request, Response = Response, Error = Infallible>,
    H: Service<Request, Response = Response, Error = Infallible>,
{
    type Response = Response;
    type Error = Infallible;
    type Future = Either<H::Future, R::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        // Both are always ready (axum's router and handlers); asked anyway.
        std::task::ready!(self.router.poll_ready(cx))?;
        self.analyze.poll_ready(cx)
    }

    fn call(&mut self, req: Request) -> Self::Future {
        if req.method() == Method::POST && req.uri().path() == HOT_PATH {
            Either::Left(self.analyze.call(req))
        } else {
            Either::Right(self.router.call(req))
        }
    }
}

#[cfg(test)]
mod tests {
    use axum::body::Body;
    use tower::ServiceExt;

    use super::*;

    /// A service answering `name` as its body.
    fn named(name: &'static str) -> impl Service<Request, Response = Response, Error = Infallible> + Clone {
        tower::service_fn(move |_req: Request| async move { Ok::<_, Infallible>(Response::new(Body::from(name))) })
    }

    async fn served_by(method: Method, uri: &str) -> String {
        let route = HotRoute::new(named("router"), named("analyze"));
        let request = Request::builder().method(method).uri(uri).body(Body::empty()).unwrap();
        let response = route.oneshot(request).await.unwrap();
        String::from_utf8(axum::body::to_bytes(response.into_body(), 64).await.unwrap().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn only_post_analyze_leaves_the_router() {
        assert_eq!(served_by(Method::POST, "/analyze").await, "analyze");
        assert_eq!(served_by(Method::POST, "/analyze?model=x").await, "analyze", "a query string is not the path");
        assert_eq!(served_by(Method::POST, "http://host:8000/analyze").await, "analyze", "absolute form");
        for (method, uri) in [
            (Method::GET, "/analyze"),
            (Method::PUT, "/analyze"),
            (Method::POST, "/analyze/"),
            (Method::POST, "/Analyze"),
            (Method::POST, "/analyzer"),
            (Method::POST, "/predict"),
        ] {
            assert_eq!(served_by(method.clone(), uri).await, "router", "{method} {uri}");
        }
    }
}

//! The edge: what every request passes before routing, as one hand-written tower
//! layer (in order):
//! - a request head over `--max-header-bytes` is answered 431 with the JSON error
//!   (hyper itself refuses only heads over twice that, with an empty body);
//! - the request id: a client's sane `x-request-id` is kept, any other is replaced by
//!   a new one ([`RequestUuids`]); the id is echoed on the response;
//! - the request's log line, one event with its id, method, path, status and latency
//!   (µs, an integer). There is no per-request span: creating, entering and closing
//!   one, and formatting its fields, cost as much as the line itself, and the work a
//!   request hands to other tasks (lookups, batches) never ran inside it anyway;
//! - a panic below is caught and answered 500 with the JSON error (and logged, with
//!   its location, by the panic hook), so one bad request cannot take the connection
//!   down unanswered.
//!
//! It replaces six stacked layers (a `from_fn` head check, a `map_request`, tower-http's
//! `SetRequestId`, `Trace`, `PropagateRequestId` and `CatchPanic`): each boxed or
//! cloned something per request, and `Trace` and `CatchPanic` wrapped every response
//! body. Under a cache-hit load the
//! stack was a third of the server's own CPU per request (`examples/hit_inproc.rs`).

use std::convert::Infallible;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Instant;

use axum::extract::Request;
use axum::http::{HeaderValue, Method, Uri};
use axum::response::{IntoResponse, Response};
use tower::{Layer, Service};

use super::answer::{panicked, Answer};
use super::error::{ApiError, ErrorKind};
use super::request_id::{RequestUuids, MAX_REQUEST_ID_BYTES, REQUEST_ID};

/// The edge layer: head limit, request id, log line and panic answer.
#[derive(Clone)]
pub struct EdgeLayer {
    /// Largest request head, bytes (`--max-header-bytes`): the URI and every header
    /// line (name, value, `: ` and CRLF).
    pub max_header_bytes: usize,
    /// New request ids.
    pub ids: RequestUuids,
}

impl<S> Layer<S> for EdgeLayer {
    type Service = Edge<S>;

    fn layer(&self, inner: S) -> Edge<S> {
        Edge { inner, max_header_bytes: self.max_header_bytes, ids: self.ids.clone() }
    }
}

/// The edge service around `S` (see [`EdgeLayer`]).
#[derive(Clone)]
pub struct Edge<S> {
    inner: S,
    max_header_bytes: usize,
    ids: RequestUuids,
}

/// Whether a client's `x-request-id` is kept: 1 to [`MAX_REQUEST_ID_BYTES`] bytes of
/// visible ASCII (so ids cannot forge log lines).
pub fn acceptable_id(value: &HeaderValue) -> bool {
    let bytes = value.as_bytes();
    !bytes.is_empty() && bytes.len() <= MAX_REQUEST_ID_BYTES && bytes.iter().all(u8::is_ascii_graphic)
}

/// The size of `req`'s head as [`EdgeLayer::max_header_bytes`] counts it, bytes.
fn head_bytes(req: &Request) -> usize {
    let uri = req.uri();
    let uri_bytes = uri.scheme_str().map_or(0, |s| s.len() + 3)
        + uri.authority().map_or(0, |a| a.as_str().len())
        + uri.path_and_query().map_or(0, |p| p.as_str().len());
    uri_bytes + req.headers().iter().map(|(name, value)| name.as_str().len() + value.len() + 4).sum::<usize>()
}

impl<S> Service<Request> for Edge<S>
where
    S: Service<Request, Response = Response, Error = Infallible>,
    S::Future: Unpin,
{
    type Response = Response;
    type Error = Infallible;
    type Future = EdgeFuture<S::Future>;

    fn poll_ready(&mut self, cx: &mut Context<'_>) -> Poll<Result<(), Infallible>> {
        self.inner.poll_ready(cx)
    }

    fn call(&mut self, mut req: Request) -> EdgeFuture<S::Future> {
        let head = head_bytes(&req);
        if head > self.max_header_bytes {
            let error = ApiError::new(
                ErrorKind::HeadersTooLarge,
                format!(
                    "the request head is {head} bytes; the limit is {} (--max-header-bytes)",
                    self.max_header_bytes
                ),
            );
            return EdgeFuture { answer: Answer::Ready(Some(error.into_response())), line: None };
        }
        let id = match req.headers().get(REQUEST_ID) {
            Some(id) if acceptable_id(id) => id.clone(),
            _ => {
                let id = self.ids.header_value();
                req.headers_mut().insert(REQUEST_ID, id.clone());
                id
            }
        };
        let line = Line { started: Instant::now(), id, method: req.method().clone(), uri: req.uri().clone() };
        let answer = match catch_unwind(AssertUnwindSafe(|| self.inner.call(req))) {
            Ok(inner) => Answer::Inner(inner),
            Err(_) => Answer::Ready(Some(panicked())),
        };
        EdgeFuture { answer, line: Some(line) }
    }
}

/// What a request's log line and response carry from its start.
struct Line {
    started: Instant,
    id: HeaderValue,
    method: Method,
    uri: Uri,
}

impl Line {
    /// Echoes the id on `response` (unless the handler set one) and logs the line.
    fn finish(&self, response: &mut Response) {
        if !response.headers().contains_key(REQUEST_ID) {
            response.headers_mut().insert(REQUEST_ID, self.id.clone());
        }
        // The target the line has always had (log filters name it).
        tracing::info!(
            target: "sentiserve::http",
            id = %self.id.to_str().unwrap_or("-"),
            method = %self.method,
            path = %self.uri.path(),
            status = response.status().as_u16(),
            latency_us = self.started.elapsed().as_micros() as u64,
            "finished processing request"
        );
    }
}

/// [`Edge`]'s response future.
pub struct EdgeFuture<F> {
    answer: Answer<F>,
    /// `None` for a head refused before it got an id (431): not logged.
    line: Option<Line>,
}

impl<F> Future for EdgeFuture<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    type Output = Result<Response, Infallible>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let this = self.get_mut();
        let mut response = std::task::ready!(this.answer.poll_response(cx));
        if let Some(line) = &this.line {
            line.finish(&mut response);
        }
        Poll::Ready(Ok(response))
    }
}

#[cfg(test)]
mod tests {
    use std::sync::{Arc, Mutex};

    use axum::body::Body;
    use axum::http::StatusCode;
    use tower::ServiceExt;

    use super::*;

    /// The log lines written while `f` runs.
    async fn logged<T>(f: impl Future<Output = T>) -> (T, String) {
        #[derive(Clone, Default)]
        struct Buffer(Arc<Mutex<Vec<u8>>>);
        impl std::io::Write for Buffer {
            fn write(&mut self, bytes: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(bytes);
                Ok(bytes.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let buffer = Buffer::default();
        let writer = buffer.clone();
        let subscriber = tracing_subscriber::fmt().with_writer(move || writer.clone()).with_ansi(false).finish();
        let _default = tracing::subscriber::set_default(subscriber);
        let out = f.await;
        let text = String::from_utf8(buffer.0.lock().unwrap().clone()).unwrap();
        (out, text)
    }

    type Boxed = Pin<Box<dyn Future<Output = Result<Response, Infallible>> + Send>>;

    /// The edge (200-byte head limit) around `handler`.
    fn edge<F, Fut>(
        mut handler: F,
    ) -> Edge<impl Service<Request, Response = Response, Error = Infallible, Future = Boxed>>
    where
        F: FnMut(Request) -> Fut,
        Fut: Future<Output = Result<Response, Infallible>> + Send + 'static,
    {
        let inner = tower::service_fn(move |req| Box::pin(handler(req)) as Boxed);
        EdgeLayer { max_header_bytes: 200, ids: RequestUuids::default() }.layer(inner)
    }

    async fn ok(req: Request) -> Result<Response, Infallible> {
        let seen = req.headers().get(REQUEST_ID).cloned().unwrap_or(HeaderValue::from_static("none"));
        Ok(Response::new(Body::from(seen.as_bytes().to_vec())))
    }

    async fn body(response: Response) -> String {
        String::from_utf8(axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap().to_vec()).unwrap()
    }

    #[tokio::test]
    async fn a_sane_client_id_is_kept_echoed_and_logged_with_the_request() {
        let req = Request::post("/analyze?x=1").header(REQUEST_ID, "client-42").body(Body::empty()).unwrap();
        let (response, log) = logged(edge(ok).oneshot(req)).await;
        let response = response.unwrap();
        assert_eq!(response.headers()[REQUEST_ID], "client-42");
        assert_eq!(body(response).await, "client-42", "the handler sees the id");
        let line = log.lines().find(|l| l.contains("finished processing request")).expect(&log);
        for field in ["id=client-42", "method=POST", "path=/analyze ", "status=200", "latency_us="] {
            assert!(line.contains(field), "{field} missing: {line}");
        }
        assert!(line.contains("sentiserve::http:"), "{line}");
    }

    #[tokio::test]
    async fn an_unacceptable_client_id_is_replaced_by_a_new_one() {
        for bad in ["", "has space", &"x".repeat(MAX_REQUEST_ID_BYTES + 1)] {
            let req = Request::get("/").header(REQUEST_ID, bad).body(Body::empty()).unwrap();
            let response = edge(ok).oneshot(req).await.unwrap();
            let id = response.headers()[REQUEST_ID].clone();
            assert_ne!(id, bad, "{bad:?} kept");
            assert!(uuid::Uuid::parse_str(id.to_str().unwrap()).is_ok(), "{id:?}");
            assert_eq!(body(response).await, id.to_str().unwrap(), "the handler sees the new id");
        }
    }

    #[tokio::test]
    async fn a_panic_below_is_answered_500_with_the_id_and_logged() {
        let service = edge(|_req: Request| async move {
            if true {
                panic!("handler bug");
            }
            Ok::<Response, Infallible>(Response::new(Body::empty()))
        });
        let req = Request::get("/boom").header(REQUEST_ID, "r1").body(Body::empty()).unwrap();
        let (response, log) = logged(service.oneshot(req)).await;
        let response = response.unwrap();
        assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(response.headers()[REQUEST_ID], "r1");
        assert!(body(response).await.contains("internal error"));
        assert!(log.lines().any(|l| l.contains("id=r1") && l.contains("status=500")), "{log}");
    }

    #[tokio::test]
    async fn a_head_over_the_limit_is_answered_431_before_the_handler() {
        let service = edge(|_req: Request| async move {
            unreachable!("the handler ran");
            #[allow(unreachable_code)]
            Ok::<Response, Infallible>(Response::new(Body::empty()))
        });
        let req = Request::get("/").header("x-filler", "y".repeat(300)).body(Body::empty()).unwrap();
        let response = service.oneshot(req).await.unwrap();
        assert_eq!(response.status(), StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE);
        assert!(body(response).await.contains("--max-header-bytes"));
    }
}

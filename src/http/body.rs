//! Request-body limits, applied by the route guard (`super::guard`) before a handler
//! reads a byte:
//! - a `Content-Length` over `--max-body-bytes` is answered 413 at once, without
//!   reading the body (and so without inviting it with `100 Continue`: hyper sends
//!   that only when a body is first read);
//! - the whole body must arrive within `--body-read-timeout-ms` of its first read. A
//!   deadline, not an idle timeout: a client dripping a byte a second is cut off as
//!   surely as one that stops (the read then fails with [`BodyReadTimeout`], which
//!   the extractors answer with 408).

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use hyper::body::{Body as HttpBody, Bytes, Frame, SizeHint};
use tokio::time::{Instant, Sleep};

use super::error::{ApiError, ErrorKind};

/// The error a body read returns once the body's deadline has passed.
#[derive(Debug, Clone, Copy, thiserror::Error)]
#[error("the request body did not arrive within {} ms (--body-read-timeout-ms)", .0.as_millis())]
pub struct BodyReadTimeout(pub Duration);

/// What the route guard (`super::guard`) enforces on bodies.
#[derive(Debug, Clone, Copy)]
pub struct BodyLimits {
    /// Largest body, bytes (`--max-body-bytes`).
    pub max_bytes: usize,
    /// Most time from the first read of a body to its end (`--body-read-timeout-ms`).
    pub read_timeout: Duration,
}

/// The 413 answer for a request whose declared `Content-Length` is over `max_bytes`
/// (with `Connection: close`: the body is not read, so the connection cannot carry
/// another request); `None` for every other request.
pub fn over_limit(req: &Request, max_bytes: usize) -> Option<Response> {
    let declared = declared_length(req).filter(|&n| n > max_bytes as u64)?;
    let mut response = ApiError::new(
        ErrorKind::PayloadTooLarge,
        format!("the body is {declared} bytes (Content-Length); the limit is {max_bytes} (--max-body-bytes)"),
    )
    .into_response();
    response.headers_mut().insert(header::CONNECTION, HeaderValue::from_static("close"));
    Some(response)
}

/// The request's `Content-Length` (hyper has already refused malformed ones).
fn declared_length(req: &Request) -> Option<u64> {
    req.headers().get(header::CONTENT_LENGTH)?.to_str().ok()?.trim().parse().ok()
}

/// A body that fails with [`BodyReadTimeout`] once `limit` has passed since its first
/// poll, however steadily its frames arrive.
pub struct DeadlineBody {
    inner: Body,
    limit: Duration,
    /// When the body was first read.
    first_read: Option<Instant>,
    /// Armed the first time the body is not ready: a body that is already whole (a
    /// small request's usual case) never touches the timer wheel.
    deadline: Option<Pin<Box<Sleep>>>,
}

impl DeadlineBody {
    /// Wraps `inner`; the clock starts at the first read.
    pub fn new(inner: Body, limit: Duration) -> Self {
        Self { inner, limit, first_read: None, deadline: None }
    }
}

impl HttpBody for DeadlineBody {
    type Data = Bytes;
    type Error = axum::Error;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, axum::Error>>> {
        let this = self.get_mut();
        if this.inner.is_end_stream() {
            return Poll::Ready(None);
        }
        let limit = this.limit;
        let first_read = *this.first_read.get_or_insert_with(Instant::now);
        if let Some(deadline) = &mut this.deadline {
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Some(Err(axum::Error::new(BodyReadTimeout(limit)))));
            }
        } else if first_read.elapsed() >= limit {
            return Poll::Ready(Some(Err(axum::Error::new(BodyReadTimeout(limit)))));
        }
        let frame = Pin::new(&mut this.inner).poll_frame(cx);
        if frame.is_pending() && this.deadline.is_none() {
            // Registers the waker with the timer, so the read fails at the deadline
            // even if no byte ever comes.
            let mut deadline = Box::pin(tokio::time::sleep_until(first_read + limit));
            if deadline.as_mut().poll(cx).is_ready() {
                return Poll::Ready(Some(Err(axum::Error::new(BodyReadTimeout(limit)))));
            }
            this.deadline = Some(deadline);
        }
        frame
    }

    fn is_end_stream(&self) -> bool {
        self.inner.is_end_stream()
    }

    fn size_hint(&self) -> SizeHint {
        self.inner.size_hint()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use futures::StreamExt;

    /// A body whose frames arrive one by one, each `gap` after the previous.
    fn dripping(frames: usize, gap: Duration) -> Body {
        let stream = futures::stream::iter(0..frames).then(move |_| async move {
            tokio::time::sleep(gap).await;
            Ok::<_, std::io::Error>(Bytes::from_static(b" "))
        });
        Body::from_stream(stream)
    }

    async fn read(body: DeadlineBody) -> Result<Bytes, axum::Error> {
        axum::body::to_bytes(Body::new(body), usize::MAX).await
    }

    #[tokio::test]
    async fn a_steady_drip_is_cut_off_at_the_deadline() {
        // 1,000 frames 20 ms apart would take 20 s; no gap comes near the 300 ms limit.
        let body = DeadlineBody::new(dripping(1000, Duration::from_millis(20)), Duration::from_millis(300));
        let error = read(body).await.expect_err("the drip outlasts the deadline");
        let mut cause: Option<&(dyn std::error::Error + 'static)> = Some(&error);
        let mut found = false;
        while let Some(e) = cause {
            found |= e.is::<BodyReadTimeout>();
            cause = e.source();
        }
        assert!(found, "{error}");
    }

    #[tokio::test]
    async fn a_body_within_the_deadline_is_read_whole() {
        let body = DeadlineBody::new(dripping(5, Duration::from_millis(1)), Duration::from_secs(60));
        assert_eq!(read(body).await.unwrap().len(), 5);
        let empty = DeadlineBody::new(Body::empty(), Duration::from_millis(1));
        assert!(read(empty).await.unwrap().is_empty());
    }
}

//! The response future's state shared by the hand-written layers (`super::edge`,
//! `super::guard`): a response the layer gave itself, or the inner service's, with a
//! panic while polling it answered 500.

use std::convert::Infallible;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::task::{Context, Poll};

use axum::response::{IntoResponse, Response};

use super::error::{ApiError, ErrorKind};

/// Where a layer's response comes from.
pub enum Answer<F> {
    /// The layer's own (a refusal, or the answer to a panic); taken on the first poll.
    Ready(Option<Response>),
    /// The inner service's future.
    Inner(F),
}

/// The answer to a request whose handling panicked: 500 with the JSON error (the
/// panic hook logs the panic itself, with its location).
pub fn panicked() -> Response {
    ApiError::new(ErrorKind::Internal, "internal error").into_response()
}

impl<F> Answer<F>
where
    F: Future<Output = Result<Response, Infallible>> + Unpin,
{
    /// The response once there is one; pending forever after it was taken.
    pub fn poll_response(&mut self, cx: &mut Context<'_>) -> Poll<Response> {
        match self {
            Self::Ready(response) => response.take().map_or(Poll::Pending, Poll::Ready),
            Self::Inner(inner) => match catch_unwind(AssertUnwindSafe(|| Pin::new(inner).poll(cx))) {
                Ok(Poll::Pending) => Poll::Pending,
                Ok(Poll::Ready(Ok(response))) => Poll::Ready(response),
                Err(_) => Poll::Ready(panicked()),
            },
        }
    }
}

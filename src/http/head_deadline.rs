//! The request-head deadline of one connection, kept without a timer per request.
//!
//! A connection must deliver each request head within
//! [`crate::config::ConnectionLimits::header_read_timeout`] of becoming idle (opened,
//! or the last byte of its previous answer written); an idle keep-alive connection is
//! closed after as long, and so is one whose client stops reading an answer for as
//! long (every write that moves bytes restarts the clock). hyper's own `header_read_timeout` arms a timer for every request head (a boxed
//! sleep registered in and removed from tokio's timer wheel): ~0.4 µs of a cache hit's
//! ~12.5 µs of server CPU (`wrk`, 16 connections, Zen 5). Here each request only marks
//! itself begun and ended in [`Activity`] (two atomic updates and a clock read), and one
//! sleeping [`watch`] per connection checks when the deadline would fall and closes the
//! connection (by ending its task, which drops it) if it has passed with no request in
//! between. A stalled or dripped head, or an idle connection, is closed at the same
//! moment as with hyper's timer; a request being served never is.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

/// What the connection is doing, shared by its service (writer) and its [`watch`].
#[derive(Debug)]
pub struct Activity {
    /// When the connection opened; `idle_since_ns` counts from it.
    opened: Instant,
    /// Requests being served (0 or 1 on HTTP/1.1; a count, so nothing assumes it).
    in_flight: AtomicUsize,
    /// When the last request was answered, ns after `opened` (0: none yet).
    idle_since_ns: AtomicU64,
}

impl Activity {
    /// A connection opened now, idle.
    pub fn new() -> Arc<Self> {
        Arc::new(Self { opened: Instant::now(), in_flight: AtomicUsize::new(0), idle_since_ns: AtomicU64::new(0) })
    }

    /// Marks a request begun (its head arrived); the returned guard marks it answered
    /// when dropped (its response produced, or the request abandoned).
    pub fn begin(self: &Arc<Self>) -> Serving {
        self.in_flight.fetch_add(1, Ordering::AcqRel);
        Serving(Arc::clone(self))
    }

    /// Marks bytes of an answer written now.
    fn progressed(&self) {
        self.mark_idle_from_now();
    }

    fn mark_idle_from_now(&self) {
        let since = u64::try_from(self.opened.elapsed().as_nanos()).unwrap_or(u64::MAX);
        self.idle_since_ns.fetch_max(since, Ordering::AcqRel);
    }

    /// When the connection became idle last (opened, last request answered, or last
    /// answer bytes written).
    fn idle_since(&self) -> Instant {
        self.opened + Duration::from_nanos(self.idle_since_ns.load(Ordering::Acquire))
    }

    fn serving(&self) -> bool {
        self.in_flight.load(Ordering::Acquire) > 0
    }
}

/// One request being served; dropping it marks the connection idle from now.
#[derive(Debug)]
pub struct Serving(Arc<Activity>);

impl Drop for Serving {
    fn drop(&mut self) {
        // The time first, then the count: a watch that sees no request in flight also
        // sees when the last one ended.
        self.0.mark_idle_from_now();
        self.0.in_flight.fetch_sub(1, Ordering::AcqRel);
    }
}

/// Resolves when the connection has been idle for `timeout` with no request head
/// completed: the caller then drops the connection. Never resolves while a request is
/// being served. Sleeps until the earliest moment the deadline could fall, so it wakes
/// about once per `timeout` on a busy connection and not at all per request.
pub async fn watch(activity: &Activity, timeout: Duration) {
    let mut check = activity.idle_since() + timeout;
    loop {
        tokio::time::sleep_until(check).await;
        if activity.serving() {
            // Answered at the earliest now: its deadline is at least `timeout` away.
            check = Instant::now() + timeout;
            continue;
        }
        let deadline = activity.idle_since() + timeout;
        // A head completed between the two reads counts (as it would against a timer).
        if deadline <= Instant::now() && !activity.serving() {
            return;
        }
        check = deadline.max(Instant::now());
    }
}

/// The connection's socket, marking in [`Activity`] each write that moves bytes.
#[derive(Debug)]
pub struct Watched<IO> {
    io: IO,
    activity: Arc<Activity>,
}

impl<IO> Watched<IO> {
    /// `io`, its writes marked in `activity`.
    pub fn new(io: IO, activity: Arc<Activity>) -> Self {
        Self { io, activity }
    }

    fn note(&self, written: &Poll<std::io::Result<usize>>) {
        if matches!(written, Poll::Ready(Ok(n)) if *n > 0) {
            self.activity.progressed();
        }
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for Watched<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for Watched<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write(cx, buf);
        self.note(&written);
        written
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.io).poll_write_vectored(cx, bufs);
        self.note(&written);
        written
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

/// A hyper service that marks each request it serves in the connection's [`Activity`].
#[derive(Debug, Clone)]
pub struct Tracked<S> {
    inner: S,
    activity: Arc<Activity>,
}

impl<S> Tracked<S> {
    /// `inner`, its requests marked in `activity`.
    pub fn new(inner: S, activity: Arc<Activity>) -> Self {
        Self { inner, activity }
    }
}

impl<S, R> hyper::service::Service<R> for Tracked<S>
where
    S: hyper::service::Service<R>,
{
    type Response = S::Response;
    type Error = S::Error;
    type Future = Answering<S::Future>;

    fn call(&self, request: R) -> Self::Future {
        let serving = self.activity.begin();
        Answering { future: self.inner.call(request), serving: Some(serving) }
    }
}

/// A request's response future; the request counts as answered once it resolves (or
/// is dropped).
#[derive(Debug)]
pub struct Answering<F> {
    future: F,
    serving: Option<Serving>,
}

impl<F: Future> Future for Answering<F> {
    type Output = F::Output;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<F::Output> {
        // SAFETY: `future` is structurally pinned: it is never moved out of `self` (no
        // method hands it out, and `Answering` has no `Drop` of its own); `serving` is
        // not pinned, and taking it moves nothing pinned.
        let this = unsafe { self.get_unchecked_mut() };
        // SAFETY: as above; `this.future` stays where it is for as long as `self`.
        let future = unsafe { Pin::new_unchecked(&mut this.future) };
        let output = ready!(future.poll(cx));
        this.serving.take();
        Poll::Ready(output)
    }
}

#[cfg(test)]
mod tests;

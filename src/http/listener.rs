//! The accept loop: HTTP/1.1 connections with a header read timeout, a connection
//! limit, and a shutdown that drains open requests for at most a grace period.
//!
//! `axum::serve` has none of these: a client that sends half a request head, or a
//! body shorter than its `Content-Length`, holds its connection (and a descriptor)
//! forever, and a graceful shutdown waits for it forever. Here:
//! - a connection whose request head has not arrived within
//!   [`ConnectionLimits::header_read_timeout`] of it becoming idle is closed (idle
//!   keep-alive connections included, and clients that stop reading an answer for as
//!   long; `super::head_deadline`, one sleeping check per connection instead of
//!   hyper's timer per request);
//! - a whole body must arrive within [`ConnectionLimits::body_read_timeout`] of its
//!   first read, and a declared `Content-Length` over the body limit is answered 413
//!   without reading it (`super::body`, a layer in `super::router`; 408 on timeout);
//! - at [`ConnectionLimits::max_connections`] the loop stops accepting (new clients
//!   wait in the kernel's backlog) and logs it once per episode;
//! - hyper's own answers to a request head it cannot parse (400, 414, 431) get the
//!   JSON error body every other error has (`super::head_errors`);
//! - on shutdown the listener closes, open connections finish their current request
//!   and close, and after [`ConnectionLimits::shutdown_grace`] the rest are dropped.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::Request;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use hyper_util::server::graceful::GracefulShutdown;
use hyper_util::service::TowerToHyperService;
use tokio::net::TcpListener;
use tokio::sync::Semaphore;

use tower::ServiceExt;

use super::head_deadline::{self, Activity, Tracked, Watched};
use super::head_errors::JsonHeadErrors;
use super::HttpService;
use crate::config::ConnectionLimits;

/// Pause after a failed `accept` (e.g. out of descriptors) before trying again.
const ACCEPT_RETRY: Duration = Duration::from_millis(50);

/// How a serve loop ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Drain {
    /// Every open connection finished within the grace period.
    Complete,
    /// The grace period ran out with connections still open; they were dropped.
    GraceExpired,
}

/// Serves `router` on `listener` until `shutdown` resolves, then drains.
///
/// Errors: none today (accept errors are logged and retried); kept as `io::Result`
/// for callers.
pub async fn serve(
    listener: TcpListener,
    app: impl HttpService,
    limits: &ConnectionLimits,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> std::io::Result<Drain> {
    let permits = Arc::new(Semaphore::new(limits.max_connections));
    let graceful = GracefulShutdown::new();
    let mut http = hyper::server::conn::http1::Builder::new();
    // No timer: the head deadline is `head_deadline`'s.
    http.header_read_timeout(None).max_buf_size(limits.max_header_bytes.max(8192) * 2).keep_alive(true);
    let at_limit = AtomicBool::new(false);
    tokio::pin!(shutdown);

    loop {
        let permit = match Arc::clone(&permits).try_acquire_owned() {
            Ok(permit) => {
                at_limit.store(false, Ordering::Relaxed);
                permit
            }
            Err(_) => {
                if !at_limit.swap(true, Ordering::Relaxed) {
                    tracing::warn!(
                        max_connections = limits.max_connections,
                        "connection limit reached; new connections wait until one closes (--max-connections)"
                    );
                }
                tokio::select! {
                    permit = Arc::clone(&permits).acquire_owned() => match permit {
                        Ok(permit) => permit,
                        Err(_) => break,
                    },
                    () = &mut shutdown => break,
                }
            }
        };
        let stream = tokio::select! {
            accepted = listener.accept() => match accepted {
                Ok((stream, _peer)) => stream,
                Err(e) => {
                    tracing::warn!(error = %e, "accept failed; retrying");
                    tokio::time::sleep(ACCEPT_RETRY).await;
                    continue;
                }
            },
            () = &mut shutdown => break,
        };
        let _ = stream.set_nodelay(true);
        let activity = Activity::new();
        let service = TowerToHyperService::new(app.clone().map_request(with_axum_body as fn(_) -> _));
        let service = Tracked::new(service, Arc::clone(&activity));
        let io = TokioIo::new(Watched::new(JsonHeadErrors::new(stream), Arc::clone(&activity)));
        let connection = graceful.watch(http.serve_connection(io, service));
        let head_timeout = limits.header_read_timeout;
        tokio::spawn(async move {
            tokio::select! {
                // Errors here are the client's (reset, malformed request).
                closed = connection => if let Err(e) = closed {
                    tracing::debug!(error = %e, "connection closed with an error");
                },
                // Dropping the connection closes it.
                () = head_deadline::watch(&activity, head_timeout) => {
                    tracing::debug!(timeout_ms = head_timeout.as_millis() as u64, "no request head in time; connection closed");
                }
            }
            drop(permit);
        });
    }
    drop(listener);
    let open = limits.max_connections - permits.available_permits();
    tracing::info!(
        open_connections = open,
        grace_secs = limits.shutdown_grace.as_secs_f64(),
        "listener closed; draining"
    );
    match tokio::time::timeout(limits.shutdown_grace, graceful.shutdown()).await {
        Ok(()) => Ok(Drain::Complete),
        Err(_) => {
            let open = limits.max_connections - permits.available_permits();
            tracing::warn!(open_connections = open, "shutdown grace period expired; dropping open connections");
            Ok(Drain::GraceExpired)
        }
    }
}

/// hyper's request with its body as axum's.
fn with_axum_body(request: Request<Incoming>) -> Request {
    request.map(Body::new)
}

//! JSON bodies for the errors hyper answers by itself.
//!
//! A request head hyper cannot parse never reaches the router: hyper writes
//! `400 Bad Request` (a bad request line, a malformed or duplicated `Content-Length`,
//! a header with a control byte), `414 URI Too Long` or `431 Request Header Fields Too
//! Large` (a head over its buffer), with an empty body, and closes the connection.
//! [`JsonHeadErrors`] wraps each connection's socket and replaces exactly those
//! responses (one of these statuses, `content-length: 0`, no body: nothing the router
//! sends, since every error it sends has a JSON body) with the same status and a body
//! of the shape every other error has, `{"error": {"type", "message"}}`.

use std::io;
use std::pin::Pin;
use std::task::{ready, Context, Poll};

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

use super::error::{ErrorDetail, ErrorKind, ErrorResponse};

/// A connection's socket whose hyper-made parse-error responses get JSON bodies.
pub struct JsonHeadErrors<IO> {
    io: IO,
    /// A replacement response not yet fully written, and how much of it was.
    pending: Option<(Vec<u8>, usize)>,
}

impl<IO> JsonHeadErrors<IO> {
    /// Wraps `io`.
    pub fn new(io: IO) -> Self {
        Self { io, pending: None }
    }
}

/// The JSON response that replaces `head`, when `head` is one of hyper's own
/// parse-error responses.
fn replacement(head: &[u8]) -> Option<Vec<u8>> {
    // Every response passes here: decide on the status line's bytes before anything else.
    if !head.starts_with(b"HTTP/1.1 4") || !head.ends_with(b"\r\n\r\n") {
        return None;
    }
    let text = std::str::from_utf8(head).ok()?;
    let (kind, message) = match text.get(..13)? {
        "HTTP/1.1 400 " => (
            ErrorKind::MalformedHead,
            "the request head does not parse: a bad request line, a malformed, negative, \
             too large or repeated Content-Length, or a header with a control character",
        ),
        "HTTP/1.1 414 " => (ErrorKind::UriTooLong, "the request target is too long"),
        "HTTP/1.1 431 " => {
            (ErrorKind::HeadersTooLarge, "the request head is too large: over 100 headers or twice --max-header-bytes")
        }
        _ => return None,
    };
    if !text.ends_with("\r\n\r\n") || !text.to_ascii_lowercase().contains("\r\ncontent-length: 0\r\n") {
        return None;
    }
    let body = ErrorResponse { error: ErrorDetail { kind, message: message.into() } };
    let body = serde_json::to_vec(&body).ok()?;
    let status_line = text.split("\r\n").next()?;
    let mut response = format!(
        "{status_line}\r\ncontent-type: application/json\r\ncontent-length: {}\r\nconnection: close\r\n\r\n",
        body.len()
    )
    .into_bytes();
    response.extend_from_slice(&body);
    Some(response)
}

impl<IO: AsyncWrite + Unpin> JsonHeadErrors<IO> {
    /// Writes what is left of a replacement response.
    fn poll_pending(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while let Some((bytes, written)) = &mut self.pending {
            if *written == bytes.len() {
                self.pending = None;
                break;
            }
            let n = ready!(Pin::new(&mut self.io).poll_write(cx, &bytes[*written..]))?;
            if n == 0 {
                return Poll::Ready(Err(io::ErrorKind::WriteZero.into()));
            }
            *written += n;
        }
        Poll::Ready(Ok(()))
    }
}

impl<IO: AsyncRead + Unpin> AsyncRead for JsonHeadErrors<IO> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.io).poll_read(cx, buf)
    }
}

impl<IO: AsyncWrite + Unpin> AsyncWrite for JsonHeadErrors<IO> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        if let Some(response) = replacement(buf) {
            self.pending = Some((response, 0));
            // The caller's bytes are taken; the replacement is written from here on.
            let _ = self.poll_pending(cx)?;
            return Poll::Ready(Ok(buf.len()));
        }
        Pin::new(&mut self.io).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        ready!(self.poll_pending(cx))?;
        let mut filled = bufs.iter().filter(|b| !b.is_empty());
        if let (Some(only), None) = (filled.next(), filled.next()) {
            if replacement(only).is_some() {
                return self.poll_write(cx, only);
            }
        }
        Pin::new(&mut self.io).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.io.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.io).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        ready!(self.poll_pending(cx))?;
        Pin::new(&mut self.io).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_hypers_empty_parse_error_responses_are_replaced() {
        let hyper_400 = b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\ndate: Mon, 30 Nov 2026 09:00:00 GMT\r\n\r\n";
        let replaced = String::from_utf8(replacement(hyper_400).unwrap()).unwrap();
        assert!(replaced.starts_with("HTTP/1.1 400 Bad Request\r\ncontent-type: application/json\r\n"));
        let body: serde_json::Value = serde_json::from_str(replaced.split("\r\n\r\n").nth(1).unwrap()).unwrap();
        assert_eq!(body["error"]["type"], "malformed_head");

        let hyper_431 = b"HTTP/1.1 431 Request Header Fields Too Large\r\ncontent-length: 0\r\n\r\n";
        assert!(String::from_utf8(replacement(hyper_431).unwrap()).unwrap().contains("headers_too_large"));

        // The router's errors carry a body; other statuses pass.
        assert!(replacement(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 2\r\n\r\n{}").is_none());
        assert!(replacement(b"HTTP/1.1 200 OK\r\ncontent-length: 0\r\n\r\n").is_none());
        assert!(replacement(b"HTTP/1.1 400 Bad Request\r\ncontent-length: 0\r\n").is_none());
    }
}

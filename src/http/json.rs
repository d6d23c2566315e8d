//! JSON answers written straight into one buffer.
//!
//! axum's `Json` serializes through `BytesMut`'s `BufMut` writer (a capacity check and
//! a copy per fragment) into 128 bytes, which a one-text answer outgrows, so most
//! answers also reallocate: a third of a cache hit's response serialization (`perf`,
//! `examples/hit_inproc.rs`). [`JsonAnswer`] serializes with `serde_json`'s `Vec`
//! writer into [`INITIAL_BYTES`] and hands the buffer to the body without a copy.

use axum::http::{header, HeaderValue};
use axum::response::{IntoResponse, Response};
use serde::Serialize;

use super::error::{ApiError, ErrorKind};

/// The buffer an answer starts with, bytes: a one-text `/analyze` answer with a few
/// labels fits.
pub const INITIAL_BYTES: usize = 384;

/// A `200 application/json` response of `T`; a value that does not serialize (a
/// bug, e.g. a map with non-string keys) is answered 500 with the JSON error.
#[derive(Debug, Clone, Copy, Default)]
pub struct JsonAnswer<T>(pub T);

impl<T: Serialize> IntoResponse for JsonAnswer<T> {
    fn into_response(self) -> Response {
        let mut body = Vec::with_capacity(INITIAL_BYTES);
        match serde_json::to_writer(&mut body, &self.0) {
            Ok(()) => ([(header::CONTENT_TYPE, HeaderValue::from_static("application/json"))], body).into_response(),
            Err(e) => ApiError::new(ErrorKind::Internal, format!("the answer does not serialize: {e}")).into_response(),
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::HashMap;

    use axum::http::StatusCode;
    use serde_json::json;

    use super::*;

    async fn parts(response: Response) -> (StatusCode, String, String) {
        let status = response.status();
        let content_type = response.headers()[header::CONTENT_TYPE].to_str().unwrap().to_string();
        let bytes = axum::body::to_bytes(response.into_body(), 1 << 20).await.unwrap();
        (status, content_type, String::from_utf8(bytes.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn answers_the_same_bytes_as_axums_json_short_and_long() {
        for value in [json!({"a": 1, "b": [0.5f32, "x"]}), json!({"long": "y".repeat(5 * INITIAL_BYTES)})] {
            let ours = parts(JsonAnswer(&value).into_response()).await;
            let axums = parts(axum::Json(&value).into_response()).await;
            assert_eq!(ours, axums);
            assert_eq!(ours.0, StatusCode::OK);
        }
    }

    #[tokio::test]
    async fn a_value_that_does_not_serialize_is_a_json_500() {
        let unserializable: HashMap<(u8, u8), u8> = [((1, 2), 3)].into_iter().collect();
        let (status, content_type, body) = parts(JsonAnswer(unserializable).into_response()).await;
        assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
        assert_eq!(content_type, "application/json");
        let body: serde_json::Value = serde_json::from_str(&body).unwrap();
        assert!(body["error"]["message"].as_str().unwrap().contains("does not serialize"), "{body}");
    }
}

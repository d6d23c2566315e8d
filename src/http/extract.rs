//! Extractors whose rejections are [`ApiError`]s, so malformed input gets the same JSON
//! error shape as every other failure.

use axum::body::Bytes;
use axum::extract::rejection::JsonRejection;
use axum::extract::{FromRequest, FromRequestParts, Request};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap};

use super::error::ApiError;

/// `axum::Json` with JSON errors: 400 syntax, 415 content type, 413 size, 422 fields.
///
/// A body that parses takes the plain `serde_json` path; only one that does not is
/// parsed again through `axum::Json` (with `serde_path_to_error`), whose rejection
/// names the field at fault. The answer is the same either way; the common case skips
/// the path tracking (a few percent of a cache hit's CPU).
pub struct JsonBody<T>(pub T);

impl<S, T> FromRequest<S> for JsonBody<T>
where
    T: serde::de::DeserializeOwned,
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, Self::Rejection> {
        parse(req, state).await.map(Self)
    }
}

/// [`JsonBody`] and the request's headers, moved out of the request (axum's
/// `HeaderMap` extractor clones them: an allocation and a copy of every header per
/// request, for handlers that only read a few).
pub struct JsonWithHeaders<T> {
    /// The request's headers.
    pub headers: HeaderMap,
    /// The parsed body.
    pub body: T,
}

impl<S, T> FromRequest<S> for JsonWithHeaders<T>
where
    T: serde::de::DeserializeOwned,
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(mut req: Request, state: &S) -> Result<Self, Self::Rejection> {
        if !json_content_type(req.headers()) {
            // The 415, from the headers still in place.
            return parse(req, state).await.map(|body| Self { headers: HeaderMap::new(), body });
        }
        // Reading the body needs none of them.
        let headers = std::mem::take(req.headers_mut());
        parse_json(req, state).await.map(|body| Self { headers, body })
    }
}

/// The body of `req` as `T` (see [`JsonBody`]).
///
/// Errors: 415 content type, 413 size, 400 syntax, 422 fields.
async fn parse<S, T>(req: Request, state: &S) -> Result<T, ApiError>
where
    T: serde::de::DeserializeOwned,
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    if !json_content_type(req.headers()) {
        // axum's own check gives the rejection (415).
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        return Ok(value);
    }
    parse_json(req, state).await
}

/// [`parse`] once the content type is known to be JSON.
async fn parse_json<S, T>(req: Request, state: &S) -> Result<T, ApiError>
where
    T: serde::de::DeserializeOwned,
    axum::Json<T>: FromRequest<S, Rejection = JsonRejection>,
    S: Send + Sync,
{
    let bytes = Bytes::from_request(req, state).await.map_err(JsonRejection::from)?;
    if let Ok(value) = serde_json::from_slice(&bytes) {
        return Ok(value);
    }
    let axum::Json(value) = axum::Json::<T>::from_bytes(&bytes)?;
    Ok(value)
}

/// Whether `Content-Type` is JSON as axum's `Json` judges it: `application/json` or
/// `application/*+json`, parameters allowed.
fn json_content_type(headers: &HeaderMap) -> bool {
    let Some(value) = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()) else { return false };
    let essence = value.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
    let Some(subtype) = essence.strip_prefix("application/") else { return false };
    subtype == "json" || (subtype.ends_with("+json") && subtype.len() > "+json".len())
}

/// `axum::extract::Query` with a JSON 400 on a malformed query string.
pub struct QueryParams<T>(pub T);

impl<S, T> FromRequestParts<S> for QueryParams<T>
where
    axum::extract::Query<T>: FromRequestParts<S, Rejection = axum::extract::rejection::QueryRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, Self::Rejection> {
        let axum::extract::Query(value) = axum::extract::Query::<T>::from_request_parts(parts, state).await?;
        Ok(Self(value))
    }
}

#[cfg(test)]
mod tests {
    use axum::http::{header, HeaderMap, HeaderValue};

    use super::json_content_type;

    #[test]
    fn json_content_types_are_recognised_as_axum_does() {
        let judge = |value: &'static str| {
            let mut headers = HeaderMap::new();
            headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value));
            json_content_type(&headers)
        };
        for json in
            ["application/json", "Application/JSON", "application/json; charset=utf-8", "application/problem+json"]
        {
            assert!(judge(json), "{json}");
        }
        for other in
            ["text/plain", "application/jsonx", "application/+json", "text/json", "application/x-www-form-urlencoded"]
        {
            assert!(!judge(other), "{other}");
        }
        assert!(!json_content_type(&HeaderMap::new()), "no content type");
    }
}

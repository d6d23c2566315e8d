//! Request parsing, once for every inference route (`POST /analyze`, TEI's
//! `POST /predict`, the Inference API's `POST /hf-inference/models/{name}`): each
//! route's body becomes a list of [`TextInput`]s ([`analyze`], [`inputs`]) and a
//! [`PipelineOptions`], and [`prepare`] turns those and the headers into what
//! [`Service::analyze`](crate::service::Service::analyze) takes, with the same checks
//! and the same error messages on every route.

pub mod analyze;
pub mod inputs;

use std::time::{Duration, Instant};

use axum::http::{header, HeaderMap, HeaderName};
use serde::Deserialize;

use super::error::{ApiError, ErrorKind};
use crate::cache::CachePolicy;
use crate::config::Limits;
use crate::engine::TruncationSide;
use crate::model::{ScoreFunction, TextInput};
use crate::service::AnalyzeOptions;

/// The header a request sets its own deadline with, ms.
pub const REQUEST_TIMEOUT_HEADER: &str = "x-request-timeout-ms";

/// [`REQUEST_TIMEOUT_HEADER`] as a header name (a lookup by a string parses it first).
pub const REQUEST_TIMEOUT: HeaderName = HeaderName::from_static(REQUEST_TIMEOUT_HEADER);

/// The transformers pipeline options, under `/analyze`'s names; the other routes map
/// their own fields onto these (TEI's `raw_scores`, the Inference API's `parameters`).
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct PipelineOptions {
    /// Keep only the best `k` labels in `scores`; `null` (default) keeps all.
    #[schema(minimum = 1)]
    #[serde(default, deserialize_with = "whole_number")]
    pub top_k: Option<usize>,
    /// Overrides the model's score function, as in transformers' pipeline.
    #[schema(value_type = Option<crate::http::wire::ScoreFunction>)]
    pub function_to_apply: Option<ScoreFunction>,
    /// `true` is a synonym for `function_to_apply: "none"` (TEI's name).
    pub raw_scores: Option<bool>,
    /// `true` (default) cuts over-long inputs to the model's limit; `false` refuses
    /// them with 413 `input_too_long`.
    pub truncate: Option<bool>,
    /// Which end of an over-long input is cut: `"right"` (default, keeps the start) or
    /// `"left"` (keeps the end). TEI's `"Right"`/`"Left"` too.
    #[schema(value_type = Option<String>, pattern = "^(Left|Right|left|right)$")]
    pub truncation_direction: Option<TruncationDirection>,
}

/// `truncation_direction`: TEI's `"Left"`/`"Right"`, or lower case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize)]
pub enum TruncationDirection {
    /// Cut the start, keep the end.
    #[serde(alias = "left")]
    Left,
    /// Cut the end, keep the start (the default).
    #[serde(alias = "right")]
    Right,
}

impl From<TruncationDirection> for TruncationSide {
    fn from(direction: TruncationDirection) -> Self {
        match direction {
            TruncationDirection::Left => Self::Left,
            TruncationDirection::Right => Self::Right,
        }
    }
}

impl PipelineOptions {
    /// The field names, for error messages about unknown fields.
    pub const FIELDS: &'static [&'static str] =
        &["top_k", "function_to_apply", "raw_scores", "truncate", "truncation_direction"];

    /// The options the service applies, with the request's cache directive and
    /// deadline from `headers`.
    ///
    /// Errors: 422 for `top_k: 0`, contradicting score functions or a malformed
    /// deadline header.
    pub fn resolve(self, limits: &Limits, headers: &HeaderMap) -> Result<AnalyzeOptions, ApiError> {
        if self.top_k == Some(0) {
            return Err(ApiError::invalid("`top_k` must be at least 1 (or null for all labels)"));
        }
        Ok(AnalyzeOptions {
            top_k: self.top_k,
            function: score_function(self.function_to_apply, self.raw_scores)?,
            truncate: self.truncate.unwrap_or(true),
            truncation: self.truncation_direction.map_or(TruncationSide::Right, Into::into),
            cache: cache_policy(headers),
            deadline: deadline(limits, headers)?,
        })
    }
}

/// What one inference request asks of the service: its inputs and options, checked.
#[derive(Debug)]
pub struct Prepared {
    /// The inputs, in request order.
    pub inputs: Vec<TextInput>,
    /// Pipeline options, cache directive and deadline.
    pub options: AnalyzeOptions,
}

/// Checks a route's parsed inputs against the limits and resolves its options.
///
/// Errors: 413 `batch_too_large` for more inputs than `--max-texts`; 422 from
/// [`PipelineOptions::resolve`].
pub fn prepare(
    limits: &Limits,
    headers: &HeaderMap,
    inputs: Vec<TextInput>,
    options: PipelineOptions,
) -> Result<Prepared, ApiError> {
    check_count(limits, inputs.len())?;
    let options = options.resolve(limits, headers)?;
    Ok(Prepared { inputs, options })
}

/// Refuses more inputs than `--max-texts`.
///
/// Errors: 413 `batch_too_large`.
pub fn check_count(limits: &Limits, count: usize) -> Result<(), ApiError> {
    if count > limits.max_texts {
        return Err(ApiError::new(
            ErrorKind::BatchTooLarge,
            format!("{count} texts in one request; the limit is {}", limits.max_texts),
        ));
    }
    Ok(())
}

/// The score function a request asks for: `function_to_apply`, or `raw_scores`.
///
/// Errors: 422 when the two disagree.
fn score_function(
    function_to_apply: Option<ScoreFunction>,
    raw_scores: Option<bool>,
) -> Result<Option<ScoreFunction>, ApiError> {
    match (function_to_apply, raw_scores) {
        (Some(f), Some(true)) if f != ScoreFunction::None => {
            Err(ApiError::invalid("`raw_scores: true` contradicts `function_to_apply`"))
        }
        (Some(f), _) => Ok(Some(f)),
        (None, Some(true)) => Ok(Some(ScoreFunction::None)),
        (None, _) => Ok(None),
    }
}

/// The request's cache directive from `Cache-Control`: `no-store` (compute, write
/// nothing) wins over `no-cache` (compute, refresh the entry); anything else uses the
/// cache.
pub fn cache_policy(headers: &HeaderMap) -> CachePolicy {
    let mut policy = CachePolicy::Use;
    for value in headers.get_all(header::CACHE_CONTROL) {
        for directive in value.to_str().unwrap_or("").split(',') {
            let directive = directive.trim();
            if directive.eq_ignore_ascii_case("no-store") {
                return CachePolicy::Bypass;
            }
            if directive.eq_ignore_ascii_case("no-cache") {
                policy = CachePolicy::Refresh;
            }
        }
    }
    policy
}

/// The request's deadline: `X-Request-Timeout-Ms` (ms, > 0), else
/// `--request-timeout-ms`, else none.
///
/// Errors: 422 for a header that is not a positive integer.
pub fn deadline(limits: &Limits, headers: &HeaderMap) -> Result<Option<Instant>, ApiError> {
    let timeout = match headers.get(&REQUEST_TIMEOUT) {
        Some(value) => {
            let ms = value.to_str().ok().and_then(|v| v.trim().parse::<u64>().ok()).filter(|&ms| ms > 0);
            let ms = ms.ok_or_else(|| {
                ApiError::invalid(format!("`{REQUEST_TIMEOUT_HEADER}` must be a positive integer (milliseconds)"))
            })?;
            Some(Duration::from_millis(ms))
        }
        None => limits.request_timeout,
    };
    Ok(timeout.map(|t| Instant::now() + t))
}

/// Deserializes an optional count that JSON may spell `3` or `3.0` (both are the
/// integer 3 to JSON Schema).
///
/// Errors: a negative, fractional or too large number.
pub fn whole_number<'de, D: serde::Deserializer<'de>>(deserializer: D) -> Result<Option<usize>, D::Error> {
    let Some(number) = Option::<serde_json::Number>::deserialize(deserializer)? else { return Ok(None) };
    if let Some(n) = number.as_u64() {
        return usize::try_from(n).map(Some).map_err(serde::de::Error::custom);
    }
    match number.as_f64() {
        Some(f) if f >= 0.0 && f.fract() == 0.0 && f <= usize::MAX as f64 => Ok(Some(f as usize)),
        _ => Err(serde::de::Error::custom(format!("expected a non-negative integer, got {number}"))),
    }
}

#[cfg(test)]
mod tests {
    use axum::http::HeaderValue;

    use super::*;

    fn headers(pairs: &[(&'static str, &'static str)]) -> HeaderMap {
        let mut map = HeaderMap::new();
        for (name, value) in pairs {
            map.append(*name, HeaderValue::from_static(value));
        }
        map
    }

    fn resolve(options: PipelineOptions) -> Result<AnalyzeOptions, ApiError> {
        options.resolve(&Limits::default(), &HeaderMap::new())
    }

    #[test]
    fn options_resolve_the_same_way_for_every_route() {
        let options = resolve(PipelineOptions::default()).unwrap();
        assert_eq!((options.top_k, options.function, options.truncate), (None, None, true));
        assert_eq!(options.cache, CachePolicy::Use);
        let raw = PipelineOptions { raw_scores: Some(true), truncate: Some(false), ..Default::default() };
        let options = resolve(raw).unwrap();
        assert_eq!((options.function, options.truncate), (Some(ScoreFunction::None), false));
        let not_raw = PipelineOptions { raw_scores: Some(false), ..Default::default() };
        assert_eq!(resolve(not_raw).unwrap().function, None);
        let both = PipelineOptions {
            function_to_apply: Some(ScoreFunction::None),
            raw_scores: Some(true),
            ..Default::default()
        };
        assert_eq!(resolve(both).unwrap().function, Some(ScoreFunction::None));
        let top = PipelineOptions { top_k: Some(2), ..Default::default() };
        assert_eq!(resolve(top).unwrap().top_k, Some(2));
    }

    #[test]
    fn top_k_zero_and_contradictions_are_refused() {
        let zero = PipelineOptions { top_k: Some(0), ..Default::default() };
        assert!(resolve(zero).unwrap_err().message.contains("top_k"));
        let contradiction = PipelineOptions {
            function_to_apply: Some(ScoreFunction::Softmax),
            raw_scores: Some(true),
            ..Default::default()
        };
        assert!(resolve(contradiction).is_err());
    }

    #[test]
    fn no_store_wins_over_no_cache_in_any_header_line() {
        assert_eq!(cache_policy(&headers(&[])), CachePolicy::Use);
        assert_eq!(cache_policy(&headers(&[("cache-control", "max-age=0")])), CachePolicy::Use);
        assert_eq!(cache_policy(&headers(&[("cache-control", "No-Cache")])), CachePolicy::Refresh);
        let both = headers(&[("cache-control", "no-cache"), ("cache-control", "private, no-store")]);
        assert_eq!(cache_policy(&both), CachePolicy::Bypass);
    }

    #[test]
    fn the_deadline_header_overrides_the_default_and_must_be_positive() {
        let limits = Limits { request_timeout: Some(Duration::from_secs(60)), ..Limits::default() };
        let before = Instant::now();
        let default = deadline(&limits, &HeaderMap::new()).unwrap().unwrap();
        assert!(default >= before + Duration::from_secs(60));
        let own = deadline(&limits, &headers(&[(REQUEST_TIMEOUT_HEADER, " 50 ")])).unwrap().unwrap();
        assert!(own < before + Duration::from_secs(1));
        assert_eq!(deadline(&Limits::default(), &HeaderMap::new()).unwrap(), None);
        for bad in ["0", "-5", "1.5", "soon"] {
            let bad = HeaderValue::from_str(bad).unwrap();
            let mut map = HeaderMap::new();
            map.insert(REQUEST_TIMEOUT_HEADER, bad);
            assert!(deadline(&limits, &map).is_err());
        }
    }

    #[test]
    fn more_inputs_than_max_texts_are_refused() {
        let limits = Limits { max_texts: 2, ..Limits::default() };
        let two = vec![TextInput::single("a"), TextInput::single("b")];
        assert_eq!(prepare(&limits, &HeaderMap::new(), two, PipelineOptions::default()).unwrap().inputs.len(), 2);
        let three = vec![TextInput::single("a"), TextInput::single("b"), TextInput::single("c")];
        let error = prepare(&limits, &HeaderMap::new(), three, PipelineOptions::default()).unwrap_err();
        assert!(error.message.contains("the limit is 2"), "{}", error.message);
    }
}

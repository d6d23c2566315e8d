//! Prometheus metrics: the process-wide recorder and the HTTP middleware.
//!
//! Every metric the server records, by where it is recorded:
//!
//! - HTTP (`http::guard`, per routed request): `sentiserve_http_requests_total{method,route,status}`
//!   (counter), `sentiserve_http_request_duration_seconds{method,route}` (histogram).
//! - Cache (`cache`): `sentiserve_cache_hits_total{model}`,
//!   `sentiserve_cache_misses_total{model}`, `sentiserve_cache_token_hits_total{model}`
//!   (counters; token hits are the hits found by token ids, see `cache::lookup`).
//! - Batching (`batch`): `sentiserve_batch_size{model}` (histogram, inputs per forward
//!   pass), `sentiserve_batch_seconds{model}` (histogram),
//!   `sentiserve_queue_depth{model}` (gauge, texts waiting),
//!   `sentiserve_input_tokens{model}` (histogram, tokens per input),
//!   `sentiserve_deadline_drops_total{model}` (counter, texts dropped unrun past their
//!   deadline).
//! - Registry (`registry`): `sentiserve_model_load_seconds{model}` (histogram),
//!   `sentiserve_models_loaded` (gauge), `sentiserve_model_bytes{model}` (gauge),
//!   `sentiserve_model_evictions_total{model,reason}` (counter; `capacity` or `idle`).
//!
//! Every histogram has buckets (none is exported as a summary): `*_seconds` share
//! [`SECONDS_BUCKETS`], `sentiserve_batch_size` has [`BATCH_BUCKETS`] and
//! `sentiserve_input_tokens` has [`TOKEN_BUCKETS`].

use std::cell::RefCell;
use std::collections::HashMap;
use std::sync::OnceLock;

use axum::http::Method;
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

/// Buckets of every `*_seconds` histogram, seconds.
pub const SECONDS_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0];
/// Buckets of `sentiserve_batch_size`, inputs per forward pass.
pub const BATCH_BUCKETS: &[f64] = &[1.0, 2.0, 4.0, 8.0, 16.0, 32.0, 64.0, 128.0, 256.0];
/// Buckets of `sentiserve_input_tokens`, tokens per input: powers of two from 8 to
/// 8192 (model limits are 512 to 8192).
pub const TOKEN_BUCKETS: &[f64] = &[8.0, 16.0, 32.0, 64.0, 128.0, 256.0, 512.0, 1024.0, 2048.0, 4096.0, 8192.0];

/// The process-wide Prometheus handle, installing the global recorder on first use.
/// If another recorder is already installed, the handle still renders (empty) output.
pub fn prometheus() -> PrometheusHandle {
    static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            let builder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Suffix("_seconds".into()), SECONDS_BUCKETS)
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full("sentiserve_batch_size".into()), BATCH_BUCKETS))
                .and_then(|b| b.set_buckets_for_metric(Matcher::Full("sentiserve_input_tokens".into()), TOKEN_BUCKETS))
                .expect("bucket lists are non-empty constants");
            let recorder = builder.build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("a metrics recorder was already installed; /metrics will be empty");
            }
            handle
        })
        .clone()
}

/// One route's HTTP metric handles.
struct RouteMetrics {
    duration: metrics::Histogram,
    /// `sentiserve_http_requests_total` by status (a route answers a handful).
    by_status: Vec<(u16, metrics::Counter)>,
}

thread_local! {
    /// Handles by method and route, per worker thread: a request looks its handles up
    /// without allocating labels or hashing them into the recorder's registry.
    static HTTP_METRICS: RefCell<HashMap<Method, HashMap<Box<str>, RouteMetrics>>> = RefCell::new(HashMap::new());
}

/// Records one answered request: its count by status and its duration, seconds.
pub fn record(method: &Method, route: &str, status: u16, seconds: f64) {
    HTTP_METRICS.with_borrow_mut(|by_method| {
        let by_route = by_method.entry(method.clone()).or_default();
        if !by_route.contains_key(route) {
            let duration = metrics::histogram!("sentiserve_http_request_duration_seconds",
                "method" => method.to_string(), "route" => route.to_string());
            by_route.insert(route.into(), RouteMetrics { duration, by_status: Vec::new() });
        }
        let Some(handles) = by_route.get_mut(route) else { return };
        handles.duration.record(seconds);
        match handles.by_status.iter().find(|(s, _)| *s == status) {
            Some((_, counter)) => counter.increment(1),
            None => {
                let counter = metrics::counter!("sentiserve_http_requests_total",
                    "method" => method.to_string(), "route" => route.to_string(), "status" => status.to_string());
                counter.increment(1);
                handles.by_status.push((status, counter));
            }
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn http_requests_are_counted_by_status_and_timed_by_route_through_cached_handles() {
        let handle = prometheus();
        for (status, seconds) in [(200, 0.0002), (200, 0.02), (404, 0.0002)] {
            record(&Method::POST, "/telemetry-test", status, seconds);
        }
        let text = handle.render();
        let line = |prefix: &str| text.lines().find_map(|l| l.strip_prefix(prefix).map(str::to_owned));
        let count = |status: &str| {
            line(&format!(
                "sentiserve_http_requests_total{{method=\"POST\",route=\"/telemetry-test\",status=\"{status}\"}} "
            ))
        };
        assert_eq!(count("200").as_deref(), Some("2"), "{text}");
        assert_eq!(count("404").as_deref(), Some("1"), "{text}");
        let bucket = |le: &str| {
            line(&format!(
                "sentiserve_http_request_duration_seconds_bucket{{method=\"POST\",route=\"/telemetry-test\",le=\"{le}\"}} "
            ))
        };
        assert_eq!(bucket("0.0005").as_deref(), Some("2"), "{text}");
        assert_eq!(bucket("0.025").as_deref(), Some("3"), "{text}");
    }

    #[test]
    fn every_histogram_is_exported_with_buckets_not_as_a_summary() {
        let handle = prometheus();
        let histograms = [
            ("sentiserve_input_tokens", 100.0),
            ("sentiserve_batch_size", 3.0),
            ("sentiserve_batch_seconds", 0.02),
            ("sentiserve_model_load_seconds", 1.5),
        ];
        for (name, value) in histograms {
            metrics::histogram!(name, "model" => "telemetry-test").record(value);
        }
        let text = handle.render();
        for (name, _) in histograms {
            assert!(text.contains(&format!("{name}_bucket{{")), "{name} has no buckets:\n{text}");
            let summary = text.lines().any(|l| l.starts_with(name) && l.contains("quantile="));
            assert!(!summary, "{name} is a summary:\n{text}");
        }
        let tokens = |le: &str| {
            let prefix = format!("sentiserve_input_tokens_bucket{{model=\"telemetry-test\",le=\"{le}\"}} ");
            text.lines().find_map(|l| l.strip_prefix(&prefix).map(str::to_owned))
        };
        assert_eq!(tokens("64").as_deref(), Some("0"), "{text}");
        assert_eq!(tokens("128").as_deref(), Some("1"), "{text}");
        assert_eq!(tokens("8192").as_deref(), Some("1"), "{text}");
    }
}

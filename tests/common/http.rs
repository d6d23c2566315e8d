//! One HTTP helper for every test server, in-process ([`super::server::TestServer`]) or
//! a child process ([`super::procs::ServerProcess`]): JSON requests and waits on
//! conditions (never fixed sleeps).
#![allow(dead_code)]

use std::path::PathBuf;
use std::time::{Duration, Instant};

use serde_json::Value;

/// How long a wait on a server condition may take before the test fails.
pub const WAIT: Duration = Duration::from_secs(60);
/// Pause between polls of a condition.
pub const POLL: Duration = Duration::from_millis(20);

/// A client bound to one server's base URL.
#[derive(Clone)]
pub struct Http {
    pub base: String,
    pub client: reqwest::Client,
    /// The server's log file, shown when a wait fails.
    pub log: Option<PathBuf>,
}

async fn read(response: reqwest::Response) -> (u16, Value) {
    let status = response.status().as_u16();
    let text = response.text().await.unwrap();
    let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
    (status, body)
}

impl Http {
    pub fn new(base: String, log: Option<PathBuf>) -> Self {
        Self { base, client: reqwest::Client::new(), log }
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// The server's log so far (empty for in-process servers).
    pub fn log_text(&self) -> String {
        self.log.as_ref().and_then(|p| std::fs::read_to_string(p).ok()).unwrap_or_default()
    }

    /// `POST /analyze` with a JSON body; returns status and JSON body.
    pub async fn analyze(&self, body: Value) -> (u16, Value) {
        read(self.client.post(self.url("/analyze")).json(&body).send().await.unwrap()).await
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        read(self.client.get(self.url(path)).send().await.unwrap()).await
    }

    /// `GET path`, asserting 200; returns the JSON body.
    pub async fn get_json(&self, path: &str) -> Value {
        let (status, body) = self.get(path).await;
        assert_eq!(status, 200, "GET {path}: {body}");
        body
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        read(self.client.delete(self.url(path)).send().await.unwrap()).await
    }

    pub async fn post(&self, path: &str) -> (u16, Value) {
        read(self.client.post(self.url(path)).send().await.unwrap()).await
    }

    /// The `/models` entry of `name`.
    pub async fn model(&self, name: &str) -> Value {
        let body = self.get_json("/models").await;
        body["models"].as_array().unwrap().iter().find(|m| m["name"] == name).cloned().unwrap()
    }

    /// The `tiers` entry of `tier` in `GET /cache` (null when absent).
    pub async fn tier(&self, tier: &str) -> Value {
        let stats = self.get_json("/cache").await;
        stats["tiers"].as_array().unwrap().iter().find(|t| t["tier"] == tier).cloned().unwrap_or(Value::Null)
    }

    /// Polls until `check` holds for the value `probe` returns; fails after [`WAIT`].
    pub async fn wait_for<F, Fut>(&self, what: &str, probe: F, check: impl Fn(&Value) -> bool) -> Value
    where
        F: Fn() -> Fut,
        Fut: std::future::Future<Output = Value>,
    {
        let deadline = Instant::now() + WAIT;
        loop {
            let value = probe().await;
            if check(&value) {
                return value;
            }
            assert!(Instant::now() < deadline, "never {what}: {value}\n{}", self.log_text());
            tokio::time::sleep(POLL).await;
        }
    }

    /// Polls `/health` until it answers `want`; returns its body.
    pub async fn wait_health(&self, want: u16) -> Value {
        let probe = || async {
            match self.client.get(self.url("/health")).send().await {
                Ok(response) => {
                    let (status, body) = read(response).await;
                    serde_json::json!({ "status": status, "body": body })
                }
                Err(e) => serde_json::json!({ "status": 0, "body": e.to_string() }),
            }
        };
        let seen = self.wait_for(&format!("healthy ({want})"), probe, |v| v["status"] == want).await;
        seen["body"].clone()
    }

    /// Polls `GET /cache` until `check(tier stats)` holds.
    pub async fn wait_tier(&self, tier: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        self.wait_for(&format!("{tier} tier {what}"), || self.tier(tier), check).await
    }

    /// Polls the server's log until it holds `needle` (lines reach the file from a
    /// writer thread, a moment after the event); returns the log.
    pub async fn wait_log(&self, needle: &str) -> String {
        let probe = || async { Value::String(self.log_text()) };
        let log = self
            .wait_for(&format!("logged {needle:?}"), probe, |v| v.as_str().is_some_and(|t| t.contains(needle)))
            .await;
        log.as_str().unwrap_or_default().to_string()
    }

    /// Polls `/models` until `name` is in `state`; returns its entry.
    pub async fn wait_model(&self, name: &str, state: &str) -> Value {
        self.wait_for(&format!("{name} {state}"), || self.model(name), |m| m["state"] == state).await
    }
}

//! Starts an in-process server on a free loopback port for end-to-end tests.
#![allow(dead_code)]

use std::time::{Duration, Instant};

use sentiserve::config::Catalog;
use sentiserve::model::ModelSource;
use sentiserve::registry::ModelSpec;
use sentiserve::{App, ServerConfig};
use serde_json::Value;

/// A running server and a client for it; the server stops when this is dropped.
pub struct TestServer {
    pub base: String,
    pub client: reqwest::Client,
    _stop: tokio::sync::oneshot::Sender<()>,
}

/// A configuration whose models are `(name, directory)` pairs, the first the default,
/// all preloaded.
pub fn config(models: &[(&str, std::path::PathBuf)]) -> ServerConfig {
    let specs = models
        .iter()
        .map(|(name, dir)| ModelSpec { name: name.to_string(), source: ModelSource::Local(dir.clone()) })
        .collect();
    let mut config = ServerConfig::new(Catalog { models: specs, default: models[0].0.to_string() });
    config.preload = models.iter().map(|(n, _)| n.to_string()).collect();
    config
}

/// Serves `config` on 127.0.0.1 with an ephemeral port.
pub async fn start(config: ServerConfig) -> TestServer {
    let app = App::new(config).expect("app builds");
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let base = format!("http://{}", listener.local_addr().unwrap());
    let (stop, stopped) = tokio::sync::oneshot::channel::<()>();
    app.spawn_preload();
    tokio::spawn(async move {
        app.serve(listener, async {
            let _ = stopped.await;
        })
        .await
        .unwrap();
    });
    TestServer { base, client: reqwest::Client::new(), _stop: stop }
}

impl TestServer {
    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    /// Polls `/health` until it answers `want` (60 s at most).
    pub async fn wait_health(&self, want: u16) -> Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let response = self.client.get(self.url("/health")).send().await.unwrap();
            let status = response.status().as_u16();
            let body: Value = response.json().await.unwrap();
            if status == want {
                return body;
            }
            assert!(Instant::now() < deadline, "health never became {want}: {status} {body}");
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// `POST /analyze` with a JSON body; returns status and JSON body.
    pub async fn analyze(&self, body: Value) -> (u16, Value) {
        let response = self.client.post(self.url("/analyze")).json(&body).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        let response = self.client.get(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let response = self.client.delete(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    pub async fn post(&self, path: &str) -> (u16, Value) {
        let response = self.client.post(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// The `/models` entry of `name`.
    pub async fn model(&self, name: &str) -> Value {
        let (_, body) = self.get("/models").await;
        body["models"].as_array().unwrap().iter().find(|m| m["name"] == name).cloned().unwrap()
    }
}

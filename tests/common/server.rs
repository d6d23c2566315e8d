//! Starts an in-process server on a free loopback port for end-to-end tests.
#![allow(dead_code)]

use sentiserve::config::Catalog;
use sentiserve::model::ModelSource;
use sentiserve::registry::ModelSpec;
use sentiserve::{App, ServerConfig};

use super::http::Http;

/// A running server and a client for it; the server stops when this is dropped.
pub struct TestServer {
    http: Http,
    _stop: tokio::sync::oneshot::Sender<()>,
}

impl std::ops::Deref for TestServer {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.http
    }
}

/// A configuration whose models are `(name, directory)` pairs, the first the default,
/// all preloaded.
pub fn config(models: &[(&str, std::path::PathBuf)]) -> ServerConfig {
    let specs = models.iter().map(|(name, dir)| ModelSpec::new(*name, ModelSource::Local(dir.clone()))).collect();
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
    TestServer { http: Http::new(base, None), _stop: stop }
}

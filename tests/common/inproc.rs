//! The in-process layer: an [`App`] over the fake engine ([`super::fake`]), driven
//! through its router with `oneshot` — no weights, no sockets, no server process.

use std::sync::Arc;

use axum::body::Body;
use axum::http::{Method, Request, StatusCode};
use http_body_util::BodyExt;
use sentiserve::config::manifest::Catalog;
use sentiserve::{App, ServerConfig};
use serde_json::Value;
use tower::ServiceExt;

use super::fake::{self, Activity, FakeLoader, FakeModel};

/// A configuration over fake models named `names` (the first is the default and is
/// preloaded).
pub fn config(names: &[&str]) -> ServerConfig {
    let catalog = Catalog { models: names.iter().map(|n| fake::spec(n)).collect(), default: names[0].to_string() };
    ServerConfig::new(catalog)
}

/// An app and what its fakes did.
pub struct InProc {
    pub app: App,
    router: tower::util::BoxCloneSyncService<Request<Body>, axum::response::Response, std::convert::Infallible>,
    pub loader: Arc<FakeLoader>,
}

/// A response: status, headers and the body as JSON (`Value::Null` when not JSON).
pub struct Reply {
    pub status: StatusCode,
    pub headers: axum::http::HeaderMap,
    pub json: Value,
    pub text: String,
}

impl InProc {
    /// An app over `config`, serving [`FakeModel::sentiment`] under every configured
    /// name. Preloads nothing until [`InProc::ready`].
    pub fn new(config: ServerConfig) -> Self {
        let names: Vec<String> = config.catalog.models.iter().map(|m| m.name.clone()).collect();
        let loader = Arc::new(FakeLoader::default());
        for name in &names {
            loader.set(name, FakeModel::sentiment());
        }
        Self::with_loader(config, loader)
    }

    /// An app over `config` with the models `loader` holds.
    pub fn with_loader(config: ServerConfig, loader: Arc<FakeLoader>) -> Self {
        let app = App::with_loader(config, Arc::clone(&loader) as Arc<dyn sentiserve::engine::Loader>).unwrap();
        Self { router: tower::util::BoxCloneSyncService::new(app.router()), app, loader }
    }

    /// An app over `config` with the models `loader` holds and `tiers` below memory.
    pub fn with_tiers(
        config: ServerConfig,
        loader: Arc<FakeLoader>,
        tiers: Vec<Box<dyn sentiserve::cache::Tier>>,
    ) -> Self {
        let app = App::with_tiers(config, Arc::clone(&loader) as Arc<dyn sentiserve::engine::Loader>, tiers).unwrap();
        Self { router: tower::util::BoxCloneSyncService::new(app.router()), app, loader }
    }

    pub fn activity(&self) -> &Activity {
        &self.loader.activity
    }

    /// Loads the preload models and waits for them.
    pub async fn ready(self) -> Self {
        self.app.spawn_preload().await.unwrap();
        self
    }

    /// Sends one request through the router.
    pub async fn send(&self, method: Method, uri: &str, body: Option<&Value>, headers: &[(&str, &str)]) -> Reply {
        let mut builder = Request::builder().method(method).uri(uri);
        for (name, value) in headers {
            builder = builder.header(*name, *value);
        }
        let body = match body {
            Some(json) => {
                builder = builder.header("content-type", "application/json");
                Body::from(serde_json::to_vec(json).unwrap())
            }
            None => Body::empty(),
        };
        let response = self.router.clone().oneshot(builder.body(body).unwrap()).await.unwrap();
        let (parts, body) = response.into_parts();
        let bytes = body.collect().await.unwrap().to_bytes();
        let text = String::from_utf8_lossy(&bytes).into_owned();
        Reply {
            status: parts.status,
            headers: parts.headers,
            json: serde_json::from_slice(&bytes).unwrap_or(Value::Null),
            text,
        }
    }

    pub async fn get(&self, uri: &str) -> Reply {
        self.send(Method::GET, uri, None, &[]).await
    }

    pub async fn post(&self, uri: &str, body: &Value) -> Reply {
        self.send(Method::POST, uri, Some(body), &[]).await
    }

    pub async fn delete(&self, uri: &str) -> Reply {
        self.send(Method::DELETE, uri, None, &[]).await
    }

    pub async fn analyze(&self, body: &Value) -> Reply {
        self.post("/analyze", body).await
    }
}

impl Reply {
    /// The `cached` flag of every result.
    pub fn cached(&self) -> Vec<bool> {
        self.json["results"].as_array().map_or_else(Vec::new, |r| r.iter().map(|x| x["cached"] == true).collect())
    }

    /// The error's `type` (`{"error": {"type": …}}`).
    pub fn error_type(&self) -> &str {
        self.json["error"]["type"].as_str().unwrap_or("")
    }
}

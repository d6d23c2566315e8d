//! API keys, request ids, CORS and the embedded page, over real TCP.

mod common;

use common::server::{config, start};
use serde_json::{json, Value};

const USER: &str = "user-key-123";
const ADMIN: &str = "admin-key-456";

#[tokio::test(flavor = "multi_thread")]
async fn keys_guard_inference_and_admin_routes_and_leave_operations_open() {
    let mut cfg = config(&[("minilm", common::minilm_dir())]);
    cfg.http.api_key = Some(USER.into());
    cfg.http.admin_key = Some(ADMIN.into());
    let server = start(cfg).await;
    server.wait_health(200).await;
    let c = &server.client;
    let analyze = || c.post(server.url("/analyze")).json(&json!({ "text": "I love it" }));

    let response = analyze().send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.headers()["www-authenticate"], "Bearer realm=\"sentiserve\"");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "unauthorized");
    assert_eq!(analyze().bearer_auth("wrong").send().await.unwrap().status(), 401);
    assert_eq!(analyze().bearer_auth(USER).send().await.unwrap().status(), 200);
    assert_eq!(analyze().header("x-api-key", USER).send().await.unwrap().status(), 200);
    assert_eq!(analyze().bearer_auth(ADMIN).send().await.unwrap().status(), 200);
    assert_eq!(c.get(server.url("/models")).send().await.unwrap().status(), 401);
    assert_eq!(c.get(server.url("/cache")).bearer_auth(USER).send().await.unwrap().status(), 200);

    // The model is loaded (waited for above), so every open route answers 200 without a key.
    for path in ["/health", "/metrics", "/", "/static/app.js", "/static/style.css", "/openapi.json"] {
        let status = c.get(server.url(path)).send().await.unwrap().status();
        assert_eq!(status, 200, "{path}");
    }

    for (method, path) in [("DELETE", "/cache"), ("POST", "/models/minilm/load"), ("DELETE", "/models/minilm")] {
        let request =
            |key: &str| c.request(method.parse().unwrap(), server.url(path)).bearer_auth(key.to_string()).send();
        assert_eq!(request(USER).await.unwrap().status(), 401, "{method} {path} with the API key");
        assert_eq!(request(ADMIN).await.unwrap().status(), 200, "{method} {path} with the admin key");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_response_carries_a_request_id() {
    let server = start(config(&[("minilm", common::minilm_dir())])).await;
    server.wait_health(200).await;
    let response = server.client.get(server.url("/models")).send().await.unwrap();
    let id = response.headers()["x-request-id"].to_str().unwrap().to_string();
    assert_eq!(id.len(), 36, "a UUID: {id}");
    let response =
        server.client.get(server.url("/nowhere")).header("x-request-id", "trace-me-42").send().await.unwrap();
    assert_eq!(response.status(), 404);
    assert_eq!(response.headers()["x-request-id"], "trace-me-42");
}

#[tokio::test(flavor = "multi_thread")]
async fn cors_is_off_by_default_and_answers_configured_origins() {
    let preflight = |server: &common::server::TestServer, origin: &'static str| {
        server
            .client
            .request(reqwest::Method::OPTIONS, server.url("/analyze"))
            .header("origin", origin)
            .header("access-control-request-method", "POST")
            .header("access-control-request-headers", "content-type,authorization")
            .send()
    };
    let closed = start(config(&[("minilm", common::minilm_dir())])).await;
    let response = preflight(&closed, "https://app.example").await.unwrap();
    assert!(response.headers().get("access-control-allow-origin").is_none());

    let mut cfg = config(&[("minilm", common::minilm_dir())]);
    cfg.http.cors_origins = vec!["https://app.example".parse().unwrap()];
    let open = start(cfg).await;
    let response = preflight(&open, "https://app.example").await.unwrap();
    assert_eq!(response.headers()["access-control-allow-origin"], "https://app.example");
    let allowed = response.headers()["access-control-allow-headers"].to_str().unwrap().to_lowercase();
    assert!(allowed.contains("authorization"), "{allowed}");
    let response = preflight(&open, "https://evil.example").await.unwrap();
    assert!(response.headers().get("access-control-allow-origin").is_none());
}

#[tokio::test(flavor = "multi_thread")]
async fn the_page_and_its_assets_are_served_with_the_right_types() {
    let server = start(config(&[("minilm", common::minilm_dir())])).await;
    for (path, content_type, marker) in [
        ("/", "text/html", "id=\"analyze\""),
        ("/static/app.js", "text/javascript", "/analyze"),
        ("/static/style.css", "text/css", "{"),
    ] {
        let response = server.client.get(server.url(path)).send().await.unwrap();
        assert_eq!(response.status(), 200, "{path}");
        let ct = response.headers()["content-type"].to_str().unwrap().to_string();
        assert!(ct.starts_with(content_type), "{path}: {ct}");
        let body = response.text().await.unwrap();
        assert!(body.contains(marker), "{path} lacks {marker}");
        assert!(!body.contains("http://") && !body.contains("https://cdn"), "{path} must not load remote assets");
    }
}

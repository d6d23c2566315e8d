//! `GET /openapi.json` covers every route and validates as OpenAPI 3 (checked by
//! `openapi-spec-validator`, installed into target/test-venv by scripts/test-deps.sh).

mod common;

use common::server::{config, start};

#[tokio::test(flavor = "multi_thread")]
async fn the_openapi_document_covers_every_route_and_is_valid() {
    let server = start(config(&[("minilm", common::minilm_dir())])).await;
    let (status, doc) = server.get("/openapi.json").await;
    assert_eq!(status, 200);
    assert!(doc["openapi"].as_str().unwrap().starts_with("3."), "{}", doc["openapi"]);
    let routes = [
        ("post", "/analyze"),
        ("get", "/models"),
        ("post", "/models/{name}/load"),
        ("delete", "/models/{name}"),
        ("get", "/cache"),
        ("delete", "/cache"),
        ("get", "/health"),
        ("get", "/metrics"),
        ("get", "/openapi.json"),
        ("get", "/"),
        ("get", "/static/app.js"),
        ("get", "/static/style.css"),
    ];
    for (method, path) in routes {
        let operation = &doc["paths"][path][method];
        assert!(operation.is_object(), "{method} {path} is not documented");
        assert!(operation["responses"]["200"].is_object(), "{method} {path} has no 200 response");
    }
    // Every documented error of /analyze points at the error schema.
    let responses = doc["paths"]["/analyze"]["post"]["responses"].as_object().unwrap();
    for code in ["400", "401", "404", "413", "415", "422", "429", "500", "503"] {
        let schema = &responses[code]["content"]["application/json"]["schema"]["$ref"];
        assert_eq!(schema, "#/components/schemas/ErrorResponse", "/analyze {code}");
    }
    for schema in ["Analysis", "TextResult", "LabelScore", "ModelStatus", "CacheStats", "TierStats", "AnalyzeRequest"] {
        assert!(doc["components"]["schemas"][schema].is_object(), "schema {schema} missing");
    }
    assert_eq!(doc["components"]["securitySchemes"]["api_key"]["scheme"], "bearer");

    let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/openapi.json");
    std::fs::write(&path, serde_json::to_vec_pretty(&doc).unwrap()).unwrap();
    let validator =
        std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("target/test-venv/bin/openapi-spec-validator");
    assert!(validator.exists(), "run scripts/test-deps.sh (make test does) to install openapi-spec-validator");
    let output = std::process::Command::new(validator).arg(&path).output().unwrap();
    assert!(
        output.status.success(),
        "openapi-spec-validator rejected the document:\n{}{}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

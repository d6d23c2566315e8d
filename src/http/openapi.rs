//! The OpenAPI 3 document at `GET /openapi.json`: paths come from the route table
//! (`routes.rs`), the rest (info, tags, the bearer scheme) from [`ApiDoc`].

use std::sync::Arc;

use axum::http::header;
use axum::response::IntoResponse;
use axum::Extension;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

/// The name of the bearer-key security scheme in the document.
pub const BEARER_SCHEME: &str = "api_key";

/// The document's root: everything but the paths.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "sentiserve",
        description = "Text-classification inference with a model registry and a tiered prediction cache."
    ),
    modifiers(&BearerKey),
    tags(
        (name = "inference", description = "Classify texts"),
        (name = "compatibility", description = "Hugging Face TEI and Inference API shapes"),
        (name = "models", description = "The model registry"),
        (name = "cache", description = "The prediction cache"),
        (name = "operations", description = "Probes and metrics"),
        (name = "ui", description = "The web page"),
    )
)]
pub struct ApiDoc;

/// Declares the bearer scheme used by protected routes.
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            BEARER_SCHEME,
            SecurityScheme::Http(
                HttpBuilder::new()
                    .scheme(HttpAuthScheme::Bearer)
                    .description(Some(
                        "`--api-key` for inference and reads, `--admin-key` for load/unload and clearing",
                    ))
                    .build(),
            ),
        );
    }
}

/// The serialized document, built once when the router is.
#[derive(Clone)]
pub struct Document(pub Arc<String>);

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "This document", content_type = "application/json")))]
pub async fn openapi_json(Extension(Document(json)): Extension<Document>) -> impl IntoResponse {
    ([(header::CONTENT_TYPE, "application/json")], json.as_str().to_owned())
}

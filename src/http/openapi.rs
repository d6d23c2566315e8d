//! The OpenAPI 3 document at `GET /openapi.json`, generated from the handlers' types
//! and annotations (utoipa; no Swagger UI assets).

use axum::Json;
use utoipa::openapi::security::{HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};

use super::{routes, ui};

/// The document's root.
#[derive(OpenApi)]
#[openapi(
    info(
        title = "sentiserve",
        description = "Text-classification inference with a model registry and a tiered prediction cache."
    ),
    paths(
        routes::analyze,
        routes::list_models,
        routes::load_model,
        routes::unload_model,
        routes::cache_stats,
        routes::clear_cache,
        routes::health,
        routes::metrics,
        openapi_json,
        ui::index,
        ui::script,
        ui::style,
    ),
    modifiers(&BearerKey),
    tags(
        (name = "inference", description = "Classify texts"),
        (name = "models", description = "The model registry"),
        (name = "cache", description = "The prediction cache"),
        (name = "operations", description = "Health and metrics"),
        (name = "ui", description = "The web page"),
    )
)]
pub struct ApiDoc;

/// Declares the `api_key` bearer scheme used by protected routes.
struct BearerKey;

impl Modify for BearerKey {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "api_key",
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

/// `GET /openapi.json`.
#[utoipa::path(get, path = "/openapi.json", tag = "operations", responses((status = 200, description = "This document", content_type = "application/json")))]
pub async fn openapi_json() -> Json<utoipa::openapi::OpenApi> {
    Json(ApiDoc::openapi())
}

//! The route table, once: sub-routers by access level, each behind its route guard
//! (metrics, body limits and the key check: `super::guard`),
//! registered through `utoipa-axum` so that the OpenAPI document is built from the
//! same table (a route cannot be served without being documented, nor documented with
//! the wrong security).

use std::sync::Arc;

use utoipa::openapi::path::{Operation, PathItem};
use utoipa::openapi::security::SecurityRequirement;
use utoipa::OpenApi;
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

use super::auth::{self, Access, Keys};
use super::body::BodyLimits;
use super::guard::GuardLayer;
use super::handlers::{analyze, cache, models, operations};
use super::openapi::{self, ApiDoc, BEARER_SCHEME};
use super::state::AppState;
use super::{compat, hf_inference, rerank, tei_error, tokenize, ui, zero_shot};

/// Every route: open (page, document, probes, metrics), inference (API key), TEI's
/// (API key, TEI's error shape) and admin (admin key), each guarded with `body`'s
/// limits.
pub fn table(keys: Arc<Keys>, body: BodyLimits) -> OpenApiRouter<AppState> {
    let open = OpenApiRouter::new()
        .routes(routes!(ui::index))
        .routes(routes!(ui::script))
        .routes(routes!(ui::style))
        .routes(routes!(openapi::openapi_json))
        .routes(routes!(operations::health))
        .routes(routes!(operations::livez))
        .routes(routes!(operations::readyz))
        .routes(routes!(operations::metrics));
    let inference = OpenApiRouter::new()
        .routes(routes!(analyze::analyze))
        .routes(routes!(zero_shot::zero_shot))
        .routes(routes!(hf_inference::hf_inference))
        .routes(routes!(models::list_models))
        .routes(routes!(cache::cache_stats));
    // TEI's routes answer errors in TEI's shape, key-check errors included (the layer
    // goes outside the key check).
    let tei = OpenApiRouter::new()
        .routes(routes!(compat::predict))
        .routes(routes!(compat::info))
        .routes(routes!(rerank::rerank))
        .routes(routes!(tokenize::tokenize))
        .routes(routes!(tokenize::decode));
    let tei = documented(
        tei.route_layer(axum::middleware::from_fn_with_state((Arc::clone(&keys), Access::Inference), auth::require)),
    )
    .route_layer(axum::middleware::from_fn(tei_error::answer_as_tei))
    .route_layer(GuardLayer { keys: Arc::clone(&keys), access: Access::Open, body, route: None });
    let guard = |access| GuardLayer { keys: Arc::clone(&keys), access, body, route: None };
    let admin = OpenApiRouter::new()
        .routes(routes!(models::load_model))
        .routes(routes!(models::reload_model))
        .routes(routes!(models::unload_model))
        .routes(routes!(cache::clear_cache));
    OpenApiRouter::with_openapi(ApiDoc::openapi())
        .merge(open.route_layer(guard(Access::Open)))
        .merge(documented(inference.route_layer(guard(Access::Inference))))
        .merge(tei)
        .merge(documented(admin.route_layer(guard(Access::Admin))))
}

/// Documents `router`'s operations as accepting the bearer key (optional: keys are off
/// unless configured).
fn documented(mut router: OpenApiRouter<AppState>) -> OpenApiRouter<AppState> {
    let security = vec![SecurityRequirement::default(), SecurityRequirement::new(BEARER_SCHEME, Vec::<String>::new())];
    for item in router.get_openapi_mut().paths.paths.values_mut() {
        for operation in operations(item) {
            operation.security = Some(security.clone());
        }
    }
    router
}

/// Every operation of a path item.
fn operations(item: &mut PathItem) -> impl Iterator<Item = &mut Operation> {
    [
        &mut item.get,
        &mut item.put,
        &mut item.post,
        &mut item.delete,
        &mut item.options,
        &mut item.head,
        &mut item.patch,
        &mut item.trace,
    ]
    .into_iter()
    .filter_map(Option::as_mut)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_guarded_operation_is_documented_with_the_key_and_open_ones_without() {
        let body = BodyLimits { max_bytes: 1 << 20, read_timeout: std::time::Duration::from_secs(1) };
        let doc = table(Arc::new(Keys::default()), body).into_openapi();
        let json = serde_json::to_value(&doc).unwrap();
        let secured = |path: &str, method: &str| json["paths"][path][method]["security"].is_array();
        for (path, method) in [
            ("/analyze", "post"),
            ("/predict", "post"),
            ("/info", "get"),
            ("/rerank", "post"),
            ("/tokenize", "post"),
            ("/decode", "post"),
            ("/hf-inference/models/{name}", "post"),
            ("/models", "get"),
            ("/cache", "get"),
            ("/cache", "delete"),
        ] {
            assert!(secured(path, method), "{method} {path}");
        }
        for (path, method) in
            [("/models/{name}/load", "post"), ("/models/{name}/reload", "post"), ("/models/{name}", "delete")]
        {
            assert!(secured(path, method), "{method} {path}");
        }
        for (path, method) in [
            ("/health", "get"),
            ("/livez", "get"),
            ("/readyz", "get"),
            ("/metrics", "get"),
            ("/", "get"),
            ("/openapi.json", "get"),
        ] {
            assert!(json["paths"][path][method].is_object(), "{method} {path} is documented");
            assert!(!secured(path, method), "{method} {path} is open");
        }
    }
}

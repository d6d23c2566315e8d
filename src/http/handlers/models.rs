//! The model registry's routes: list (inference key), load, reload and unload
//! (admin key).

use axum::extract::{Path, State};
use axum::Json;

use crate::http::error::{ApiError, ErrorResponse};
use crate::http::state::AppState;
use crate::http::wire::{ModelStatus, ModelsReport};

/// `GET /models`.
#[utoipa::path(
    get, path = "/models", tag = "models",
    responses(
        (status = 200, description = "Every configured model", body = ModelsReport),
        (status = 401, description = "Missing or wrong API key", body = ErrorResponse),
    ),
)]
pub async fn list_models(State(state): State<AppState>) -> Json<ModelsReport> {
    Json(state.service.models().into())
}

/// `POST /models/{name}/load`: loads (or retries) a configured model; 503 with the
/// reason when the load fails.
#[utoipa::path(
    post, path = "/models/{name}/load", tag = "models",
    params(("name" = String, Path, description = "A configured model name")),
    responses(
        (status = 200, description = "The model is loaded", body = ModelStatus),
        (status = 401, description = "Missing or wrong admin key", body = ErrorResponse),
        (status = 404, description = "Unknown model", body = ErrorResponse),
        (status = 503, description = "The load failed; the message says why", body = ErrorResponse),
    ),
)]
pub async fn load_model(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ModelStatus>, ApiError> {
    Ok(Json(state.service.load(&name).await?.into()))
}

/// `POST /models/{name}/reload`: loads the model's weights again from its sources
/// beside the serving ones and swaps them in atomically (no gap, no error for
/// requests); a failed reload keeps the old weights serving.
#[utoipa::path(
    post, path = "/models/{name}/reload", tag = "models",
    params(("name" = String, Path, description = "A configured model name")),
    responses(
        (status = 200, description = "The new weights serve (a model that was not loaded is loaded)", body = ModelStatus),
        (status = 401, description = "Missing or wrong admin key", body = ErrorResponse),
        (status = 404, description = "Unknown model", body = ErrorResponse),
        (status = 503, description = "The reload failed (the previous weights keep serving) or the load failed", body = ErrorResponse),
    ),
)]
pub async fn reload_model(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ModelStatus>, ApiError> {
    Ok(Json(state.service.reload(&name).await?.into()))
}

/// `DELETE /models/{name}`: unloads a model; its cached predictions stay valid.
#[utoipa::path(
    delete, path = "/models/{name}", tag = "models",
    params(("name" = String, Path, description = "A configured model name")),
    responses(
        (status = 200, description = "The model is unloaded", body = ModelStatus),
        (status = 401, description = "Missing or wrong admin key", body = ErrorResponse),
        (status = 404, description = "Unknown model", body = ErrorResponse),
    ),
)]
pub async fn unload_model(
    State(state): State<AppState>,
    Path(name): Path<String>,
) -> Result<Json<ModelStatus>, ApiError> {
    Ok(Json(state.service.unload(&name).await?.into()))
}

//! Hugging Face TEI's `POST /predict` and `GET /info`, so TEI's users switch by
//! changing the host (the Inference API's route is [`super::hf_inference`]; TEI's
//! `/rerank`, `/tokenize` and `/decode` have their own modules). Both go through the same [`Service::analyze`](crate::service::Service::analyze) as
//! `POST /analyze`, so they share its cache and batching.

use std::collections::BTreeMap;

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::ApiError;
use super::extract::{JsonWithHeaders, QueryParams};
use super::json::JsonAnswer;
use super::request::analyze::non_null;
use super::request::inputs::{self, tei_schema};
use super::request::{prepare, PipelineOptions, Prepared, TruncationDirection};
use super::state::AppState;
use super::tei_error::TeiErrorResponse;
use crate::model;

/// Query of the TEI routes.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
#[serde(deny_unknown_fields)]
pub struct ModelQuery {
    /// A configured model name; the default model when absent.
    pub model: Option<String>,
}

/// Body of TEI's `POST /predict` (fields TEI does not know are ignored, as TEI does).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct PredictRequest {
    /// A string; a `[text, text_pair]` pair; or a batch: `[[text], ...]` or
    /// `[[text, text_pair], ...]`.
    #[schema(schema_with = tei_schema, example = json!("I love this movie!"))]
    pub inputs: Value,
    /// Raw logits instead of softmax/sigmoid scores.
    #[serde(default)]
    pub raw_scores: bool,
    /// Cut over-long inputs (default `true`, as TEI with `--auto-truncate`); `false`
    /// answers 413 `input_too_long`.
    pub truncate: Option<bool>,
    /// Which end of an over-long input is cut: `"Right"` (default) or `"Left"`
    /// (lower case too).
    #[schema(value_type = String, pattern = "^(Left|Right|left|right)$")]
    #[serde(default, deserialize_with = "non_null")]
    pub truncation_direction: Option<TruncationDirection>,
}

/// TEI's `{"score", "label"}` element.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Prediction {
    /// Probability (or raw logit with `raw_scores`).
    pub score: f32,
    /// Label name.
    pub label: String,
}

/// TEI's answer: one list (all labels, best first) for a single input, a list of
/// lists for a batch.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum PredictResponse {
    /// A single input.
    Single(Vec<Prediction>),
    /// A batch, in input order.
    Batch(Vec<Vec<Prediction>>),
}

/// TEI's elements for one input's scores.
fn predictions(scores: Vec<model::LabelScore>) -> Vec<Prediction> {
    scores.into_iter().map(|s| Prediction { score: s.score, label: s.label }).collect()
}

/// `POST /predict`: TEI's sequence-classification route.
#[utoipa::path(
    post, path = "/predict", tag = "compatibility", request_body = PredictRequest, params(ModelQuery),
    responses(
        (status = 200, description = "All labels, best first; one list per input for a batch", body = PredictResponse),
        (status = 400, description = "Malformed JSON or query string, or an empty batch", body = TeiErrorResponse),
        (status = 401, description = "Missing or wrong API key", body = TeiErrorResponse),
        (status = 404, description = "Unknown model", body = TeiErrorResponse),
        (status = 413, description = "Too many inputs, or an over-long input with `truncate: false`", body = TeiErrorResponse),
        (status = 415, description = "Content type is not application/json", body = TeiErrorResponse),
        (status = 422, description = "Wrong `inputs` shape or fields", body = TeiErrorResponse),
        (status = 429, description = "The model's inference queue is full", body = TeiErrorResponse),
        (status = 503, description = "The model failed to load, or the request passed its deadline", body = TeiErrorResponse),
    ),
)]
pub async fn predict(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ModelQuery>,
    JsonWithHeaders { headers, body: request }: JsonWithHeaders<PredictRequest>,
) -> Result<JsonAnswer<PredictResponse>, ApiError> {
    let (inputs, batch) = inputs::tei(&request.inputs)?;
    let options = PipelineOptions {
        raw_scores: Some(request.raw_scores),
        truncate: request.truncate,
        truncation_direction: request.truncation_direction,
        ..Default::default()
    };
    let Prepared { inputs, options } = prepare(&state.limits, &headers, inputs, options)?;
    let analysis = state.service.analyze(query.model.as_deref(), &inputs, &options).await?;
    let mut lists = analysis.results.into_iter().map(|r| predictions(r.scores));
    Ok(JsonAnswer(if batch {
        PredictResponse::Batch(lists.collect())
    } else {
        PredictResponse::Single(lists.next().unwrap_or_default())
    }))
}

/// TEI's `GET /info`, for a sequence classifier.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Info {
    /// The model's source (Hub id or directory).
    pub model_id: String,
    /// The name clients select it by (`?model=`): its configured name.
    pub served_model_name: String,
    /// The resolved Hub commit, if any.
    pub model_sha: Option<String>,
    /// Compute dtype.
    pub model_dtype: String,
    /// `{"classifier": {"id2label": {...}, "label2id": {...}}}`; a one-label model
    /// (a cross-encoder) is `{"reranker": {...}}`, as TEI reports it.
    #[schema(value_type = Object)]
    pub model_type: Value,
    /// Most inputs queued per model.
    pub max_concurrent_requests: usize,
    /// Longest input in tokens.
    pub max_input_length: usize,
    /// Most padded tokens in one forward pass.
    pub max_batch_tokens: usize,
    /// Most inputs in one forward pass.
    pub max_batch_requests: Option<usize>,
    /// Most inputs in one request (`--max-texts`).
    pub max_client_batch_size: usize,
    /// Whether over-long inputs are cut by default.
    pub auto_truncate: bool,
    /// Tokenization threads per model.
    pub tokenization_workers: usize,
    /// sentiserve's version.
    pub version: &'static str,
    /// The configured model name (sentiserve's addition).
    pub model_name: String,
    /// The model's architecture (sentiserve's addition).
    pub architecture: String,
}

/// `GET /info`: TEI's model description (loads the model if needed).
#[utoipa::path(
    get, path = "/info", tag = "compatibility", params(ModelQuery),
    responses(
        (status = 200, description = "The model and the server's limits", body = Info),
        (status = 400, description = "Malformed query string", body = TeiErrorResponse),
        (status = 401, description = "Missing or wrong API key", body = TeiErrorResponse),
        (status = 404, description = "Unknown model", body = TeiErrorResponse),
        (status = 503, description = "The model failed to load", body = TeiErrorResponse),
    ),
)]
pub async fn info(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ModelQuery>,
) -> Result<Json<Info>, ApiError> {
    let model = state.service.model_info(query.model.as_deref()).await?;
    let id2label: BTreeMap<String, &String> =
        model.id2label.iter().enumerate().map(|(i, l)| (i.to_string(), l)).collect();
    let label2id: BTreeMap<&String, usize> = model.id2label.iter().enumerate().map(|(i, l)| (l, i)).collect();
    let batch = &model.batch;
    Ok(Json(Info {
        model_id: model.source,
        served_model_name: model.name.clone(),
        model_sha: model.revision,
        model_dtype: match model.dtype {
            crate::model::Dtype::F32 => "float32".into(),
            crate::model::Dtype::Bf16 => "bfloat16".into(),
            crate::model::Dtype::Int8 => "int8".into(),
        },
        model_type: match model.id2label.len() {
            1 => serde_json::json!({ "reranker": { "id2label": id2label, "label2id": label2id } }),
            _ => serde_json::json!({ "classifier": { "id2label": id2label, "label2id": label2id } }),
        },
        max_concurrent_requests: batch.queue_capacity,
        max_input_length: model.max_tokens,
        max_batch_tokens: batch.max_batch_tokens,
        max_batch_requests: Some(batch.max_batch_size),
        max_client_batch_size: state.limits.max_texts,
        auto_truncate: true,
        tokenization_workers: 1,
        version: env!("CARGO_PKG_VERSION"),
        model_name: model.name,
        architecture: model.architecture,
    }))
}

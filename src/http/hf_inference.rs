//! The Hugging Face Inference API's tasks at `POST /hf-inference/models/{name}` (what
//! `huggingface_hub.InferenceClient` calls): text classification through the same
//! [`Service::analyze`](crate::service::Service::analyze) as `POST /analyze`, and
//! zero-shot classification (with `parameters.candidate_labels`) through the same
//! path as `POST /zero-shot-classification`.

use axum::extract::{Path, State};
use axum::Json;
use serde::{Deserialize, Serialize};
use serde_json::Value;

use super::error::{ApiError, ErrorResponse};
use super::extract::JsonWithHeaders;
use super::request::inputs::{self, inference_schema};
use super::request::{prepare, whole_number, PipelineOptions, Prepared};
use super::state::AppState;
use super::wire::{self, LabelScore};
use super::zero_shot;
use crate::model::ScoreFunction;
use crate::service::Analysis;

/// Body of the Inference API's text-classification task.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct InferenceRequest {
    /// One text, or several.
    #[schema(schema_with = inference_schema, example = json!("I love this movie!"))]
    pub inputs: Value,
    /// Task parameters.
    #[serde(default)]
    pub parameters: InferenceParameters,
}

/// `parameters` of the text-classification task, and of the zero-shot task when
/// `candidate_labels` is given.
#[derive(Debug, Default, Deserialize, utoipa::ToSchema)]
pub struct InferenceParameters {
    /// Keep only the best `k` labels (default: all).
    #[schema(minimum = 1)]
    #[serde(default, deserialize_with = "whole_number")]
    pub top_k: Option<usize>,
    /// `softmax`, `sigmoid` or `none`.
    #[schema(value_type = Option<wire::ScoreFunction>)]
    pub function_to_apply: Option<ScoreFunction>,
    /// Zero-shot classification: the labels to choose from (a non-empty list, or one
    /// comma-separated string), on an NLI model.
    #[schema(schema_with = zero_shot::labels_schema)]
    pub candidate_labels: Option<Value>,
    /// Zero-shot: each label becomes this sentence with the label in place of `{}`.
    #[schema(schema_with = zero_shot::template_schema)]
    pub hypothesis_template: Option<String>,
    /// Zero-shot: score each label on its own.
    pub multi_label: Option<bool>,
}

/// The Inference API's answer.
#[derive(Debug, Serialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum InferenceAnswer {
    /// Text classification, or zero-shot over several texts: one list per input, best
    /// first.
    PerInput(Vec<Vec<LabelScore>>),
    /// Zero-shot over one text: its labels, best first.
    Labels(Vec<LabelScore>),
}

/// `POST /hf-inference/models/{name}`: the Hugging Face Inference API's
/// text-classification task, answered `[[{"label", "score"}, ...], ...]`: one list per
/// input, best first. With `parameters.candidate_labels`, its zero-shot task
/// (`InferenceClient.zero_shot_classification`): `[{"label", "score"}, ...]` for one
/// text.
#[utoipa::path(
    post, path = "/hf-inference/models/{name}", tag = "compatibility", request_body = InferenceRequest,
    params(("name" = String, Path, description = "A configured model name")),
    responses(
        (status = 200, description = "One list of labels per input, best first (zero-shot on one text: its list)", body = InferenceAnswer),
        (status = 400, description = "Malformed JSON", body = ErrorResponse),
        (status = 401, description = "Missing or wrong API key", body = ErrorResponse),
        (status = 404, description = "Unknown model", body = ErrorResponse),
        (status = 409, description = "Zero-shot on a model that is not an NLI model", body = ErrorResponse),
        (status = 413, description = "Too many inputs", body = ErrorResponse),
        (status = 415, description = "Content type is not application/json", body = ErrorResponse),
        (status = 422, description = "Wrong `inputs` shape or parameters", body = ErrorResponse),
        (status = 429, description = "The model's inference queue is full", body = ErrorResponse),
        (status = 503, description = "The model failed to load, or the request passed its deadline", body = ErrorResponse),
    ),
)]
pub async fn hf_inference(
    State(state): State<AppState>,
    Path(name): Path<String>,
    JsonWithHeaders { headers, body: request }: JsonWithHeaders<InferenceRequest>,
) -> Result<Json<InferenceAnswer>, ApiError> {
    let inputs = inputs::inference(&request.inputs)?;
    let InferenceParameters { top_k, function_to_apply, candidate_labels, hypothesis_template, multi_label } =
        request.parameters;
    if let Some(candidate_labels) = &candidate_labels {
        let task = zero_shot::Task {
            candidate_labels,
            hypothesis_template: hypothesis_template.as_deref(),
            multi_label: multi_label.unwrap_or(false),
            truncate: None,
        };
        let texts: Vec<String> = inputs.iter().map(|input| input.text.to_string()).collect();
        let results = zero_shot::classify(&state, &headers, Some(&name), &texts, &task).await?;
        let mut lists = results.into_iter().map(|result| {
            let scores = result.labels.into_iter().zip(result.scores);
            scores.map(|(label, score)| LabelScore { label, score }).collect::<Vec<_>>()
        });
        return Ok(Json(match request.inputs.is_string() {
            true => InferenceAnswer::Labels(lists.next().unwrap_or_default()),
            false => InferenceAnswer::PerInput(lists.collect()),
        }));
    }
    let options = PipelineOptions { top_k, function_to_apply, ..Default::default() };
    let Prepared { inputs, options } = prepare(&state.limits, &headers, inputs, options)?;
    let Analysis { results, .. } = state.service.analyze(Some(&name), &inputs, &options).await?;
    Ok(Json(InferenceAnswer::PerInput(
        results.into_iter().map(|r| r.scores.into_iter().map(Into::into).collect()).collect(),
    )))
}

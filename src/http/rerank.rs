//! Hugging Face TEI's `POST /rerank`: a query scored against each of several texts by
//! a cross-encoder (a `*ForSequenceClassification` model with one label), best first.
//! Each (query, text) is an ordinary text pair, so it is batched and cached like any
//! other input: the same query over the same texts costs nothing the second time.

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::compat::ModelQuery;
use super::error::{ApiError, ErrorKind};
use super::extract::{JsonWithHeaders, QueryParams};
use super::request::analyze::non_null;
use super::request::{prepare, PipelineOptions, Prepared, TruncationDirection};
use super::state::AppState;
use super::tei_error::TeiErrorResponse;
use crate::model::{ScoreFunction, TextInput};

/// Body of TEI's `POST /rerank` (fields TEI does not know are ignored, as TEI does).
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct RerankRequest {
    /// The query every text is scored against.
    #[schema(example = "What is deep learning?")]
    pub query: String,
    /// The texts to rank (at least one; `[]` is 400 `empty_batch`).
    #[schema(min_items = 1, example = json!(["Deep learning is a branch of machine learning.", "Cheese is made from milk."]))]
    pub texts: Vec<String>,
    /// The logit instead of sigmoid(logit).
    #[serde(default)]
    pub raw_scores: bool,
    /// Echo each text in its result.
    #[serde(default)]
    pub return_text: bool,
    /// Cut over-long pairs (default `true`); `false` answers 413 `input_too_long`.
    pub truncate: Option<bool>,
    /// Which end of an over-long pair is cut: `"Right"` (default) or `"Left"` (lower
    /// case too).
    #[schema(value_type = String, pattern = "^(Left|Right|left|right)$")]
    #[serde(default, deserialize_with = "non_null")]
    pub truncation_direction: Option<TruncationDirection>,
}

/// One ranked text.
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct Rank {
    /// The text's position in the request's `texts`.
    pub index: usize,
    /// sigmoid(logit), or the logit with `raw_scores`.
    pub score: f32,
    /// The text, with `return_text`.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub text: Option<String>,
}

/// `POST /rerank`: TEI's re-ranking route.
#[utoipa::path(
    post, path = "/rerank", tag = "compatibility", request_body = RerankRequest, params(ModelQuery),
    responses(
        (status = 200, description = "Every text with its score, best first", body = Vec<Rank>),
        (status = 400, description = "Malformed JSON, or no texts", body = TeiErrorResponse),
        (status = 401, description = "Missing or wrong API key", body = TeiErrorResponse),
        (status = 404, description = "Unknown model", body = TeiErrorResponse),
        (status = 413, description = "Too many texts, or an over-long pair with `truncate: false`", body = TeiErrorResponse),
        (status = 415, description = "Content type is not application/json", body = TeiErrorResponse),
        (status = 422, description = "Missing or wrongly typed fields", body = TeiErrorResponse),
        (status = 424, description = "The model is not a cross-encoder (more than one label)", body = TeiErrorResponse),
        (status = 429, description = "The model's inference queue is full", body = TeiErrorResponse),
        (status = 503, description = "The model failed to load, or the request passed its deadline", body = TeiErrorResponse),
    ),
)]
pub async fn rerank(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ModelQuery>,
    JsonWithHeaders { headers, body: request }: JsonWithHeaders<RerankRequest>,
) -> Result<Json<Vec<Rank>>, ApiError> {
    if request.texts.is_empty() {
        return Err(ApiError::new(ErrorKind::EmptyBatch, "`texts` cannot be empty"));
    }
    let model = state.service.model_info(query.model.as_deref()).await?;
    if model.id2label.len() != 1 {
        return Err(ApiError::new(
            ErrorKind::NotAReranker,
            format!(
                "model `{}` is not a re-ranker: it has {} labels, and /rerank needs a cross-encoder with one",
                model.name,
                model.id2label.len()
            ),
        ));
    }
    // An empty text is scored as the query alone (`[CLS] query [SEP]`), as transformers
    // encodes a batch of (query, text) pairs whose text is empty (the fixture's
    // reference); a non-empty text is the pair.
    let inputs: Vec<TextInput> = request
        .texts
        .iter()
        .map(|text| match text.is_empty() {
            true => TextInput::single(request.query.as_str()),
            false => TextInput::pair(request.query.as_str(), text.as_str()),
        })
        .collect();
    let function = if request.raw_scores { ScoreFunction::None } else { ScoreFunction::Sigmoid };
    let options = PipelineOptions {
        function_to_apply: Some(function),
        truncate: request.truncate,
        truncation_direction: request.truncation_direction,
        ..Default::default()
    };
    let Prepared { inputs, options } = prepare(&state.limits, &headers, inputs, options)?;
    let analysis = state.service.analyze(Some(&model.name), &inputs, &options).await?;
    let mut ranks: Vec<Rank> = analysis
        .results
        .into_iter()
        .enumerate()
        .map(|(index, result)| Rank {
            index,
            score: result.score,
            text: request.return_text.then(|| request.texts[index].clone()),
        })
        .collect();
    // Best first; equal scores keep the request's order.
    ranks.sort_by(|a, b| b.score.total_cmp(&a.score));
    Ok(Json(ranks))
}

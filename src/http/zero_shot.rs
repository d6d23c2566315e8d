//! `POST /zero-shot-classification`: transformers' `ZeroShotClassificationPipeline`
//! over any loaded NLI model (see [`crate::service::zero_shot`]).

use axum::extract::State;
use axum::http::HeaderMap;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Deserialize;
use serde_json::Value;

use super::error::{ApiError, ErrorResponse};
use super::extract::JsonWithHeaders;
use super::request::{check_count, PipelineOptions};
use super::state::AppState;
use crate::service::zero_shot::{hypothesis, ZeroShot, DEFAULT_TEMPLATE};

/// Body of `POST /zero-shot-classification` (its document schema is written out in
/// [`request_schema`]: exactly one of `text` and `texts`).
#[derive(Debug, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ZeroShotRequest {
    /// One text (the answer is one result).
    pub text: Option<String>,
    /// Several texts (the answer is a list, in order).
    pub texts: Option<Vec<String>>,
    /// The labels to choose from: a list, or one comma-separated string.
    pub candidate_labels: Value,
    /// Each label becomes this sentence with the label in place of `{}`.
    pub hypothesis_template: Option<String>,
    /// `true`: each label scored on its own (entailment against contradiction);
    /// `false` (default): the scores sum to 1 over the labels.
    #[serde(default)]
    pub multi_label: Option<bool>,
    /// A configured NLI model; the default model when absent.
    pub model: Option<String>,
    /// `true` (default) cuts over-long pairs; `false` refuses them with 413.
    pub truncate: Option<bool>,
}

/// One text's labels, best first.
#[derive(Debug, serde::Serialize, utoipa::ToSchema)]
pub struct ZeroShotResult {
    /// The text.
    pub sequence: String,
    /// The candidate labels, best first.
    pub labels: Vec<String>,
    /// Their scores, in the same order.
    pub scores: Vec<f32>,
}

impl From<ZeroShot> for ZeroShotResult {
    fn from(ZeroShot { sequence, labels, scores }: ZeroShot) -> Self {
        Self { sequence, labels, scores }
    }
}

/// The labels as a list: a JSON list of non-empty strings, or a comma-separated
/// string (empty pieces skipped, as transformers does).
fn labels(value: &Value) -> Option<Vec<String>> {
    let labels: Vec<String> = match value {
        Value::String(list) => list.split(',').map(str::trim).filter(|l| !l.is_empty()).map(str::to_string).collect(),
        Value::Array(items) => items.iter().map(|i| i.as_str().map(str::to_string)).collect::<Option<_>>()?,
        _ => return None,
    };
    (!labels.is_empty() && labels.iter().all(|l| !l.is_empty())).then_some(labels)
}

/// The schema of `candidate_labels`: a non-empty list of non-empty labels, or a
/// comma-separated string with at least one label.
pub fn labels_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
    let string = |description: &str| ObjectBuilder::new().schema_type(Type::String).description(Some(description));
    OneOfBuilder::new()
        .item(string("Comma-separated labels.").pattern(Some("[^,\\s]")))
        .item(ArrayBuilder::new().items(string("A label.").min_length(Some(1))).min_items(Some(1)))
        .description(Some("The labels to choose from: a list, or one comma-separated string."))
        .examples([serde_json::json!(["technology", "politics", "sports"])])
        .into()
}

/// The schema of `hypothesis_template`: `null`, or a string with `{}`.
pub fn template_schema() -> utoipa::openapi::schema::Object {
    use utoipa::openapi::schema::{ObjectBuilder, SchemaType, Type};
    ObjectBuilder::new()
        .schema_type(SchemaType::from_iter([Type::String, Type::Null]))
        .description(Some(
            "Each label becomes this sentence with the label in place of `{}` (default \"This example is {}.\").",
        ))
        .pattern(Some("\\{\\}"))
        .build()
}

/// The request's schema: one text or several, with the labels and options.
fn request_schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
    use utoipa::openapi::schema::{AdditionalProperties, ArrayBuilder, ObjectBuilder, OneOfBuilder, SchemaType, Type};
    let string = |description: &str| ObjectBuilder::new().schema_type(Type::String).description(Some(description));
    let nullable = |kind: Type, description: &str| {
        ObjectBuilder::new().schema_type(SchemaType::from_iter([kind, Type::Null])).description(Some(description))
    };
    let shape = |field: &str, input: utoipa::openapi::RefOr<utoipa::openapi::schema::Schema>| {
        ObjectBuilder::new()
            .property(field, input)
            .property("candidate_labels", labels_schema())
            .property("hypothesis_template", template_schema())
            .property(
                "multi_label",
                nullable(Type::Boolean, "Score each label on its own (default false: the scores sum to 1)."),
            )
            .property("model", nullable(Type::String, "A configured NLI model; the default model when absent."))
            .property("truncate", nullable(Type::Boolean, "`false` refuses over-long pairs with 413 (default true)."))
            .required(field)
            .required("candidate_labels")
            .additional_properties(Some(AdditionalProperties::FreeForm(false)))
    };
    let text =
        string("One text (the answer is one result).").examples([serde_json::json!("The battery lasts two days.")]);
    let texts = ArrayBuilder::new()
        .items(string("A text."))
        .min_items(Some(1))
        .description(Some("Several texts (the answer is a list, in order)."));
    OneOfBuilder::new().item(shape("text", text.into())).item(shape("texts", texts.into())).into()
}

impl utoipa::PartialSchema for ZeroShotRequest {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        request_schema()
    }
}

impl utoipa::ToSchema for ZeroShotRequest {}

/// `POST /zero-shot-classification`.
#[utoipa::path(
    post, path = "/zero-shot-classification", tag = "inference", request_body = ZeroShotRequest,
    responses(
        (status = 200, description = "`{sequence, labels, scores}` for `text`, a list of them for `texts`", body = ZeroShotResult),
        (status = 400, description = "Malformed JSON", body = ErrorResponse),
        (status = 401, description = "Missing or wrong API key", body = ErrorResponse),
        (status = 404, description = "Unknown model", body = ErrorResponse),
        (status = 409, description = "The model is not an NLI model (no label starts with \"entail\")", body = ErrorResponse),
        (status = 413, description = "Too many (text, label) pairs, or an over-long pair with `truncate: false`", body = ErrorResponse),
        (status = 415, description = "Content type is not application/json", body = ErrorResponse),
        (status = 422, description = "Neither or both of `text` and `texts`, no labels, or a template without `{}`", body = ErrorResponse),
        (status = 429, description = "The model's inference queue is full", body = ErrorResponse),
        (status = 503, description = "The model failed to load, or the request passed its deadline", body = ErrorResponse),
    ),
)]
pub async fn zero_shot(
    State(state): State<AppState>,
    JsonWithHeaders { headers, body: request }: JsonWithHeaders<ZeroShotRequest>,
) -> Result<Response, ApiError> {
    let (texts, single) = match (request.text, request.texts) {
        (Some(text), None) => (vec![text], true),
        (None, Some(texts)) if !texts.is_empty() => (texts, false),
        _ => return Err(ApiError::invalid("give exactly one of `text` and `texts` (a non-empty list)")),
    };
    let task = Task {
        candidate_labels: &request.candidate_labels,
        hypothesis_template: request.hypothesis_template.as_deref(),
        multi_label: request.multi_label.unwrap_or(false),
        truncate: request.truncate,
    };
    let results = classify(&state, &headers, request.model.as_deref(), &texts, &task).await?;
    let mut results = results.into_iter().map(ZeroShotResult::from);
    Ok(match single {
        true => Json(results.next()).into_response(),
        false => Json(results.collect::<Vec<_>>()).into_response(),
    })
}

/// The zero-shot parameters of one request.
pub struct Task<'a> {
    /// A list of labels, or one comma-separated string.
    pub candidate_labels: &'a Value,
    /// The hypothesis with `{}` for the label (default [`DEFAULT_TEMPLATE`]).
    pub hypothesis_template: Option<&'a str>,
    /// Each label scored on its own.
    pub multi_label: bool,
    /// `Some(false)` refuses over-long pairs.
    pub truncate: Option<bool>,
}

/// Classifies `texts` against `task`'s labels with `model` (for this route and the
/// Inference API's zero-shot task).
///
/// Errors: 422 for no labels or a template without `{}`; 413 for more pairs than
/// `--max-texts`; the service's errors.
pub async fn classify(
    state: &AppState,
    headers: &HeaderMap,
    model: Option<&str>,
    texts: &[String],
    task: &Task<'_>,
) -> Result<Vec<ZeroShot>, ApiError> {
    let labels = labels(task.candidate_labels).ok_or_else(|| {
        ApiError::invalid("`candidate_labels` must be a non-empty list of labels or a comma-separated string")
    })?;
    let template = task.hypothesis_template.unwrap_or(DEFAULT_TEMPLATE);
    let hypotheses = labels
        .iter()
        .map(|label| hypothesis(template, label).map(|h| (label.clone(), h)))
        .collect::<Option<Vec<_>>>()
        .ok_or_else(|| {
            ApiError::invalid(format!("`hypothesis_template` {template:?} has no `{{}}` where the label should go"))
        })?;
    // The (text, hypothesis) pairs count against --max-texts, as the model runs each.
    check_count(&state.limits, texts.len() * hypotheses.len())?;
    let options = PipelineOptions { truncate: task.truncate, ..Default::default() }.resolve(&state.limits, headers)?;
    Ok(state.service.zero_shot(model, texts, &hypotheses, task.multi_label, &options).await?)
}

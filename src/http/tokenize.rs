//! TEI's `POST /tokenize` and `POST /decode`: the model's tokenizer on its own, with
//! TEI's request and response shapes (text-embeddings-inference v1.9.3).

use axum::extract::State;
use axum::Json;
use serde::{Deserialize, Serialize};

use super::compat::ModelQuery;
use super::error::{ApiError, ErrorKind};
use super::extract::{JsonBody, QueryParams};
use super::request::check_count;
use super::state::AppState;
use super::tei_error::TeiErrorResponse;
use crate::model::Token;

/// One text, or several.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum TokenizeInput {
    /// One text.
    Single(String),
    /// Several texts, answered in order.
    Batch(Vec<String>),
}

/// Body of TEI's `POST /tokenize`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct TokenizeRequest {
    /// The text(s) to tokenize (untruncated); a list holds at least one.
    #[schema(schema_with = tokenize_input_schema, example = "I love this movie!")]
    pub inputs: TokenizeInput,
    /// Add the model's special tokens (`[CLS]`, `[SEP]`…); default `true`.
    #[serde(default = "yes")]
    pub add_special_tokens: bool,
    /// TEI's sentence-transformers prompt name: classifiers have none, so anything but
    /// `null` is refused (422).
    #[schema(schema_with = null_only)]
    pub prompt_name: Option<String>,
}

fn yes() -> bool {
    true
}

/// The schema of `inputs`: a string, or a non-empty list of strings.
fn tokenize_input_schema() -> utoipa::openapi::schema::Schema {
    use utoipa::openapi::schema::{ArrayBuilder, ObjectBuilder, OneOfBuilder, Type};
    let text = || ObjectBuilder::new().schema_type(Type::String);
    OneOfBuilder::new().item(text()).item(ArrayBuilder::new().items(text()).min_items(Some(1))).into()
}

/// The schema of a field that may only be `null` (or absent).
fn null_only() -> utoipa::openapi::schema::Object {
    utoipa::openapi::schema::ObjectBuilder::new()
        .schema_type(utoipa::openapi::schema::Type::Null)
        .description(Some("Only `null`: a classifier has no sentence-transformers prompts."))
        .build()
}

/// One token (TEI's `SimpleToken`).
#[derive(Debug, Serialize, utoipa::ToSchema)]
pub struct SimpleToken {
    /// Its vocabulary id.
    #[schema(minimum = 0)]
    pub id: u32,
    /// The input's bytes it covers (a special token: its name, e.g. `[CLS]`).
    pub text: String,
    /// Whether the tokenizer added it.
    pub special: bool,
    /// Byte offset of its start in the input (`null` for a special token).
    #[schema(minimum = 0)]
    pub start: Option<usize>,
    /// Byte offset past its end (`null` for a special token).
    #[schema(minimum = 0)]
    pub stop: Option<usize>,
}

impl From<Token> for SimpleToken {
    fn from(token: Token) -> Self {
        Self { id: token.id, text: token.text, special: token.special, start: token.start, stop: token.stop }
    }
}

/// `POST /tokenize`: every token of each input, with byte offsets; one list per input
/// (a single text too).
#[utoipa::path(
    post, path = "/tokenize", tag = "compatibility", request_body = TokenizeRequest, params(ModelQuery),
    responses(
        (status = 200, description = "One list of tokens per input", body = Vec<Vec<SimpleToken>>),
        (status = 400, description = "Malformed JSON, or an empty batch", body = TeiErrorResponse),
        (status = 401, description = "Missing or wrong API key", body = TeiErrorResponse),
        (status = 404, description = "Unknown model", body = TeiErrorResponse),
        (status = 413, description = "More inputs than `--max-texts`", body = TeiErrorResponse),
        (status = 415, description = "Content type is not application/json", body = TeiErrorResponse),
        (status = 422, description = "Wrong fields, a `prompt_name`, or a tokenizer failure", body = TeiErrorResponse),
        (status = 503, description = "The model failed to load", body = TeiErrorResponse),
    ),
)]
pub async fn tokenize(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ModelQuery>,
    JsonBody(request): JsonBody<TokenizeRequest>,
) -> Result<Json<Vec<Vec<SimpleToken>>>, ApiError> {
    if request.prompt_name.is_some() {
        return Err(ApiError::invalid("`prompt_name`: a classifier has no sentence-transformers prompts"));
    }
    let texts = match request.inputs {
        TokenizeInput::Single(text) => vec![text],
        TokenizeInput::Batch(texts) if texts.is_empty() => {
            return Err(ApiError::new(ErrorKind::EmptyBatch, "`inputs` cannot be empty"));
        }
        TokenizeInput::Batch(texts) => texts,
    };
    check_count(&state.limits, texts.len())?;
    let tokens = state.service.tokens(query.model.as_deref(), texts, request.add_special_tokens).await?;
    Ok(Json(tokens.into_iter().map(|list| list.into_iter().map(Into::into).collect()).collect()))
}

/// One token id: a JSON integer from 0 to 2^31-1 (TEI's `int32`), also written as a
/// whole float (`101.0`), as JSON Schema's `integer` allows.
#[derive(Debug, Clone, Copy)]
pub struct TokenId(pub u32);

impl utoipa::PartialSchema for TokenId {
    fn schema() -> utoipa::openapi::RefOr<utoipa::openapi::schema::Schema> {
        use utoipa::openapi::schema::{KnownFormat, ObjectBuilder, SchemaFormat, Type};
        ObjectBuilder::new()
            .schema_type(Type::Integer)
            .format(Some(SchemaFormat::KnownFormat(KnownFormat::Int32)))
            .minimum(Some(0))
            .into()
    }
}

impl utoipa::ToSchema for TokenId {}

impl<'de> Deserialize<'de> for TokenId {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let number = serde_json::Number::deserialize(deserializer)?;
        let whole =
            number.as_u64().or_else(|| number.as_f64().filter(|f| f.fract() == 0.0 && *f >= 0.0).map(|f| f as u64));
        whole
            .and_then(|id| i32::try_from(id).ok())
            .map(|id| Self(id.unsigned_abs()))
            .ok_or_else(|| serde::de::Error::custom(format!("expected a token id (0 to 2^31-1), got {number}")))
    }
}

/// Token ids of one input, or of several.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
pub enum InputIds {
    /// One input's ids.
    Single(Vec<TokenId>),
    /// Several inputs' ids, answered in order.
    Batch(Vec<Vec<TokenId>>),
}

/// Body of TEI's `POST /decode`.
#[derive(Debug, Deserialize, utoipa::ToSchema)]
pub struct DecodeRequest {
    /// The ids to turn back into text; ids outside the vocabulary are skipped.
    #[schema(example = json!([101, 1045, 2293, 2023, 3185, 999, 102]))]
    pub ids: InputIds,
    /// Leave out special tokens; default `true`.
    #[serde(default = "yes")]
    pub skip_special_tokens: bool,
}

/// `POST /decode`: the text of each list of ids; one string per input (a single list
/// too).
#[utoipa::path(
    post, path = "/decode", tag = "compatibility", request_body = DecodeRequest, params(ModelQuery),
    responses(
        (status = 200, description = "One text per list of ids", body = Vec<String>),
        (status = 400, description = "Malformed JSON, or an empty batch", body = TeiErrorResponse),
        (status = 401, description = "Missing or wrong API key", body = TeiErrorResponse),
        (status = 404, description = "Unknown model", body = TeiErrorResponse),
        (status = 413, description = "More inputs than `--max-texts`", body = TeiErrorResponse),
        (status = 415, description = "Content type is not application/json", body = TeiErrorResponse),
        (status = 422, description = "Wrong fields, or a tokenizer failure", body = TeiErrorResponse),
        (status = 503, description = "The model failed to load", body = TeiErrorResponse),
    ),
)]
pub async fn decode(
    State(state): State<AppState>,
    QueryParams(query): QueryParams<ModelQuery>,
    JsonBody(request): JsonBody<DecodeRequest>,
) -> Result<Json<Vec<String>>, ApiError> {
    let plain = |ids: Vec<TokenId>| ids.into_iter().map(|id| id.0).collect::<Vec<u32>>();
    let ids = match request.ids {
        InputIds::Single(ids) => vec![plain(ids)],
        InputIds::Batch(batch) => batch.into_iter().map(plain).collect(),
    };
    check_count(&state.limits, ids.len())?;
    let texts = state.service.decode(query.model.as_deref(), ids, request.skip_special_tokens).await?;
    Ok(Json(texts))
}

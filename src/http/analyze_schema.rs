//! The OpenAPI shape of `POST /analyze`'s body: exactly one of `text` (with an
//! optional `text_pair`) and `texts`, as two closed objects under `oneOf`, so the
//! document accepts exactly what the server accepts. The handler deserializes one
//! struct, [`AnalyzeRequest`](super::handlers::AnalyzeRequest), for precise error
//! messages; these types exist for the document only.

use serde::Deserialize;

use super::handlers::AnalyzeInput;
use crate::model::ScoreFunction;

/// Body of `POST /analyze`: one input (`text`, optional `text_pair`) or several
/// (`texts`), plus transformers pipeline options.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(untagged)]
#[schema(as = AnalyzeRequest)]
pub enum AnalyzeRequestSchema {
    /// One input.
    One(AnalyzeOne),
    /// Several inputs, answered in order.
    Batch(AnalyzeBatch),
}

/// `POST /analyze` with one input.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeOne {
    /// One text.
    #[schema(example = "I love this movie!")]
    pub text: String,
    /// The second sequence of a text pair (NLI hypothesis, passage).
    pub text_pair: Option<String>,
    /// A configured model name; default model when absent.
    pub model: Option<String>,
    /// Keep only the best `k` labels in `scores`; `null` (default) keeps all.
    #[schema(minimum = 1)]
    pub top_k: Option<usize>,
    /// Overrides the model's score function, as in transformers' pipeline.
    pub function_to_apply: Option<ScoreFunction>,
    /// `true` is a synonym for `function_to_apply: "none"` (TEI's name).
    pub raw_scores: Option<bool>,
    /// `true` (default) cuts over-long inputs to the model's limit; `false` refuses
    /// them with 413 `input_too_long`.
    pub truncate: Option<bool>,
}

/// `POST /analyze` with several inputs.
#[derive(Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AnalyzeBatch {
    /// The inputs, answered in order: strings, or `{"text", "text_pair"}` objects.
    #[schema(min_items = 1)]
    pub texts: Vec<AnalyzeInput>,
    /// A configured model name; default model when absent.
    pub model: Option<String>,
    /// Keep only the best `k` labels in `scores`; `null` (default) keeps all.
    #[schema(minimum = 1)]
    pub top_k: Option<usize>,
    /// Overrides the model's score function, as in transformers' pipeline.
    pub function_to_apply: Option<ScoreFunction>,
    /// `true` is a synonym for `function_to_apply: "none"` (TEI's name).
    pub raw_scores: Option<bool>,
    /// `true` (default) cuts over-long inputs to the model's limit; `false` refuses
    /// them with 413 `input_too_long`.
    pub truncate: Option<bool>,
}

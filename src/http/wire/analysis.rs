//! `POST /analyze`'s answer and the label/score pairs every inference route returns.

use serde::Serialize;

use crate::model;
use crate::service;

/// The function applied to a row of logits (`function_to_apply` in transformers); the
/// document's view of [`model::ScoreFunction`], which requests deserialize into.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum ScoreFunction {
    /// `exp(x_i) / Σ exp(x_j)`: single-label classification.
    Softmax,
    /// `1 / (1 + exp(-x_i))` per label: multi-label, or a single output.
    Sigmoid,
    /// Raw logits (regression heads).
    None,
}

impl From<model::ScoreFunction> for ScoreFunction {
    fn from(function: model::ScoreFunction) -> Self {
        match function {
            model::ScoreFunction::Softmax => Self::Softmax,
            model::ScoreFunction::Sigmoid => Self::Sigmoid,
            model::ScoreFunction::None => Self::None,
        }
    }
}

/// One label with its score.
#[derive(Debug, Clone, PartialEq, Serialize, utoipa::ToSchema)]
pub struct LabelScore {
    /// The label name from `id2label`.
    pub label: String,
    /// Its probability (softmax/sigmoid) or raw logit.
    pub score: f32,
}

impl From<model::LabelScore> for LabelScore {
    fn from(model::LabelScore { label, score }: model::LabelScore) -> Self {
        Self { label, score }
    }
}

/// The result for one input text.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct TextResult {
    /// Best label.
    pub label: String,
    /// Best label's score.
    pub score: f32,
    /// Every label with its score, descending.
    pub scores: Vec<LabelScore>,
    /// Whether the logits came from the prediction cache rather than this request's
    /// forward pass.
    pub cached: bool,
    /// Whether the input was cut to the model's token limit.
    pub truncated: bool,
}

impl From<service::TextResult> for TextResult {
    fn from(service::TextResult { label, score, scores, cached, truncated }: service::TextResult) -> Self {
        Self { label, score, scores: scores.into_iter().map(Into::into).collect(), cached, truncated }
    }
}

/// The body of `POST /analyze`.
#[derive(Debug, Clone, Serialize, utoipa::ToSchema)]
pub struct Analysis {
    /// The model that answered.
    pub model: String,
    /// One result per input, in input order.
    pub results: Vec<TextResult>,
}

impl From<service::Analysis> for Analysis {
    fn from(service::Analysis { model, results }: service::Analysis) -> Self {
        Self { model, results: results.into_iter().map(Into::into).collect() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_analysis_serializes_as_the_service_reports_it() {
        let scores = vec![
            model::LabelScore { label: "POSITIVE".into(), score: 0.75 },
            model::LabelScore { label: "NEGATIVE".into(), score: 0.25 },
        ];
        let result =
            service::TextResult { label: "POSITIVE".into(), score: 0.75, scores, cached: true, truncated: false };
        let analysis = service::Analysis { model: "m".into(), results: vec![result] };
        let expected = serde_json::to_value(&analysis).unwrap();
        assert_eq!(serde_json::to_value(Analysis::from(analysis)).unwrap(), expected);
    }

    #[test]
    fn score_functions_have_the_requests_names() {
        for function in [model::ScoreFunction::Softmax, model::ScoreFunction::Sigmoid, model::ScoreFunction::None] {
            let wire = serde_json::to_value(ScoreFunction::from(function)).unwrap();
            assert_eq!(wire, serde_json::to_value(function).unwrap());
            assert_eq!(serde_json::from_value::<model::ScoreFunction>(wire).unwrap(), function);
        }
    }
}

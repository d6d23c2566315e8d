//! What each row is asked: text classification (a text or a pair), zero-shot
//! classification against candidate labels, or relevance to a query (a cross-encoder);
//! each through the same [`Service`] calls as the HTTP routes, so a row answered once,
//! in a server or an earlier run, comes from the cache.

use serde_json::{json, Map, Value};

use super::error::FileError;
use crate::model::{ScoreFunction, TextInput};
use crate::service::zero_shot::{hypothesis, DEFAULT_TEMPLATE};
use crate::service::{AnalyzeOptions, Service};

/// The task run on every row.
#[derive(Debug, Clone)]
pub enum FileTask {
    /// Text classification (`POST /analyze`): the best label and its score.
    Classify,
    /// Zero-shot classification (`POST /zero-shot-classification`) on an NLI model.
    ZeroShot {
        /// The labels to choose from.
        labels: Vec<String>,
        /// The hypothesis, `{}` standing for the label.
        template: Option<String>,
        /// Score each label on its own.
        multi_label: bool,
    },
    /// Relevance of each row's text to `query` (`POST /rerank`): sigmoid of a
    /// one-label cross-encoder's logit.
    Rerank {
        /// The query.
        query: String,
    },
}

/// One row's answer: its cells for a CSV output (in [`FileTask::columns`] order) and
/// its fields for a JSON Lines output.
#[derive(Debug, Clone)]
pub struct Answer {
    /// CSV cells.
    pub cells: Vec<String>,
    /// JSON fields.
    pub fields: Map<String, Value>,
    /// Whether it came from the prediction cache (classification only; `false`
    /// otherwise).
    pub cached: bool,
}

impl FileTask {
    /// The result columns a CSV output gets (before `error`).
    pub fn columns(&self) -> &'static [&'static str] {
        match self {
            Self::Classify | Self::ZeroShot { .. } => &["label", "score"],
            Self::Rerank { .. } => &["score"],
        }
    }

    /// Loads the model and checks the task against it and the input columns, before
    /// any row is read.
    ///
    /// Errors: [`FileError::Options`] for a pair column with zero-shot or rerank, a
    /// template without `{}`, or a rerank model with more than one label;
    /// [`FileError::Service`] for a model that does not load.
    pub async fn check(&self, service: &Service, model: Option<&str>, pair: bool) -> Result<(), FileError> {
        let info = service.model_info(model).await?;
        match self {
            Self::Classify => {}
            Self::ZeroShot { template, labels, .. } => {
                if pair {
                    return Err(FileError::Options("zero-shot classifies one text per row: drop --pair-column".into()));
                }
                if labels.is_empty() {
                    return Err(FileError::Options("--candidate-labels needs at least one label".into()));
                }
                let template = template.as_deref().unwrap_or(DEFAULT_TEMPLATE);
                if hypothesis(template, "x").is_none() {
                    return Err(FileError::Options(format!("--hypothesis-template {template:?} has no `{{}}`")));
                }
            }
            Self::Rerank { .. } => {
                if pair {
                    return Err(FileError::Options("rerank pairs each row with --query: drop --pair-column".into()));
                }
                if info.id2label.len() != 1 {
                    return Err(FileError::Options(format!(
                        "--query needs a cross-encoder with one label; model `{}` has {}",
                        info.name,
                        info.id2label.len()
                    )));
                }
            }
        }
        Ok(())
    }

    /// The answers for `inputs`, in order.
    ///
    /// Errors: [`FileError::Service`].
    pub async fn answer(
        &self,
        service: &Service,
        model: Option<&str>,
        inputs: Vec<TextInput>,
        options: &AnalyzeOptions,
    ) -> Result<Vec<Answer>, FileError> {
        match self {
            Self::Classify => {
                let analysis = service.analyze(model, &inputs, options).await?;
                Ok(analysis
                    .results
                    .into_iter()
                    .map(|r| Answer {
                        cells: vec![r.label.clone(), r.score.to_string()],
                        fields: fields(json!({
                            "label": r.label, "score": r.score, "scores": r.scores, "truncated": r.truncated,
                        })),
                        cached: r.cached,
                    })
                    .collect())
            }
            Self::ZeroShot { labels, template, multi_label } => {
                let template = template.as_deref().unwrap_or(DEFAULT_TEMPLATE);
                let hypotheses: Vec<(String, String)> =
                    labels.iter().filter_map(|label| hypothesis(template, label).map(|h| (label.clone(), h))).collect();
                let texts: Vec<String> = inputs.iter().map(|input| input.text.to_string()).collect();
                let results = service.zero_shot(model, &texts, &hypotheses, *multi_label, options).await?;
                Ok(results
                    .into_iter()
                    .map(|r| {
                        let (label, score) = (r.labels.first().cloned().unwrap_or_default(), r.scores.first().copied());
                        let score = score.unwrap_or(0.0);
                        Answer {
                            cells: vec![label.clone(), score.to_string()],
                            fields: fields(
                                json!({ "label": label, "score": score, "labels": r.labels, "scores": r.scores }),
                            ),
                            cached: false,
                        }
                    })
                    .collect())
            }
            Self::Rerank { query } => {
                let pairs: Vec<TextInput> =
                    inputs.iter().map(|input| TextInput::pair(query.as_str(), input.text.as_ref())).collect();
                let options = AnalyzeOptions { function: Some(ScoreFunction::Sigmoid), ..*options };
                let analysis = service.analyze(model, &pairs, &options).await?;
                Ok(analysis
                    .results
                    .into_iter()
                    .map(|r| Answer {
                        cells: vec![r.score.to_string()],
                        fields: fields(json!({ "score": r.score })),
                        cached: r.cached,
                    })
                    .collect())
            }
        }
    }
}

fn fields(value: Value) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        _ => Map::new(),
    }
}

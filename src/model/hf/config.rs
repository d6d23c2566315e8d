//! The `config.json` fields every sequence classifier shares: which family it is
//! (`model_type`, `architectures`), its labels (`id2label`, `num_labels`) and how its
//! logits become scores (`problem_type`). Each family parses its own dimensions in its
//! own module.

use std::collections::BTreeMap;

use serde::Deserialize;

use super::scores::ScoreFunction;
use crate::model::error::{ModelError, Result};

/// The family-independent part of a Hugging Face `config.json`.
#[derive(Debug, Clone, Default, Deserialize)]
pub struct ClassifierConfig {
    /// HF `model_type`, e.g. `bert`, `deberta-v2`.
    #[serde(default)]
    pub model_type: Option<String>,
    /// HF `architectures`, e.g. `["BertForSequenceClassification"]`.
    #[serde(default)]
    pub architectures: Vec<String>,
    /// Label names by class index; keys are decimal strings (`"0"`, `"1"`, …).
    #[serde(default)]
    pub id2label: Option<BTreeMap<String, String>>,
    /// Number of classes, when `id2label` is absent.
    #[serde(default)]
    pub num_labels: Option<usize>,
    /// `single_label_classification`, `multi_label_classification` or `regression`.
    #[serde(default)]
    pub problem_type: Option<String>,
}

impl ClassifierConfig {
    /// Parses the shared fields of a `config.json` document.
    ///
    /// Errors: [`ModelError::Config`] when a field has the wrong type.
    pub fn from_json(json: &serde_json::Value) -> Result<Self> {
        Self::deserialize(json).map_err(|e| ModelError::Config(e.to_string()))
    }

    /// Label names by class index: `id2label`, else `LABEL_i` for `num_labels`
    /// (default 2), as transformers does.
    ///
    /// Errors: [`ModelError::Config`] for a non-integer or out-of-range key.
    pub fn id2label(&self) -> Result<Vec<String>> {
        if let Some(map) = self.id2label.as_ref().filter(|m| !m.is_empty()) {
            let mut labels = vec![None; map.len()];
            for (key, name) in map {
                let index: usize =
                    key.parse().map_err(|_| ModelError::Config(format!("id2label key `{key}` is not an integer")))?;
                let slot = labels
                    .get_mut(index)
                    .ok_or_else(|| ModelError::Config(format!("id2label key {index} is out of range")))?;
                *slot = Some(name.clone());
            }
            return Ok(labels.into_iter().map(Option::unwrap_or_default).collect());
        }
        Ok((0..self.num_labels.unwrap_or(2)).map(|i| format!("LABEL_{i}")).collect())
    }

    /// How logits become scores, by the pipeline's rule (see [`ScoreFunction::for_problem`]).
    pub fn score_function(&self, num_labels: usize) -> ScoreFunction {
        ScoreFunction::for_problem(self.problem_type.as_deref(), num_labels)
    }

    /// The first `architectures` entry, or `model_type`, for error messages.
    pub fn describe(&self) -> String {
        self.architectures.first().cloned().or_else(|| self.model_type.clone()).unwrap_or_else(|| "unknown".into())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn labels_come_from_id2label_or_num_labels() {
        let c = ClassifierConfig::from_json(&json!({"id2label": {"1": "POS", "0": "NEG"}})).unwrap();
        assert_eq!(c.id2label().unwrap(), ["NEG", "POS"]);
        let c = ClassifierConfig::from_json(&json!({"num_labels": 3})).unwrap();
        assert_eq!(c.id2label().unwrap(), ["LABEL_0", "LABEL_1", "LABEL_2"]);
        let c = ClassifierConfig::from_json(&json!({"id2label": {"x": "A"}})).unwrap();
        assert!(c.id2label().is_err());
        // Integer values in label2id (ModernBERT) are not read and do not fail.
        let c = ClassifierConfig::from_json(&json!({"label2id": {"A": 0}, "id2label": {"0": "A"}})).unwrap();
        assert_eq!(c.id2label().unwrap(), ["A"]);
    }
}

//! Zero-shot classification on an NLI model, as transformers'
//! `ZeroShotClassificationPipeline` computes it: each candidate label becomes a
//! hypothesis (`hypothesis_template` with the label in place of `{}`), the text is the
//! premise, and the (premise, hypothesis) pairs' logits score the labels. The pairs are
//! ordinary cached inputs, so a repeated text and label set costs nothing.

use super::{AnalyzeOptions, Service, ServiceError};
use crate::model::{ScoreFunction, TextInput};

/// transformers' default `hypothesis_template`.
pub const DEFAULT_TEMPLATE: &str = "This example is {}.";

/// The labels of one text, best first.
#[derive(Debug, Clone, PartialEq, serde::Serialize)]
pub struct ZeroShot {
    /// The text.
    pub sequence: String,
    /// The candidate labels, best first.
    pub labels: Vec<String>,
    /// Their scores, in the same order.
    pub scores: Vec<f32>,
}

/// Which logits of an NLI model mean entailment and contradiction.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct NliLabels {
    /// The label whose name starts with `entail` (any case), as transformers finds it.
    pub entailment: usize,
    /// The label whose name starts with `contradict` (any case); without one,
    /// transformers' rule: the last label when entailment is the first, else the first.
    pub contradiction: usize,
}

impl NliLabels {
    /// Finds the ids in `id2label`; `None` without an entailment label.
    pub fn find(id2label: &[String]) -> Option<Self> {
        let starts = |prefix: &str| id2label.iter().position(|l| l.to_lowercase().starts_with(prefix));
        let entailment = starts("entail")?;
        let fallback = if entailment == 0 { id2label.len().saturating_sub(1) } else { 0 };
        Some(Self { entailment, contradiction: starts("contradict").unwrap_or(fallback) })
    }
}

/// The hypothesis for `label`: `template` with `{}` replaced by it.
///
/// Errors: `None` when the template has no `{}`.
pub fn hypothesis(template: &str, label: &str) -> Option<String> {
    template.contains("{}").then(|| template.replacen("{}", label, 1))
}

/// The labels' scores from their pairs' logits (`rows[i]`: the logits `[num_labels]`
/// of the pair with label `i`). `multi_label` (or a single label): each label on its
/// own, softmax over (contradiction, entailment); otherwise softmax of the entailment
/// logits across the labels.
pub fn scores(rows: &[Vec<f32>], nli: NliLabels, multi_label: bool) -> Vec<f32> {
    if multi_label || rows.len() == 1 {
        return rows
            .iter()
            .map(|row| ScoreFunction::Softmax.apply(&[row[nli.contradiction], row[nli.entailment]])[1])
            .collect();
    }
    let entailment: Vec<f32> = rows.iter().map(|row| row[nli.entailment]).collect();
    ScoreFunction::Softmax.apply(&entailment)
}

impl Service {
    /// Zero-shot classification of each of `texts` over `labels` with the NLI model
    /// `model` (default when `None`); one result per text, in order.
    ///
    /// Errors: as [`Service::analyze`]; [`ServiceError::NotNli`] for a model without
    /// an entailment label.
    pub async fn zero_shot(
        &self,
        model: Option<&str>,
        texts: &[String],
        hypotheses: &[(String, String)],
        multi_label: bool,
        options: &AnalyzeOptions,
    ) -> Result<Vec<ZeroShot>, ServiceError> {
        let info = self.model_info(model).await?;
        let nli = NliLabels::find(&info.id2label)
            .ok_or_else(|| ServiceError::NotNli { model: info.name.clone(), labels: info.id2label.clone() })?;
        let inputs: Vec<TextInput> = texts
            .iter()
            .flat_map(|text| hypotheses.iter().map(move |(_, h)| TextInput::pair(text.as_str(), h.as_str())))
            .collect();
        let options = AnalyzeOptions { function: Some(ScoreFunction::None), top_k: None, ..*options };
        let analysis = self.analyze(Some(&info.name), &inputs, &options).await?;
        let index = |label: &str| info.id2label.iter().position(|l| l == label);
        let rows: Vec<Vec<f32>> = analysis
            .results
            .iter()
            .map(|result| {
                let mut row = vec![0.0; info.id2label.len()];
                for score in &result.scores {
                    if let Some(i) = index(&score.label) {
                        row[i] = score.score;
                    }
                }
                row
            })
            .collect();
        Ok(texts
            .iter()
            .zip(rows.chunks(hypotheses.len().max(1)))
            .map(|(text, rows)| {
                let mut ranked: Vec<(String, f32)> =
                    hypotheses.iter().map(|(label, _)| label.clone()).zip(scores(rows, nli, multi_label)).collect();
                ranked.sort_by(|a, b| b.1.total_cmp(&a.1));
                let (labels, scores) = ranked.into_iter().unzip();
                ZeroShot { sequence: text.clone(), labels, scores }
            })
            .collect())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn labels(names: &[&str]) -> Vec<String> {
        names.iter().map(|s| s.to_string()).collect()
    }

    #[test]
    fn nli_ids_are_found_by_name_in_any_order_and_case() {
        let found = NliLabels::find(&labels(&["ENTAILMENT", "neutral", "Contradiction"])).unwrap();
        assert_eq!((found.entailment, found.contradiction), (0, 2));
        let found = NliLabels::find(&labels(&["neutral", "contradiction", "entailment"])).unwrap();
        assert_eq!((found.entailment, found.contradiction), (2, 1));
        // transformers' positional rule when no label is named contradiction.
        let found = NliLabels::find(&labels(&["entails", "other"])).unwrap();
        assert_eq!((found.entailment, found.contradiction), (0, 1));
        assert_eq!(NliLabels::find(&labels(&["NEGATIVE", "POSITIVE"])), None);
    }

    #[test]
    fn templates_take_the_label_once() {
        assert_eq!(hypothesis(DEFAULT_TEMPLATE, "sports").as_deref(), Some("This example is sports."));
        assert_eq!(hypothesis("no slot", "sports"), None);
    }

    #[test]
    fn single_label_scores_sum_to_one_and_multi_label_stand_alone() {
        let nli = NliLabels { entailment: 0, contradiction: 2 };
        let rows = vec![vec![2.0, 0.0, -1.0], vec![0.0, 0.0, 1.0]];
        let single = scores(&rows, nli, false);
        assert!((single.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        assert!(single[0] > single[1]);
        let multi = scores(&rows, nli, true);
        let expected = 1.0 / (1.0 + (-3.0f32).exp());
        assert!((multi[0] - expected).abs() < 1e-6, "{multi:?}");
    }
}

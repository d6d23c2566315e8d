//! From logits to labelled scores, as transformers' `TextClassificationPipeline` does.

use serde::Serialize;

/// The function applied to a row of logits (`function_to_apply` in transformers).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum ScoreFunction {
    /// `exp(x_i) / Σ exp(x_j)`: single-label classification.
    Softmax,
    /// `1 / (1 + exp(-x_i))` per label: multi-label, or a single output.
    Sigmoid,
    /// Raw logits (regression heads).
    None,
}

impl ScoreFunction {
    /// The pipeline's rule: sigmoid for `multi_label_classification` or one label,
    /// identity for `regression`, softmax otherwise.
    pub fn for_problem(problem_type: Option<&str>, num_labels: usize) -> Self {
        match problem_type {
            Some("multi_label_classification") => Self::Sigmoid,
            Some("regression") => Self::None,
            _ if num_labels == 1 => Self::Sigmoid,
            _ => Self::Softmax,
        }
    }

    /// Applies the function to one row of logits `[num_labels]`.
    pub fn apply(self, logits: &[f32]) -> Vec<f32> {
        match self {
            Self::Softmax => {
                let max = logits.iter().copied().fold(f32::NEG_INFINITY, f32::max);
                let exps: Vec<f32> = logits.iter().map(|&x| (x - max).exp()).collect();
                let sum: f32 = exps.iter().sum();
                exps.into_iter().map(|e| e / sum).collect()
            }
            Self::Sigmoid => logits.iter().map(|&x| 1.0 / (1.0 + (-x).exp())).collect(),
            Self::None => logits.to_vec(),
        }
    }
}

/// One label with its score.
#[derive(Debug, Clone, PartialEq, Serialize, serde::Deserialize)]
pub struct LabelScore {
    /// The label name from `id2label`.
    pub label: String,
    /// Its probability (softmax/sigmoid) or raw logit.
    pub score: f32,
}

/// All labels of one input, best first.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Classification {
    /// The best label.
    pub label: String,
    /// The best label's score.
    pub score: f32,
    /// Every label, in descending score order.
    pub scores: Vec<LabelScore>,
}

impl Classification {
    /// Builds the result for one row of logits `[num_labels]`.
    ///
    /// `id2label` and `logits` must have the same length; extra entries on either side
    /// are ignored.
    pub fn from_logits(logits: &[f32], id2label: &[String], function: ScoreFunction) -> Self {
        let mut scores: Vec<LabelScore> = function
            .apply(logits)
            .into_iter()
            .zip(id2label)
            .map(|(score, label)| LabelScore { label: label.clone(), score })
            .collect();
        scores.sort_by(|a, b| b.score.total_cmp(&a.score));
        let best = scores.first().cloned().unwrap_or(LabelScore { label: String::new(), score: f32::NAN });
        Self { label: best.label, score: best.score, scores }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn softmax_sums_to_one_and_is_shift_invariant() {
        let a = ScoreFunction::Softmax.apply(&[1.0, 2.0, 3.0]);
        let b = ScoreFunction::Softmax.apply(&[1001.0, 1002.0, 1003.0]);
        assert!((a.iter().sum::<f32>() - 1.0).abs() < 1e-6);
        for (x, y) in a.iter().zip(&b) {
            assert!((x - y).abs() < 1e-6);
        }
    }

    #[test]
    fn pipeline_rule_picks_the_function() {
        assert_eq!(ScoreFunction::for_problem(None, 2), ScoreFunction::Softmax);
        assert_eq!(ScoreFunction::for_problem(None, 1), ScoreFunction::Sigmoid);
        assert_eq!(ScoreFunction::for_problem(Some("multi_label_classification"), 4), ScoreFunction::Sigmoid);
        assert_eq!(ScoreFunction::for_problem(Some("regression"), 1), ScoreFunction::None);
    }

    #[test]
    fn scores_are_sorted_descending_with_best_first() {
        let labels = vec!["a".to_string(), "b".to_string(), "c".to_string()];
        let c = Classification::from_logits(&[0.1, 2.0, -1.0], &labels, ScoreFunction::Softmax);
        assert_eq!(c.label, "b");
        let names: Vec<_> = c.scores.iter().map(|s| s.label.as_str()).collect();
        assert_eq!(names, ["b", "a", "c"]);
        assert_eq!(c.score, c.scores[0].score);
    }
}

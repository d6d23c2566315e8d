//! Model families behind the [`SequenceClassifier`] seam, chosen from `config.json`.
//!
//! | family | HF `model_type`s | module |
//! |---|---|---|
//! | BERT (post-LN encoder) | `bert`, `distilbert`, `roberta`, `xlm-roberta` | [`bert`] |
//! | ELECTRA (BERT encoder, projected embeddings) | `electra` | [`electra`] |
//! | ALBERT (BERT layer, factorized embeddings, shared layers) | `albert` | [`albert`] |
//! | DeBERTa-v2/v3 (disentangled relative attention) | `deberta-v2` | [`deberta`] |
//! | ModernBERT (RoPE, GeGLU, local/global attention) | `modernbert` | [`modernbert`] |
//!
//! Adding a family: one module exporting a [`Family`], and one line in [`FAMILIES`].

pub mod albert;
pub mod bert;
pub mod deberta;
pub mod electra;
pub mod modernbert;

use candle_nn::VarBuilder;

use super::classifier::SequenceClassifier;
use super::error::{ModelError, Result};
use super::hf::config::ClassifierConfig;

/// What a family's loader reads.
pub struct LoadContext<'a> {
    /// The whole `config.json` document (the family parses its own fields).
    pub json: &'a serde_json::Value,
    /// The canonical `model_type` the family was chosen for.
    pub model_type: &'static str,
    /// The checkpoint's tensors, at the checkpoint root.
    pub weights: &'a VarBuilder<'a>,
    /// Outputs of the classification head (`id2label`'s length).
    pub num_labels: usize,
}

/// What a family's loader returns.
pub struct Loaded {
    /// The body and head, ready to run.
    pub classifier: Box<dyn SequenceClassifier>,
    /// The longest input in tokens (special tokens included) the model can address.
    pub max_tokens: usize,
}

/// A family: which configs it reads and how to load them.
pub struct Family {
    /// The `model_type`s it reads, as they appear in `config.json`.
    pub model_types: &'static [&'static str],
    /// `architectures[0]` prefixes it reads (for configs without `model_type`),
    /// each with the `model_type` it stands for.
    pub architectures: &'static [(&'static str, &'static str)],
    /// Builds the classifier.
    pub load: fn(&LoadContext) -> Result<Loaded>,
}

/// Every family this build serves.
pub const FAMILIES: &[&Family] =
    &[&bert::FAMILY, &electra::FAMILY, &albert::FAMILY, &deberta::FAMILY, &modernbert::FAMILY];

/// Every supported `model_type`, for messages and docs.
pub fn supported() -> Vec<&'static str> {
    FAMILIES.iter().flat_map(|f| f.model_types.iter().copied()).collect()
}

/// Chooses the family for a config: by `model_type`, else by the first
/// `architectures` entry's prefix. Returns the family and the canonical `model_type`.
///
/// Errors: [`ModelError::UnsupportedArchitecture`].
pub fn resolve(config: &ClassifierConfig) -> Result<(&'static Family, &'static str)> {
    if let Some(model_type) = config.model_type.as_deref() {
        for family in FAMILIES {
            if let Some(&canonical) = family.model_types.iter().find(|&&t| t == model_type) {
                return Ok((family, canonical));
            }
        }
    }
    if let Some(architecture) = config.architectures.first() {
        for family in FAMILIES {
            if let Some(&(_, model_type)) = family.architectures.iter().find(|(p, _)| architecture.starts_with(p)) {
                return Ok((family, model_type));
            }
        }
    }
    Err(ModelError::UnsupportedArchitecture { found: config.describe(), supported: supported().join(", ") })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn resolved(json: serde_json::Value) -> Result<&'static str> {
        resolve(&ClassifierConfig::from_json(&json).unwrap()).map(|(_, t)| t)
    }

    #[test]
    fn families_are_chosen_by_model_type_then_architecture() {
        assert_eq!(resolved(json!({"model_type": "xlm-roberta"})).unwrap(), "xlm-roberta");
        assert_eq!(resolved(json!({"architectures": ["DistilBertForSequenceClassification"]})).unwrap(), "distilbert");
        assert_eq!(resolved(json!({"architectures": ["XLMRobertaForSequenceClassification"]})).unwrap(), "xlm-roberta");
        let err = resolved(json!({"model_type": "gpt2", "architectures": ["GPT2ForSequenceClassification"]}));
        assert!(matches!(err, Err(ModelError::UnsupportedArchitecture { .. })), "{err:?}");
    }
}

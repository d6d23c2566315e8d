//! Sequence-classification heads over the first token's hidden state.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use super::config::{Architecture, ModelConfig};
use super::encoder::Dense;
use super::error::Result;

/// The nonlinearity between the head's two dense layers.
#[derive(Debug, Clone, Copy)]
enum HeadActivation {
    Tanh,
    Relu,
}

/// `out(act(dense(h_first)))`, which is, per family:
/// - BERT (`BertForSequenceClassification`): `bert.pooler.dense` + tanh → `classifier`;
/// - RoBERTa / XLM-R (`RobertaClassificationHead`): `classifier.dense` + tanh →
///   `classifier.out_proj`;
/// - DistilBERT (`DistilBertForSequenceClassification`): `pre_classifier` + ReLU →
///   `classifier`.
///
/// Dropout is identity at inference.
pub struct Head {
    dense: Dense,
    activation: HeadActivation,
    out: Dense,
}

impl Head {
    /// Loads the head. `root` is the checkpoint root; `model` is the encoder prefix
    /// (where BERT keeps its pooler).
    pub fn load(root: &VarBuilder, model: &VarBuilder, cfg: &ModelConfig) -> Result<Self> {
        let (h, n) = (cfg.hidden_size, cfg.num_labels());
        let (dense, activation, out) = match cfg.architecture {
            Architecture::Bert => (model.pp("pooler.dense"), HeadActivation::Tanh, root.pp("classifier")),
            Architecture::Roberta | Architecture::XlmRoberta => {
                (root.pp("classifier.dense"), HeadActivation::Tanh, root.pp("classifier.out_proj"))
            }
            Architecture::DistilBert => (root.pp("pre_classifier"), HeadActivation::Relu, root.pp("classifier")),
        };
        Ok(Self { dense: Dense::load(dense, h, h)?, activation, out: Dense::load(out, h, n)? })
    }

    /// `[batch, hidden]` → logits `[batch, num_labels]`.
    pub fn forward(&self, first_token: &Tensor) -> Result<Tensor> {
        let x = self.dense.forward(first_token)?;
        let x = match self.activation {
            HeadActivation::Tanh => x.tanh()?,
            HeadActivation::Relu => x.relu()?,
        };
        self.out.forward(&x)
    }

    /// Number of parameters of the head.
    pub fn num_params(&self) -> usize {
        self.dense.num_params() + self.out.num_params()
    }
}

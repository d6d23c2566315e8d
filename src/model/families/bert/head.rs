//! Sequence-classification heads over the first token's hidden state.

use candle_core::Tensor;
use candle_nn::VarBuilder;

use super::config::{EncoderConfig, Variant};
use crate::model::error::Result;
use crate::model::layers::Linear;

/// The nonlinearity between the head's two dense layers.
#[derive(Debug, Clone, Copy)]
pub enum HeadActivation {
    /// BERT pooler, RoBERTa head, ALBERT pooler.
    Tanh,
    /// DistilBERT.
    Relu,
    /// ELECTRA (`ElectraClassificationHead`: exact, erf GELU).
    GeluErf,
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
    dense: Linear,
    activation: HeadActivation,
    out: Linear,
}

impl Head {
    /// Loads the head with `num_labels` outputs. `root` is the checkpoint root;
    /// `model` is the encoder prefix (where BERT keeps its pooler).
    ///
    /// Errors: a missing or misshapen weight.
    pub fn load(root: &VarBuilder, model: &VarBuilder, cfg: &EncoderConfig, num_labels: usize) -> Result<Self> {
        let (h, n) = (cfg.hidden_size, num_labels);
        let (dense, activation, out) = match cfg.variant {
            Variant::Bert => (model.pp("pooler.dense"), HeadActivation::Tanh, root.pp("classifier")),
            Variant::Roberta | Variant::XlmRoberta => {
                (root.pp("classifier.dense"), HeadActivation::Tanh, root.pp("classifier.out_proj"))
            }
            Variant::DistilBert => (root.pp("pre_classifier"), HeadActivation::Relu, root.pp("classifier")),
        };
        Ok(Self { dense: Linear::load(dense, h, h)?, activation, out: Linear::load(out, h, n)? })
    }

    /// A head from its parts: `dense` `[hidden → hidden]`, `out` `[hidden → num_labels]`.
    pub fn new(dense: Linear, activation: HeadActivation, out: Linear) -> Self {
        Self { dense, activation, out }
    }

    /// `[batch, hidden]` → logits `[batch, num_labels]`.
    ///
    /// Errors: shape mismatches or device failures.
    pub fn forward(&self, first_token: &Tensor) -> Result<Tensor> {
        let x = self.dense.forward(first_token)?;
        let x = match self.activation {
            HeadActivation::Tanh => x.tanh()?,
            HeadActivation::Relu => x.relu()?,
            HeadActivation::GeluErf => crate::model::kernels::gelu::gelu_erf(&x)?,
        };
        self.out.forward(&x)
    }

    /// The head's two linear layers.
    pub fn linears_mut(&mut self) -> Vec<&mut Linear> {
        vec![&mut self.dense, &mut self.out]
    }

    /// Number of parameters of the head.
    pub fn num_params(&self) -> usize {
        self.dense.num_params() + self.out.num_params()
    }
}

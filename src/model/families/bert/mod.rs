//! The BERT family: one post-LayerNorm encoder serving BERT, DistilBERT, RoBERTa and
//! XLM-RoBERTa checkpoints, with each one's HF classification head. On the CPU it runs
//! packed (no padding, fused kernels). ELECTRA and ALBERT (`super::electra`,
//! `super::albert`) reuse its encoder, head and [`BertClassifier`] with their own
//! [`encoder::Layout`].

pub mod config;
pub mod encoder;
pub mod head;

use candle_core::{Device, Tensor};

use super::{Family, LoadContext, Loaded};
use crate::model::classifier::{Execution, SequenceClassifier};
use crate::model::error::Result;
use crate::model::hf::tokenize::Encoded;
use crate::model::input::{self, Positions};
use config::{EncoderConfig, Variant};
use encoder::{Encoder, Layout, BERT_NAMES, DISTILBERT_NAMES};
use head::Head;

/// The family's registration.
pub const FAMILY: Family = Family {
    model_types: &["bert", "distilbert", "roberta", "xlm-roberta"],
    architectures: &[
        ("DistilBert", "distilbert"),
        ("XLMRoberta", "xlm-roberta"),
        ("Roberta", "roberta"),
        ("Bert", "bert"),
    ],
    load,
};

/// A post-LN encoder + first-token head: the [`SequenceClassifier`] of the BERT,
/// ELECTRA and ALBERT families.
pub struct BertClassifier {
    config: EncoderConfig,
    encoder: Encoder,
    head: Head,
}

fn load(ctx: &LoadContext) -> Result<Loaded> {
    let variant = Variant::from_model_type(ctx.model_type).unwrap_or(Variant::Bert);
    let config = EncoderConfig::from_json(ctx.json, variant)?;
    let prefix = match variant {
        Variant::Bert => "bert",
        Variant::DistilBert => "distilbert",
        Variant::Roberta | Variant::XlmRoberta => "roberta",
    };
    let root = ctx.weights;
    let body = if root.contains_tensor(&format!("{prefix}.embeddings.word_embeddings.weight")) {
        root.pp(prefix)
    } else {
        root.clone()
    };
    let layout = match variant {
        Variant::DistilBert => {
            Layout::stacked(&DISTILBERT_NAMES, "transformer.layer", config.num_layers, false, config.hidden_size)
        }
        _ => Layout::stacked(&BERT_NAMES, "encoder.layer", config.num_layers, true, config.hidden_size),
    };
    let encoder = Encoder::load(body.clone(), &config, &layout)?;
    let head = Head::load(root, &body, &config, ctx.num_labels)?;
    Ok(BertClassifier::new(config, encoder, head).loaded())
}

impl BertClassifier {
    /// Puts a loaded encoder and head together; `config.variant` decides position ids.
    pub fn new(config: EncoderConfig, encoder: Encoder, head: Head) -> Self {
        Self { config, encoder, head }
    }

    /// The family loader's result: this classifier and its input limit.
    pub fn loaded(self) -> Loaded {
        let max_tokens = self.config.max_tokens();
        Loaded { classifier: Box::new(self), max_tokens }
    }

    fn positions(&self) -> Positions {
        if self.config.variant.offsets_positions() {
            Positions::AfterPad(self.config.pad_token_id)
        } else {
            Positions::FromZero
        }
    }
}

impl SequenceClassifier for BertClassifier {
    fn forward(&self, batch: &[&Encoded], execution: Execution, device: &Device) -> Result<Tensor> {
        let first = if execution == Execution::Packed && device.is_cpu() {
            self.encoder.forward_packed(&input::packed(batch, self.positions(), device)?)?
        } else {
            self.encoder.forward(&input::padded(batch, self.config.pad_token_id, self.positions(), device)?)?
        };
        self.head.forward(&first)
    }

    fn num_params(&self) -> usize {
        self.encoder.num_params() + self.head.num_params()
    }

    fn linears_mut(&mut self) -> Vec<&mut crate::model::layers::Linear> {
        let mut out = self.encoder.linears_mut();
        out.extend(self.head.linears_mut());
        out
    }
}

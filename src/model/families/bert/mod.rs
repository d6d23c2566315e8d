//! The BERT family: one post-LayerNorm encoder serving BERT, DistilBERT, RoBERTa and
//! XLM-RoBERTa checkpoints, with each one's HF classification head. On the CPU it runs
//! packed (no padding, fused kernels).

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
use encoder::Encoder;
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

/// A BERT-family sequence classifier.
struct BertClassifier {
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
    let encoder = Encoder::load(body.clone(), &config)?;
    let head = Head::load(root, &body, &config, ctx.num_labels)?;
    let max_tokens = config.max_tokens();
    Ok(Loaded { classifier: Box::new(BertClassifier { config, encoder, head }), max_tokens })
}

impl BertClassifier {
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

    fn flops(&self, tokens: usize) -> f64 {
        let c = &self.config;
        let (h, i, t) = (c.hidden_size as f64, c.intermediate_size as f64, tokens as f64);
        let per_layer = 2.0 * t * (4.0 * h * h + 2.0 * h * i) + 4.0 * t * t * h;
        c.num_layers as f64 * per_layer
    }
}

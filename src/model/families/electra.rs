//! ELECTRA (Clark et al. 2020; transformers' `ElectraForSequenceClassification`): BERT's
//! post-LN encoder with embeddings of `embedding_size`, projected to the hidden width by
//! `embeddings_project` when narrower, and `ElectraClassificationHead` (dense → erf GELU →
//! `out_proj` on the first token). Runs on the BERT family's packed CPU path.

use super::bert::config::{EncoderConfig, Variant};
use super::bert::encoder::{Encoder, Layout, BERT_NAMES};
use super::bert::head::{Head, HeadActivation};
use super::bert::BertClassifier;
use super::{Family, LoadContext, Loaded};
use crate::model::error::Result;
use crate::model::layers::Linear;

/// The family's registration.
pub const FAMILY: Family = Family { model_types: &["electra"], architectures: &[("Electra", "electra")], load };

fn load(ctx: &LoadContext) -> Result<Loaded> {
    // `ElectraConfig` shares `BertConfig`'s field names, plus `embedding_size`; its
    // position ids start at zero as BERT's do.
    let config = EncoderConfig::from_json(ctx.json, Variant::Bert)?;
    let root = ctx.weights;
    let body = root.pp("electra");
    let mut layout = Layout::stacked(&BERT_NAMES, "encoder.layer", config.num_layers, true, config.hidden_size);
    layout.embedding_size = config.embedding_size;
    if config.embedding_size != config.hidden_size {
        layout.projection = Some("embeddings_project");
    }
    let encoder = Encoder::load(body, &config, &layout)?;
    let (h, n) = (config.hidden_size, ctx.num_labels);
    let head = Head::new(
        Linear::load(root.pp("classifier.dense"), h, h)?,
        HeadActivation::GeluErf,
        Linear::load(root.pp("classifier.out_proj"), h, n)?,
    );
    Ok(BertClassifier::new(config, encoder, head).loaded())
}

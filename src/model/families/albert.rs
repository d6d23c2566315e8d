//! ALBERT (Lan et al. 2020; transformers' `AlbertForSequenceClassification`): BERT's
//! post-LN layer with factorized embeddings (`embedding_size`, then
//! `encoder.embedding_hidden_mapping_in`), `num_hidden_groups` groups of
//! `inner_group_num` layers shared across the `num_hidden_layers` depths, and a tanh
//! pooler on the first token before `classifier`. Runs on the BERT family's packed CPU
//! path; shared layers are loaded once.

use serde::Deserialize;

use super::bert::config::{Activation, EncoderConfig, Variant};
use super::bert::encoder::{Encoder, LayerNames, Layout};
use super::bert::head::{Head, HeadActivation};
use super::bert::BertClassifier;
use super::{Family, LoadContext, Loaded};
use crate::model::error::{ModelError, Result};
use crate::model::layers::Linear;

/// The family's registration.
pub const FAMILY: Family = Family { model_types: &["albert"], architectures: &[("Albert", "albert")], load };

/// ALBERT's names inside `encoder.albert_layer_groups.{g}.albert_layers.{j}`.
const ALBERT_NAMES: LayerNames = LayerNames {
    q: "attention.query",
    k: "attention.key",
    v: "attention.value",
    attn_out: "attention.dense",
    attn_norm: "attention.LayerNorm",
    ffn_in: "ffn",
    ffn_out: "ffn_output",
    out_norm: "full_layer_layer_norm",
};

fn one() -> usize {
    1
}

/// The `AlbertConfig` fields beyond `BertConfig`'s.
#[derive(Debug, Deserialize)]
struct Sharing {
    #[serde(default = "one")]
    num_hidden_groups: usize,
    #[serde(default = "one")]
    inner_group_num: usize,
    num_hidden_layers: usize,
    /// ALBERT's default activation is `gelu_new` (BERT's is `gelu`).
    #[serde(default)]
    hidden_act: Option<Activation>,
}

/// Which layer of `groups × inner` runs at each depth: depth `i` of `layers` runs
/// every inner layer of group `i / (layers / groups)` (`AlbertTransformer.forward`).
///
/// Errors: zero groups, or more groups than layers.
fn schedule(layers: usize, groups: usize, inner: usize) -> Result<Vec<usize>> {
    if groups == 0 || inner == 0 || groups > layers {
        return Err(ModelError::Config(format!(
            "num_hidden_groups {groups} / inner_group_num {inner} do not fit {layers} layers"
        )));
    }
    let per_group = layers / groups;
    Ok((0..layers).flat_map(|i| (0..inner).map(move |j| (i / per_group).min(groups - 1) * inner + j)).collect())
}

fn load(ctx: &LoadContext) -> Result<Loaded> {
    let sharing = Sharing::deserialize(ctx.json).map_err(|e| ModelError::Config(e.to_string()))?;
    let mut config = EncoderConfig::from_json(ctx.json, Variant::Bert)?;
    config.activation = sharing.hidden_act.unwrap_or(Activation::GeluTanh);
    let (groups, inner) = (sharing.num_hidden_groups, sharing.inner_group_num);
    let layout = Layout {
        names: &ALBERT_NAMES,
        layers: (0..groups)
            .flat_map(|g| (0..inner).map(move |j| format!("encoder.albert_layer_groups.{g}.albert_layers.{j}")))
            .collect(),
        schedule: schedule(sharing.num_hidden_layers, groups, inner)?,
        token_type: true,
        embedding_size: config.embedding_size,
        projection: Some("encoder.embedding_hidden_mapping_in"),
    };
    let root = ctx.weights;
    let body = root.pp("albert");
    let encoder = Encoder::load(body.clone(), &config, &layout)?;
    let (h, n) = (config.hidden_size, ctx.num_labels);
    let head = Head::new(
        Linear::load(body.pp("pooler"), h, h)?,
        HeadActivation::Tanh,
        Linear::load(root.pp("classifier"), h, n)?,
    );
    Ok(BertClassifier::new(config, encoder, head).loaded())
}

#[cfg(test)]
mod tests {
    use super::schedule;

    #[test]
    fn layers_are_shared_by_group() {
        assert_eq!(schedule(3, 1, 1).unwrap(), [0, 0, 0]);
        assert_eq!(schedule(4, 2, 1).unwrap(), [0, 0, 1, 1]);
        assert_eq!(schedule(2, 1, 2).unwrap(), [0, 1, 0, 1]);
        assert_eq!(schedule(4, 2, 2).unwrap(), [0, 1, 0, 1, 2, 3, 2, 3]);
        assert!(schedule(2, 3, 1).is_err());
        assert!(schedule(2, 0, 1).is_err());
    }
}

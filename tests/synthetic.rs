//! The benchmarks' random checkpoints load as their families and classify.

#[path = "../benches/support/synthetic.rs"]
mod synthetic;

use std::path::Path;

use candle_core::Device;
use sentiserve::model::{Model, ModelFiles};
use synthetic::*;

fn tiny(arch: &str) -> std::path::PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../shared/fixtures/tiny").join(arch)
}

/// Every writer's checkpoint loads as its family and classifies a text (small
/// shapes: names and shapes are what is checked, not speed).
#[test]
fn random_checkpoints_load_and_classify() {
    let dir = tempfile::tempdir().unwrap();
    let paths = [dir.path().join("distilbert"), dir.path().join("deberta"), dir.path().join("modernbert")];
    write_distilbert(
        &paths[0],
        DistilBertShape { dim: 32, hidden_dim: 64, layers: 2, heads: 4, vocab: 30522 },
        &tiny("distilbert"),
    )
    .unwrap();
    let deberta = DebertaV2Shape { hidden: 32, intermediate: 64, layers: 2, heads: 4, vocab: 600, buckets: 16 };
    write_deberta_v2(&paths[1], deberta, &tiny("deberta-v2")).unwrap();
    let modernbert = ModernBertShape { hidden: 32, intermediate: 48, layers: 4, heads: 4, vocab: 30522 };
    write_modernbert(&paths[2], modernbert, &tiny("modernbert")).unwrap();
    for (path, model_type) in paths.iter().zip(["distilbert", "deberta-v2", "modernbert"]) {
        let model = Model::load(&ModelFiles::from_dir(path).unwrap(), &Device::Cpu).unwrap();
        assert_eq!(model.architecture(), model_type);
        let encoded = model.tokenize("a random checkpoint still answers").unwrap();
        let logits = model.logits(&[&encoded]).unwrap().remove(0);
        assert_eq!(logits.len(), 2);
        assert!(logits.iter().all(|x| x.is_finite()), "{model_type}: {logits:?}");
    }
}

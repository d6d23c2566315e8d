//! A Hub source is served from an already-populated Hugging Face cache (`HF_HOME`)
//! without any network, by branch and by commit sha.

mod common;

use sentiserve::model::hf::source;
use sentiserve::model::{ModelError, ModelSource};

#[test]
fn hub_ids_resolve_from_the_hf_cache_without_network() {
    let home = tempfile::tempdir().unwrap();
    let sha = "0123456789abcdef0123456789abcdef01234567";
    let repo = home.path().join("hub/models--acme--tiny-bert");
    let snapshot = repo.join("snapshots").join(sha);
    std::fs::create_dir_all(&snapshot).unwrap();
    std::fs::create_dir_all(repo.join("refs")).unwrap();
    std::fs::write(repo.join("refs/main"), sha).unwrap();
    for file in ["config.json", "tokenizer.json", "model.safetensors"] {
        std::os::unix::fs::symlink(common::tiny_dir("bert").join(file), snapshot.join(file)).unwrap();
    }
    // This is the only test in this binary, so changing the environment races nothing.
    // A closed local port stands in for the Hub: any download attempt fails at once.
    std::env::set_var("HF_HOME", home.path());
    std::env::set_var("HF_ENDPOINT", "http://127.0.0.1:9");

    for id in ["acme/tiny-bert", &format!("acme/tiny-bert@{sha}")] {
        let files = source::resolve(&ModelSource::parse(id).unwrap(), false).unwrap();
        assert_eq!(files.revision.as_deref(), Some(sha), "{id}");
        let model = sentiserve::model::Model::load(&files, &candle_core::Device::Cpu).unwrap();
        assert_eq!(model.id2label().len(), 3);
    }

    let missing = source::resolve(&ModelSource::parse("acme/not-cached").unwrap(), false);
    assert!(matches!(missing, Err(ModelError::Hub(_))), "{missing:?}");
}

//! The accuracy gate of bf16 and int8 (`--dtype`): the shared MiniLM sentiment model
//! served three times (f32, bf16, int8) answers every labelled sentence of
//! `../shared/data/uci-sentiment/{amazon,imdb}.jsonl` through `/analyze`. bf16 and int8
//! must each be within 0.5 points of f32's accuracy and give f32's label on ≥ 98% of
//! the sentences. Also: each model reports its dtype and kernel, and their cache entries are
//! separate (an f32 result never answers an int8 request).

mod common;

use common::server::{config, start};
use sentiserve::model::Dtype;
use serde_json::json;

const DTYPES: [(&str, Dtype); 3] = [("f32", Dtype::F32), ("bf16", Dtype::Bf16), ("int8", Dtype::Int8)];

#[tokio::test(flavor = "multi_thread")]
async fn bf16_and_int8_keep_f32_accuracy_through_analyze() {
    let models: Vec<(&str, std::path::PathBuf)> =
        DTYPES.iter().map(|(name, _)| (*name, common::minilm_dir())).collect();
    let mut server_config = config(&models);
    for (spec, (_, dtype)) in server_config.catalog.models.iter_mut().zip(DTYPES) {
        spec.settings.dtype = Some(dtype);
    }
    let server = start(server_config).await;
    server.wait_health(200).await;

    let mut fingerprints = Vec::new();
    for (name, dtype) in DTYPES {
        let status = server.model(name).await;
        assert_eq!(status["dtype"], dtype.as_str(), "{status}");
        let kernel = sentiserve::model::kernels::linear_kernel(dtype, true);
        assert_eq!(status["kernel"], kernel, "GET /models names the kernel that runs: {status}");
        fingerprints.push(status["fingerprint"].as_str().unwrap().to_string());
    }
    fingerprints.dedup();
    assert_eq!(fingerprints.len(), 3, "every dtype has its own cache fingerprint: {fingerprints:?}");

    for file in ["amazon.jsonl", "imdb.jsonl"] {
        let rows = common::labelled(file);
        let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
        let mut labels: Vec<Vec<String>> = Vec::new();
        // Texts of one request that tokenize the same share one computation, so some
        // are cached the first time; as many for every dtype, or another dtype's
        // entries were read.
        let mut first_cached = None;
        for (name, _) in DTYPES {
            let (code, body) = server.analyze(json!({ "model": name, "texts": texts })).await;
            assert_eq!(code, 200, "{name}: {body}");
            let results = body["results"].as_array().unwrap();
            let cached = results.iter().filter(|r| r["cached"] == true).count();
            assert!(cached < results.len() / 10, "{name}: {cached} of {} cached", results.len());
            assert_eq!(*first_cached.get_or_insert(cached), cached, "{name}: a result came from another dtype's cache");
            labels.push(results.iter().map(|r| r["label"].as_str().unwrap().to_string()).collect());
        }
        let accuracy = |predicted: &[String]| {
            let right = predicted.iter().zip(&rows).filter(|(p, r)| p.as_str() == common::label_name(&r.label)).count();
            100.0 * right as f64 / rows.len() as f64
        };
        let f32_accuracy = accuracy(&labels[0]);
        for (i, (name, _)) in DTYPES.iter().enumerate().skip(1) {
            let same = labels[i].iter().zip(&labels[0]).filter(|(a, b)| a == b).count();
            let agreement = 100.0 * same as f64 / rows.len() as f64;
            let acc = accuracy(&labels[i]);
            eprintln!("{file}: f32 {f32_accuracy:.1}%, {name} {acc:.1}%, labels equal to f32 on {agreement:.1}%");
            assert!((acc - f32_accuracy).abs() <= 0.5, "{file} {name}: accuracy {acc:.2} vs f32 {f32_accuracy:.2}");
            assert!(agreement >= 98.0, "{file} {name}: labels equal to f32 on only {agreement:.2}%");
        }
    }
}

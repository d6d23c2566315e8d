//! Every model family served end to end: one server with the ELECTRA, ALBERT,
//! DeBERTa-v2 and ModernBERT fixtures preloaded answers `/analyze` for each with
//! transformers' scores, batched, and reports each one's `model_type` in `/models`.

mod common;

use common::server::{config, start};
use serde_json::json;

const FAMILIES: [(&str, &str); 4] =
    [("electra", "electra"), ("albert", "albert"), ("deberta-v2", "deberta-v2"), ("modernbert", "modernbert")];

#[tokio::test(flavor = "multi_thread")]
async fn every_family_answers_analyze_with_transformers_scores() {
    let models: Vec<(&str, std::path::PathBuf)> =
        FAMILIES.iter().map(|(name, arch)| (*name, common::tiny_dir(arch))).collect();
    let server = start(config(&models)).await;
    server.wait_health(200).await;
    for (name, model_type) in FAMILIES {
        let status = server.model(name).await;
        assert_eq!(status["state"], "loaded", "{name}: {status}");
        assert_eq!(status["architecture"], model_type, "{name}: {status}");

        let rows = common::references(&common::tiny_dir(model_type).join("reference.jsonl"));
        let texts: Vec<&str> = rows.iter().map(|r| r.text.as_str()).collect();
        let (code, body) = server.analyze(json!({ "model": name, "texts": texts })).await;
        assert_eq!(code, 200, "{name}: {body}");
        let results = body["results"].as_array().unwrap();
        assert_eq!(results.len(), rows.len());
        for (row, result) in rows.iter().zip(results) {
            let scores = result["scores"].as_array().unwrap();
            assert_eq!(scores.len(), row.scores.len(), "{name}: {result}");
            for s in scores {
                let label = s["label"].as_str().unwrap();
                let (got, want) = (s["score"].as_f64().unwrap(), f64::from(row.scores[label]));
                assert!((got - want).abs() <= 1e-4, "{name} / {:.40?} / {label}: {got} vs {want}", row.text);
            }
            assert_eq!(result["truncated"], row.truncated, "{name}: {result}");
        }
    }
}

//! `POST /zero-shot-classification` over real TCP on the tiny DeBERTa-v2 NLI fixture,
//! against transformers' `pipeline("zero-shot-classification")`
//! (`../shared/fixtures/tasks/zero-shot.jsonl`).

mod common;

use common::server::{config, start, TestServer};
use serde_json::{json, Value};

/// The NLI model (default) and MiniLM (not an NLI model).
async fn server() -> TestServer {
    let server = start(config(&[("nli", common::tiny_dir("deberta-v2")), ("minilm", common::minilm_dir())])).await;
    server.wait_health(200).await;
    server
}

async fn classify(server: &TestServer, body: Value) -> (u16, Value) {
    let response = server.client.post(server.url("/zero-shot-classification")).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn zero_shot_matches_the_transformers_pipeline() {
    let server = server().await;
    let path = common::shared().join("fixtures/tasks/zero-shot.jsonl");
    let cases: Vec<Value> =
        std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(cases.len() >= 10);
    for case in &cases {
        let body = json!({
            "text": case["sequence"],
            "candidate_labels": case["candidate_labels"],
            "hypothesis_template": case["hypothesis_template"],
            "multi_label": case["multi_label"],
        });
        let (status, result) = classify(&server, body).await;
        assert_eq!(status, 200, "{result}");
        assert_eq!(result["sequence"], case["sequence"]);
        let (scores, expected) = (result["scores"].as_array().unwrap(), case["scores"].as_array().unwrap());
        assert_eq!(scores.len(), expected.len());
        for (got, want) in scores.iter().zip(expected) {
            let (g, w) = (got.as_f64().unwrap(), want.as_f64().unwrap());
            assert!((g - w).abs() < 1e-4, "{g} vs {w}: {case}\n{result}");
        }
        // Labels best first; near-ties may swap within the tolerance, so compare sets.
        let mut got: Vec<&str> = result["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
        let mut want: Vec<&str> = case["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
        assert_eq!(got[0], want[0], "{case}\n{result}");
        got.sort();
        want.sort();
        assert_eq!(got, want);
    }

    // A batch answers a list in order; repeating it runs no model (every pair cached).
    let case = &cases[0];
    let texts = json!([case["sequence"], "Another text entirely."]);
    let body = json!({ "texts": texts, "candidate_labels": case["candidate_labels"] });
    let (status, first) = classify(&server, body.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert_eq!(first.as_array().unwrap().len(), 2);
    assert_eq!(first[1]["sequence"], "Another text entirely.");
    let misses = server.get_json("/cache").await["misses"].as_u64().unwrap();
    let (_, again) = classify(&server, body).await;
    assert_eq!(again, first);
    assert_eq!(server.get_json("/cache").await["misses"].as_u64().unwrap(), misses, "all from the cache");
}

#[tokio::test(flavor = "multi_thread")]
async fn zero_shot_refuses_a_model_without_entailment_and_bad_requests() {
    let server = server().await;
    let (status, error) =
        classify(&server, json!({ "text": "t", "candidate_labels": ["a", "b"], "model": "minilm" })).await;
    assert_eq!(status, 409, "{error}");
    assert_eq!(error["error"]["type"], "not_nli");
    let (status, labels) = classify(&server, json!({ "text": "t", "candidate_labels": "sports, politics" })).await;
    assert_eq!(status, 200, "{labels}");
    let mut names: Vec<&str> = labels["labels"].as_array().unwrap().iter().map(|l| l.as_str().unwrap()).collect();
    names.sort();
    assert_eq!(names, ["politics", "sports"], "a comma-separated string is split");
    for bad in [
        json!({ "candidate_labels": ["a"] }),
        json!({ "text": "t", "texts": ["u"], "candidate_labels": ["a"] }),
        json!({ "text": "t", "candidate_labels": [] }),
        json!({ "text": "t", "candidate_labels": ["a"], "hypothesis_template": "no slot" }),
    ] {
        let (status, error) = classify(&server, bad.clone()).await;
        assert_eq!((status, error["error"]["type"].as_str()), (422, Some("invalid_request")), "{bad}");
    }
}

//! TEI's `POST /rerank` over real TCP on the tiny cross-encoder fixture, against the
//! answers transformers computed (`../shared/fixtures/tiny/bert-reranker/rerank.jsonl`).

mod common;

use common::server::{config, start, TestServer};
use serde_json::{json, Value};

/// The cross-encoder (default) and MiniLM (2 labels: not a re-ranker).
async fn server() -> TestServer {
    let models = [("reranker", common::tiny_dir("bert-reranker")), ("minilm", common::minilm_dir())];
    let server = start(config(&models)).await;
    server.wait_health(200).await;
    server
}

async fn rerank(server: &TestServer, query: &str, body: Value) -> (u16, Value) {
    let response = server.client.post(server.url(&format!("/rerank{query}"))).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

#[tokio::test(flavor = "multi_thread")]
async fn rerank_matches_transformers_best_first_and_is_cached() {
    let server = server().await;
    let path = common::tiny_dir("bert-reranker").join("rerank.jsonl");
    let cases: Vec<Value> =
        std::fs::read_to_string(path).unwrap().lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    assert!(!cases.is_empty());
    for case in &cases {
        let body = json!({ "query": case["query"], "texts": case["texts"], "raw_scores": case["raw_scores"] });
        let (status, ranks) = rerank(&server, "", body).await;
        assert_eq!(status, 200, "{ranks}");
        let (ranks, expected) = (ranks.as_array().unwrap(), case["ranks"].as_array().unwrap());
        assert_eq!(ranks.len(), expected.len());
        for (got, want) in ranks.iter().zip(expected) {
            assert_eq!(got["index"], want["index"], "order: {ranks:?} vs {expected:?}");
            let (g, w) = (got["score"].as_f64().unwrap(), want["score"].as_f64().unwrap());
            assert!((g - w).abs() < 1e-4, "{g} vs {w}: {case}\n{ranks:?}");
            assert!(got.get("text").is_none(), "no text unless return_text");
        }
    }

    // The same query and texts again: every pair from the cache, the same answer.
    let case = &cases[0];
    let before = server.get_json("/cache").await["hits"].as_u64().unwrap();
    let body = json!({ "query": case["query"], "texts": case["texts"], "raw_scores": case["raw_scores"], "return_text": true });
    let (status, ranks) = rerank(&server, "?model=reranker", body).await;
    assert_eq!(status, 200);
    let texts = case["texts"].as_array().unwrap();
    for rank in ranks.as_array().unwrap() {
        assert_eq!(rank["text"], texts[rank["index"].as_u64().unwrap() as usize]);
    }
    let after = server.get_json("/cache").await["hits"].as_u64().unwrap();
    assert_eq!(after - before, texts.len() as u64, "each (query, text) pair is a cache hit");
}

#[tokio::test(flavor = "multi_thread")]
async fn rerank_refuses_a_classifier_and_bad_requests() {
    let server = server().await;
    let body = json!({ "query": "q", "texts": ["a", "b"] });
    let (status, error) = rerank(&server, "?model=minilm", body.clone()).await;
    assert_eq!(status, 424, "TEI's status for a model that is not a re-ranker: {error}");
    assert_eq!(error["error_type"], "Backend");
    assert!(error["error"].as_str().unwrap().contains("2 labels"), "{error}");

    let (status, error) = rerank(&server, "", json!({ "query": "q", "texts": [] })).await;
    assert_eq!((status, error["error_type"].as_str()), (400, Some("Empty")), "{error}");
    let (status, _) = rerank(&server, "", json!({ "query": "q" })).await;
    assert_eq!(status, 422);
    let (status, _) = rerank(&server, "?model=nope", body).await;
    assert_eq!(status, 404);
}

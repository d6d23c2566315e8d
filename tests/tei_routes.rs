//! TEI's contract beyond `/predict`: `/tokenize` and `/decode` against the tokenizer
//! itself, left truncation (`truncation_direction`) on `/analyze`, `/predict` and
//! `/rerank` against the computation of the kept tokens, and TEI's error shape on TEI's
//! routes, key-check errors included. On the real MiniLM model.

mod common;

use common::server::{config, start, TestServer};
use serde_json::{json, Value};

const API_KEY: &str = "tei-routes-key";

async fn server_with(api_key: Option<&str>) -> TestServer {
    let mut config = config(&[("minilm", common::minilm_dir()), ("reranker", common::tiny_dir("bert-reranker"))]);
    config.http.api_key = api_key.map(Into::into);
    let server = start(config).await;
    server.wait_health(200).await;
    server
}

async fn post(server: &TestServer, path: &str, body: Value, headers: &[(&str, &str)]) -> (u16, Value) {
    let mut request = server.client.post(server.url(path)).json(&body);
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let response = request.send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap())
}

/// The model's tokenizer without the fixed padding and truncation its file carries.
fn tokenizer() -> tokenizers::Tokenizer {
    let mut tokenizer = tokenizers::Tokenizer::from_file(common::minilm_dir().join("tokenizer.json")).unwrap();
    tokenizer.with_padding(None);
    tokenizer.with_truncation(None).unwrap();
    tokenizer
}

#[tokio::test(flavor = "multi_thread")]
async fn tokenize_and_decode_agree_with_the_tokenizer() {
    let server = server_with(None).await;
    let text = "Café crème: I löve this movie!";
    let (status, tokens) = post(&server, "/tokenize", json!({ "inputs": text }), &[]).await;
    assert_eq!(status, 200, "{tokens}");
    let tokens = tokens[0].as_array().unwrap();
    let expected = tokenizer().encode(text, true).unwrap();
    let ids: Vec<u32> = tokens.iter().map(|t| t["id"].as_u64().unwrap() as u32).collect();
    assert_eq!(ids, expected.get_ids(), "the tokenizer's own ids, untruncated, with special tokens");
    for (token, special) in tokens.iter().zip(expected.get_special_tokens_mask()) {
        assert_eq!(token["special"], *special == 1, "{token}");
        if *special == 1 {
            assert!(token["start"].is_null() && token["stop"].is_null(), "{token}");
            assert!(token["text"].as_str().unwrap().starts_with('['), "its name: {token}");
        } else {
            let (start, stop) = (token["start"].as_u64().unwrap() as usize, token["stop"].as_u64().unwrap() as usize);
            assert_eq!(token["text"], text[start..stop], "byte offsets into the input: {token}");
        }
    }

    let (_, bare) =
        post(&server, "/tokenize", json!({ "inputs": [text, "two"], "add_special_tokens": false }), &[]).await;
    assert_eq!(bare.as_array().unwrap().len(), 2, "one list per input");
    assert_eq!(bare[0].as_array().unwrap().len(), tokens.len() - 2, "no [CLS] and [SEP]");
    assert!(bare[0].as_array().unwrap().iter().all(|t| t["special"] == false));

    let (status, texts) = post(&server, "/decode", json!({ "ids": ids }), &[]).await;
    assert_eq!(status, 200, "{texts}");
    let decoded = tokenizer().decode(&ids, true).unwrap();
    assert_eq!(texts, json!([decoded]));
    assert!(decoded.starts_with("cafe creme"), "an uncased tokenizer: {decoded}");
    let (_, with_special) =
        post(&server, "/decode", json!({ "ids": [ids.clone(), [101, 102]], "skip_special_tokens": false }), &[]).await;
    assert_eq!(with_special, json!([tokenizer().decode(&ids, false).unwrap(), "[CLS] [SEP]"]));
    let (status, unknown) = post(&server, "/decode", json!({ "ids": [2_000_000_000u32, 101.0] }), &[]).await;
    assert_eq!((status, unknown), (200, json!([""])), "ids outside the vocabulary are skipped; 101.0 is [CLS]");
    let (status, body) = post(&server, "/decode", json!({ "ids": [4_000_000_000u32] }), &[]).await;
    assert_eq!((status, body["error_type"].as_str()), (422, Some("Validation")), "past int32, as TEI's schema: {body}");

    let (status, body) = post(&server, "/tokenize", json!({ "inputs": [] }), &[]).await;
    assert_eq!((status, body["error_type"].as_str()), (400, Some("Empty")), "{body}");
    let (status, body) = post(&server, "/tokenize", json!({ "inputs": "x", "prompt_name": "query" }), &[]).await;
    assert_eq!((status, body["error_type"].as_str()), (422, Some("Validation")), "{body}");
    let (status, body) = post(&server, "/decode", json!({ "ids": "x" }), &[]).await;
    assert_eq!((status, body["error_type"].as_str()), (422, Some("Validation")), "{body}");
    let (status, body) = post(&server, "/tokenize?model=nope", json!({ "inputs": "x" }), &[]).await;
    assert_eq!((status, body["error_type"].as_str()), (404, Some("Validation")), "{body}");
}

/// Raw logits of one `/analyze` result.
fn logits(body: &Value) -> Vec<f64> {
    let mut scores: Vec<(String, f64)> = body["results"][0]["scores"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| (s["label"].as_str().unwrap().to_string(), s["score"].as_f64().unwrap()))
        .collect();
    scores.sort_by(|a, b| a.0.cmp(&b.0));
    scores.into_iter().map(|(_, score)| score).collect()
}

fn close(a: &[f64], b: &[f64]) -> bool {
    a.iter().zip(b).all(|(x, y)| (x - y).abs() < 1e-5)
}

#[tokio::test(flavor = "multi_thread")]
async fn left_truncation_keeps_the_end_and_has_its_own_cache_entries() {
    let server = server_with(None).await;
    // 600 one-token words: the limit (512 with [CLS] and [SEP]) keeps 510 of them.
    let words: Vec<&str> = std::iter::repeat_n("terrible", 300).chain(std::iter::repeat_n("wonderful", 300)).collect();
    let long = words.join(" ");
    let (_, tokens) = post(&server, "/tokenize", json!({ "inputs": long }), &[]).await;
    assert_eq!(tokens[0].as_array().unwrap().len(), 602, "one token per word");
    let (head, tail) = (words[..510].join(" "), words[90..].join(" "));
    let no_store = [("cache-control", "no-store")];

    let analyze =
        |text: &str, direction: &str| json!({ "text": text, "raw_scores": true, "truncation_direction": direction });
    let (_, left) = post(&server, "/analyze", analyze(&long, "left"), &[]).await;
    let (_, right) = post(&server, "/analyze", analyze(&long, "right"), &[]).await;
    let (_, tail_alone) = post(&server, "/analyze", analyze(&tail, "left"), &no_store).await;
    let (_, head_alone) = post(&server, "/analyze", analyze(&head, "right"), &no_store).await;
    assert_eq!(left["results"][0]["truncated"], true, "{left}");
    assert_eq!(tail_alone["results"][0]["truncated"], false, "{tail_alone}");
    assert_eq!(left["results"][0]["cached"], false, "a side's first request computes: {left}");
    assert_eq!(right["results"][0]["cached"], false, "the other side is not its answer: {right}");
    assert!(close(&logits(&left), &logits(&tail_alone)), "left keeps the last 510 words: {left} {tail_alone}");
    assert!(close(&logits(&right), &logits(&head_alone)), "right keeps the first 510: {right} {head_alone}");
    assert!(!close(&logits(&left), &logits(&right)), "the two sides differ: {left} {right}");

    let (_, again) = post(&server, "/analyze", analyze(&long, "Left"), &[]).await;
    assert_eq!(again["results"][0]["cached"], true, "TEI's spelling, the same entry: {again}");
    assert_eq!(logits(&again), logits(&left));
    let (_, tail_cached) = post(&server, "/analyze", analyze(&tail, "left"), &[]).await;
    assert_eq!(tail_cached["results"][0]["cached"], true, "the tail's tokens are the long text's: {tail_cached}");

    // TEI's routes: /predict and /rerank cut on the left too.
    let (status, predicted) =
        post(&server, "/predict", json!({ "inputs": long, "raw_scores": true, "truncation_direction": "Left" }), &[])
            .await;
    assert_eq!(status, 200, "{predicted}");
    let mut by_label: Vec<(String, f64)> = predicted
        .as_array()
        .unwrap()
        .iter()
        .map(|p| (p["label"].as_str().unwrap().to_string(), p["score"].as_f64().unwrap()))
        .collect();
    by_label.sort_by(|a, b| a.0.cmp(&b.0));
    assert!(close(&by_label.iter().map(|p| p.1).collect::<Vec<_>>(), &logits(&left)), "{predicted}");

    let rerank = |direction: &str| json!({ "query": "was it good", "texts": [long], "raw_scores": true, "truncation_direction": direction });
    let (status, left_rank) = post(&server, "/rerank?model=reranker", rerank("Left"), &[]).await;
    assert_eq!(status, 200, "{left_rank}");
    let (_, right_rank) = post(&server, "/rerank?model=reranker", rerank("Right"), &[]).await;
    assert_ne!(left_rank[0]["score"], right_rank[0]["score"], "{left_rank} {right_rank}");
}

#[tokio::test(flavor = "multi_thread")]
async fn tei_routes_answer_errors_in_teis_shape_key_checks_included() {
    let server = server_with(Some(API_KEY)).await;
    for (path, body) in [
        ("/predict", json!({ "inputs": "x" })),
        ("/rerank", json!({ "query": "q", "texts": ["a"] })),
        ("/tokenize", json!({ "inputs": "x" })),
        ("/decode", json!({ "ids": [101] })),
    ] {
        let (status, error) = post(&server, path, body, &[]).await;
        assert_eq!(status, 401, "{path}: {error}");
        assert_eq!(error["error_type"], "Validation", "{path}: {error}");
        assert!(error["error"].as_str().unwrap().contains("key"), "{path}: {error}");
    }
    let response = server.client.get(server.url("/info")).send().await.unwrap();
    assert_eq!(response.status(), 401);
    assert_eq!(response.json::<Value>().await.unwrap()["error_type"], "Validation");

    // sentiserve's own routes keep sentiserve's shape.
    let (status, error) = post(&server, "/analyze", json!({ "text": "x" }), &[]).await;
    assert_eq!((status, error["error"]["type"].as_str()), (401, Some("unauthorized")), "{error}");

    let auth = format!("Bearer {API_KEY}");
    let (status, tokens) = post(&server, "/tokenize", json!({ "inputs": "ok" }), &[("authorization", &auth)]).await;
    assert_eq!(status, 200, "{tokens}");
}

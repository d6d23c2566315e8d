//! The cache's second level on the real MiniLM (an uncased WordPiece tokenizer, 512
//! tokens) and a real Redis: texts that tokenize the same are answered from the
//! first one's computation, equal to a fresh one, on this replica and on another.

mod common;

use common::procs::{model_keys, redis_keys, RedisServer, ServerProcess};
use serde_json::{json, Value};

/// `text`'s first result.
async fn ask(server: &ServerProcess, text: &str) -> Value {
    let (status, body) = server.analyze(json!({ "text": text })).await;
    assert_eq!(status, 200, "{body}");
    body["results"][0].clone()
}

/// `text` computed afresh, storing nothing (`Cache-Control: no-store`).
async fn fresh(server: &ServerProcess, text: &str) -> Value {
    let response = server
        .client
        .post(server.url("/analyze"))
        .header("cache-control", "no-store")
        .json(&json!({ "text": text }))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), 200);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["results"][0]["cached"], false);
    body["results"][0].clone()
}

/// A review far over 512 tokens, then `tail`.
fn long_review(tail: &str) -> String {
    format!("{} {tail}", "the acting was wooden but the score carried every scene".repeat(60))
}

#[tokio::test(flavor = "multi_thread")]
async fn case_spacing_and_tails_past_the_limit_share_answers_across_replicas() {
    let (redis, logs) = (RedisServer::start(), tempfile::tempdir().unwrap());
    let args = vec!["--redis-url".to_string(), redis.url()];
    let one = ServerProcess::minilm(&args, &logs.path().join("one.log"));
    let two = ServerProcess::minilm(&args, &logs.path().join("two.log"));
    one.ready().await;
    two.ready().await;
    two.wait_tier("redis", "up", |t| t["up"] == true).await;

    let variants = [
        ("The food was GREAT, the service slow.", "the food was great, the service slow."),
        ("Never AGAIN: the room smelled of smoke.", "  never   again:\tthe Room SMELLED of smoke. \n"),
        (long_review("and I loved it").as_str(), long_review("but I hated the ending").as_str()),
    ]
    .map(|(a, b)| (a.to_string(), b.to_string()));
    for (first, variant) in &variants {
        let written = one.tier("redis").await["writes"].as_u64().unwrap();
        let computed = ask(&one, first).await;
        // Its tokens' key reaches Redis (written behind the answer).
        one.wait_tier("redis", "holds the entry", |t| t["writes"].as_u64() >= Some(written + 1)).await;
        // `two` has never seen either text: its answer comes from Redis by the tokens.
        for server in [&two, &one] {
            let answer = ask(server, variant).await;
            assert_eq!(answer["cached"], true, "{variant:?} on {}", server.base);
            assert_eq!(answer["scores"], computed["scores"], "{variant:?}");
            assert_eq!(answer["scores"], fresh(server, variant).await["scores"], "equal to a fresh computation");
            assert_eq!(answer["truncated"], computed["truncated"]);
        }
    }
    assert_eq!(ask(&one, &variants[2].1).await["truncated"], true);
    let stats = two.get_json("/cache").await;
    assert_eq!((stats["token_hits"].as_u64(), stats["misses"].as_u64()), (Some(3), Some(3)), "{stats}");

    // Texts with other tokens are misses, and a clear reaches the token keys.
    assert_eq!(ask(&one, "The food was bad.").await["cached"], false);
    let (status, _) = one.delete("/cache?model=minilm").await;
    assert_eq!(status, 200);
    let mut connection = redis.client().await;
    assert!(redis_keys(&mut connection, &model_keys("minilm")).await.is_empty());
    assert_eq!(ask(&one, "THE FOOD WAS BAD.").await["cached"], false, "the token key is gone too");
    two.wait_tier("memory", "emptied by one's clear", |t| t["entries"] == 0).await;
    assert_eq!(ask(&two, &variants[0].0.to_uppercase()).await["cached"], false, "cleared for every replica");
}

//! Cluster-wide cache invalidation: a clear on one replica reaches every replica's
//! memory and disk tiers through Redis's generation counters, also for a replica that
//! was down during the clear. Real `sentiserve` and `redis-server` processes.

mod common;

use common::procs::{RedisServer, ServerProcess};
use serde_json::{json, Value};

fn cached(body: &Value) -> bool {
    body["results"][0]["cached"].as_bool().unwrap()
}

fn args(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_clear_on_one_replica_empties_the_others_memory_and_disk() {
    let redis = RedisServer::start();
    let (logs, disk_a, disk_b) =
        (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let a = ServerProcess::minilm(
        &args(&["--redis-url", &redis.url(), "--cache-dir", disk_a.path().to_str().unwrap()]),
        &logs.path().join("a.log"),
    );
    let b = ServerProcess::minilm(
        &args(&["--redis-url", &redis.url(), "--cache-dir", disk_b.path().to_str().unwrap()]),
        &logs.path().join("b.log"),
    );
    for replica in [&a, &b] {
        replica.ready().await;
        replica.wait_tier("redis", "up", |t| t["up"] == true).await;
    }
    let text = json!({ "text": "cached on both replicas, then cleared on one" });
    a.analyze(text.clone()).await;
    // In Redis before b asks, so b reads it (by its token ids) rather than computing.
    a.wait_tier("redis", "written", |t| t["writes"] == 1).await;
    b.analyze(text.clone()).await;
    b.wait_tier("disk", "written", |t| t["entries"] == 1).await;
    assert_eq!(b.tier("memory").await["entries"], 2, "the text's key and its tokens' key");

    let (status, report) = a.delete("/cache").await;
    assert_eq!(status, 200, "{report}");
    // b learns of it from the generation counters (polled every 500 ms) and drops its
    // own tiers.
    b.wait_tier("memory", "emptied by a's clear", |t| t["entries"] == 0).await;
    b.wait_tier("disk", "emptied by a's clear", |t| t["entries"] == 0).await;
    let (_, again) = b.analyze(text).await;
    assert!(!cached(&again), "b served an entry cleared on a: {again}");
    b.wait_log("cache cleared by another replica").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_replica_down_during_a_clear_does_not_serve_cleared_entries_from_its_disk() {
    let redis = RedisServer::start();
    let (logs, disk_b) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let b_args = args(&["--redis-url", &redis.url(), "--cache-dir", disk_b.path().to_str().unwrap()]);
    let a = ServerProcess::minilm(&args(&["--redis-url", &redis.url()]), &logs.path().join("a.log"));
    let mut b = ServerProcess::minilm(&b_args, &logs.path().join("b1.log"));
    a.ready().await;
    b.ready().await;
    b.wait_tier("redis", "up", |t| t["up"] == true).await;
    let text = json!({ "text": "on b's disk when b went down" });
    b.analyze(text.clone()).await;
    b.wait_tier("disk", "written", |t| t["entries"] == 1).await;
    assert!(b.terminate(), "b stops cleanly");

    a.wait_tier("redis", "up", |t| t["up"] == true).await;
    let (status, _) = a.delete("/cache?model=minilm").await;
    assert_eq!(status, 200);

    let b = ServerProcess::minilm(&b_args, &logs.path().join("b2.log"));
    b.ready().await;
    b.wait_tier("redis", "up", |t| t["up"] == true).await;
    assert_eq!(b.tier("disk").await["entries"], 1, "the entry is still in b's file");
    let (_, again) = b.analyze(text.clone()).await;
    assert!(!cached(&again), "b served an entry cleared while it was down: {again}");
    // Entries written after the clear are shared and cached as usual.
    b.wait_tier("redis", "written", |t| t["writes"].as_u64().unwrap_or(0) >= 1).await;
    let (_, third) = a.analyze(text).await;
    assert!(cached(&third), "{third}");
}

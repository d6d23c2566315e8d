//! The shared tier on the Redis production runs: over TLS (a private CA, mutual TLS),
//! on Redis Cluster and behind Sentinel, with the password from a file. Real
//! `sentiserve`, `redis-server` and `redis-cli` processes on loopback
//! (`common::redis_topology`).

mod common;

use std::path::Path;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use common::procs::{sentences, RedisServer, ServerProcess};
use common::redis_topology::{RedisCluster, Sentinel, TlsCerts, TlsRedis};
use serde_json::{json, Value};

/// A replica on `url` with `extra` flags; the command timeout leaves room for a busy
/// CI machine.
async fn replica(url: &str, extra: &[&str], log: &Path) -> ServerProcess {
    let mut args = vec!["--redis-url".to_string(), url.to_string(), "--redis-timeout-ms".into(), "500".into()];
    args.extend(extra.iter().map(|s| s.to_string()));
    let server = ServerProcess::minilm(&args, log);
    server.ready().await;
    server
}

async fn redis_up(server: &ServerProcess) {
    server.wait_tier("redis", "up", |t| t["up"] == true).await;
}

fn cached(body: &Value) -> Vec<bool> {
    body["results"].as_array().unwrap().iter().map(|r| r["cached"].as_bool().unwrap()).collect()
}

/// The last `n` lines of a server's log.
fn tail(log: &str, n: usize) -> String {
    let lines: Vec<&str> = log.lines().collect();
    lines[lines.len().saturating_sub(n)..].join("\n")
}

fn writes(tier: &Value) -> u64 {
    tier["writes"].as_u64().unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn tls_with_a_private_ca_and_client_certificates_shares_hits_and_clears() {
    let certs = TlsCerts::make();
    let redis = TlsRedis::start(&certs, true);
    let logs = tempfile::tempdir().unwrap();
    let (ca, cert, key) =
        (certs.ca.to_str().unwrap(), certs.client_cert.to_str().unwrap(), certs.client_key.to_str().unwrap());
    let tls = ["--redis-ca-cert", ca, "--redis-client-cert", cert, "--redis-client-key", key];
    let a = replica(&redis.url(), &tls, &logs.path().join("a.log")).await;
    let b = replica(&redis.url(), &tls, &logs.path().join("b.log")).await;
    redis_up(&a).await;
    redis_up(&b).await;

    let text = json!({ "text": "shared over TLS between two replicas" });
    let (status, first) = a.analyze(text.clone()).await;
    assert_eq!((status, cached(&first)), (200, vec![false]), "{first}");
    a.wait_tier("redis", "written", |t| writes(t) >= 1).await;
    let (_, shared) = b.analyze(text.clone()).await;
    assert_eq!(cached(&shared), [true], "b reads a's answer from Redis over TLS: {shared}");
    assert_eq!(shared["results"][0]["label"], first["results"][0]["label"]);

    let (status, report) = a.delete("/cache").await;
    assert_eq!(status, 200, "{report}");
    b.wait_tier("memory", "emptied by a's clear", |t| t["entries"] == 0).await;
    let (_, again) = b.analyze(text).await;
    assert_eq!(cached(&again), [false], "the clear reached b over TLS: {again}");

    // A server certificate from another CA is refused, with the reason in /cache and
    // one log line.
    let other = certs.other_ca.to_str().unwrap();
    let wrong_ca = ["--redis-ca-cert", other, "--redis-client-cert", cert, "--redis-client-key", key];
    let c = replica(&redis.url(), &wrong_ca, &logs.path().join("c.log")).await;
    let down = c
        .wait_tier("redis", "refused by the certificate check", |t| {
            t["up"] == false && t["error"].as_str().is_some_and(|e| e.to_lowercase().contains("certificate"))
        })
        .await;
    let reason = down["error"].as_str().unwrap().to_string();
    c.wait_log(&reason).await;
    let (status, _) = c.analyze(json!({ "text": "served without the shared tier" })).await;
    assert_eq!(status, 200, "a refused tier is skipped, the request is served");

    // Without a client certificate, a server that requires one refuses the handshake.
    let d = replica(&redis.url(), &["--redis-ca-cert", ca], &logs.path().join("d.log")).await;
    d.wait_tier("redis", "refused without a client certificate", |t| t["up"] == false && t["error"].is_string()).await;
}

#[tokio::test(flavor = "multi_thread")]
async fn cluster_spreads_entries_over_every_primary_and_survives_a_dead_one() {
    let mut cluster = RedisCluster::start();
    let logs = tempfile::tempdir().unwrap();
    let a = replica(&cluster.url(), &[], &logs.path().join("a.log")).await;
    let b = replica(&cluster.url(), &[], &logs.path().join("b.log")).await;
    let c = replica(&cluster.url(), &[], &logs.path().join("c.log")).await;
    for server in [&a, &b, &c] {
        redis_up(server).await;
    }
    let texts = sentences(0, 36);
    let batch = json!({ "texts": texts });
    let (status, first) = a.analyze(batch.clone()).await;
    assert_eq!(status, 200, "{first}");
    assert!(cached(&first).iter().all(|c| !c));
    a.wait_tier("redis", "written", |t| writes(t) >= 36).await;
    let spread = cluster.keys_per_node();
    assert!(spread.iter().all(|&n| n >= 3), "entries are spread over every primary's slots: {spread:?}");

    let (_, shared) = b.analyze(batch.clone()).await;
    assert!(cached(&shared).iter().all(|&c| c), "b reads all 36 from the cluster: {shared}");

    // A clear reaches every primary (only the generations hash stays) and every replica.
    let (status, report) = a.delete("/cache").await;
    assert_eq!(status, 200, "{report}");
    assert_eq!(cluster.keys_per_node().iter().sum::<usize>(), 1, "only the generations hash is left");
    b.wait_tier("memory", "emptied by a's clear", |t| t["entries"] == 0).await;
    let (_, after) = b.analyze(batch.clone()).await;
    assert!(cached(&after).iter().all(|c| !c), "b served cleared entries: {after}");
    b.wait_tier("redis", "rewritten", |t| writes(t) >= 36).await;

    // One primary dies: every request is still answered, the tier stays up, and the
    // entries on the surviving primaries still hit.
    let killed = (0..3).max_by_key(|&i| cluster.keys_per_node()[i]).unwrap();
    let before = cluster.keys_per_node();
    cluster.kill(killed);
    cluster.wait_node_seen_failed(killed);
    let (status, survived) = c.analyze(batch).await;
    assert_eq!(status, 200, "{survived}");
    let hits = cached(&survived).iter().filter(|&&c| c).count();
    let on_survivors: usize = before.iter().enumerate().filter(|&(i, _)| i != killed).map(|(_, n)| n).sum();
    let tier = c.tier("redis").await;
    assert!(
        hits > 0 && hits < 36,
        "hits for the surviving slots only: {hits} of 36 ({before:?}, node {killed} killed); c's tier: {tier}\n{}",
        tail(&c.log_text(), 30)
    );
    assert!(hits <= on_survivors, "{hits} hits but {on_survivors} keys survive");
    assert_eq!(c.tier("redis").await["up"], true, "one dead primary is not an outage");
}

#[tokio::test(flavor = "multi_thread")]
async fn sentinel_failover_under_load_fails_no_request_and_hits_resume() {
    let mut sentinel = Sentinel::start();
    let logs = tempfile::tempdir().unwrap();
    let a = Arc::new(replica(&sentinel.url(), &[], &logs.path().join("a.log")).await);
    let b = Arc::new(replica(&sentinel.url(), &[], &logs.path().join("b.log")).await);
    redis_up(&a).await;
    redis_up(&b).await;
    let before = json!({ "text": "written through the first master" });
    a.analyze(before.clone()).await;
    a.wait_tier("redis", "written", |t| writes(t) >= 1).await;
    let (_, hit) = b.analyze(before).await;
    assert_eq!(cached(&hit), [true], "{hit}");

    // Load on both replicas through the failover; every answer must be a 200.
    let (stop, sent, failed) =
        (Arc::new(AtomicBool::new(false)), Arc::new(AtomicUsize::new(0)), Arc::new(AtomicUsize::new(0)));
    let mut load = Vec::new();
    for (i, server) in [Arc::clone(&a), Arc::clone(&b)].into_iter().enumerate() {
        let (stop, sent, failed) = (Arc::clone(&stop), Arc::clone(&sent), Arc::clone(&failed));
        load.push(tokio::spawn(async move {
            let texts = sentences(100 + 50 * i, 50);
            let mut n = 0;
            while !stop.load(Ordering::SeqCst) {
                let (status, body) = server.analyze(json!({ "text": texts[n % texts.len()] })).await;
                sent.fetch_add(1, Ordering::SeqCst);
                if status != 200 {
                    failed.fetch_add(1, Ordering::SeqCst);
                    eprintln!("failed during the failover: {status} {body}");
                }
                n += 1;
            }
        }));
    }
    let old = sentinel.kill_master();
    let new = sentinel.wait_failover(old);
    assert_ne!(old, new);
    // Both replicas find the new master by themselves (each saw the old one die well
    // before the Sentinel promoted the replica, so "up" now means the new master).
    redis_up(&a).await;
    redis_up(&b).await;
    stop.store(true, Ordering::SeqCst);
    for task in load {
        task.await.unwrap();
    }
    let written = writes(&a.tier("redis").await);
    let after = json!({ "text": "written through the promoted replica" });
    let (_, computed) = a.analyze(after.clone()).await;
    assert_eq!(cached(&computed), [false], "{computed}");
    a.wait_tier("redis", "written to the new master", |t| writes(t) > written).await;
    let (_, resumed) = b.analyze(after).await;
    assert_eq!(cached(&resumed), [true], "shared hits resume after the failover: {resumed}");
    assert!(sent.load(Ordering::SeqCst) > 0);
    assert_eq!(failed.load(Ordering::SeqCst), 0, "of {} requests", sent.load(Ordering::SeqCst));
}

#[tokio::test(flavor = "multi_thread")]
async fn the_password_comes_from_a_file_and_shows_nowhere() {
    let password = "file-only-s3cret";
    let redis = RedisServer::start_with(common::procs::free_port(), &["--requirepass", password]);
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("redis-password");
    std::fs::write(&file, format!("{password}\n")).unwrap();
    let a = replica(&redis.url(), &["--redis-password-file", file.to_str().unwrap()], &dir.path().join("a.log")).await;
    redis_up(&a).await;
    let (_, first) = a.analyze(json!({ "text": "authenticated from a file" })).await;
    assert_eq!(cached(&first), [false]);
    a.wait_tier("redis", "written", |t| writes(t) >= 1).await;

    // An empty file is refused, not taken for "no password".
    let empty = dir.path().join("empty");
    std::fs::write(&empty, "").unwrap();
    let b = replica(&redis.url(), &["--redis-password-file", empty.to_str().unwrap()], &dir.path().join("b.log")).await;
    let down = b.tier("redis").await;
    assert_eq!(down["up"], false);
    assert!(down["error"].as_str().unwrap().contains("password file is empty"), "{down}");

    for server in [&a, &b] {
        let (_, cache) = server.get("/cache").await;
        assert!(!cache.to_string().contains(password), "{cache}");
        assert!(!server.log_text().contains(password), "the log holds the password");
    }
}

//! The tiered prediction cache (memory → disk → Redis) across restarts, replicas and
//! faults, with real `sentiserve` and `redis-server` processes.

mod common;

use common::procs::{free_port, model_keys, redis_keys, sentences, RedisServer, ServerProcess};
use serde_json::{json, Value};

fn cached_flags(body: &Value) -> Vec<bool> {
    body["results"].as_array().unwrap().iter().map(|r| r["cached"].as_bool().unwrap()).collect()
}

fn at_least(field: &'static str, n: u64) -> impl Fn(&Value) -> bool {
    move |tier| tier[field].as_u64().unwrap_or(0) >= n
}

fn arg_list(items: &[&str]) -> Vec<String> {
    items.iter().map(|s| s.to_string()).collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn sigterm_drains_in_flight_requests_and_the_disk_tier_survives_restart() {
    let (dir, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // One text per forward pass, so the 300-text request is still running when the
    // signal lands.
    let args = arg_list(&["--cache-dir", dir.path().to_str().unwrap(), "--max-batch-size", "1"]);
    let mut server = ServerProcess::minilm(&args, &logs.path().join("first.log"));
    server.ready().await;
    let texts = sentences(0, 300);
    let request = {
        let (client, url, body) = (server.client.clone(), server.url("/analyze"), json!({ "texts": texts }));
        tokio::spawn(async move {
            let response = client.post(url).json(&body).send().await.unwrap();
            (response.status().as_u16(), response.json::<Value>().await.unwrap())
        })
    };
    // The request is being computed once its first texts are cached.
    server.wait_tier("memory", "holds a computed text", at_least("entries", 1)).await;
    assert!(server.terminate(), "the server should exit cleanly on SIGTERM:\n{}", server.log_text());
    let (status, body) = request.await.unwrap();
    assert_eq!(status, 200, "the in-flight request was dropped: {body}");
    assert_eq!(cached_flags(&body), vec![false; 300]);
    // The signal arrived while the request was in flight: it was answered after it.
    let log = server.log_text();
    let signal = log.find("shutdown signal received").expect("the signal is logged");
    let answered = log.find("path=/analyze").expect("the request is logged");
    assert!(signal < answered, "the request finished before the signal; nothing was drained:\n{log}");

    let restarted = ServerProcess::minilm(&args, &logs.path().join("second.log"));
    restarted.ready().await;
    let (status, body) = restarted.analyze(json!({ "texts": texts })).await;
    assert_eq!(status, 200);
    assert_eq!(cached_flags(&body), vec![true; 300], "every text should come from the disk tier");
    assert_eq!(restarted.get_json("/cache").await["misses"], 0, "the model must not run");
    assert_eq!(restarted.tier("disk").await["hits"], 300);
}

#[tokio::test(flavor = "multi_thread")]
async fn committed_disk_entries_survive_sigkill_during_writes() {
    let (dir, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    // One text per forward pass, so writes trickle in while the kill lands.
    let args = arg_list(&["--cache-dir", dir.path().to_str().unwrap(), "--max-batch-size", "1"]);
    let mut server = ServerProcess::minilm(&args, &logs.path().join("first.log"));
    server.ready().await;
    let first = sentences(0, 40);
    assert_eq!(server.analyze(json!({ "texts": first })).await.0, 200);
    server.wait_tier("disk", "committed 40 writes", at_least("writes", 40)).await;

    // Crash while the next 300 texts are being computed and written: as soon as the
    // disk tier acknowledges a write of the second request.
    let request = {
        let (client, url, body) =
            (server.client.clone(), server.url("/analyze"), json!({ "texts": sentences(40, 300) }));
        tokio::spawn(async move { client.post(url).json(&body).send().await.map(|r| r.status().as_u16()) })
    };
    let disk = server.wait_tier("disk", "acknowledged a write of the second request", at_least("writes", 41)).await;
    server.kill();
    let _ = request.await;
    let acknowledged = disk["writes"].as_u64().unwrap();
    assert!(acknowledged < 340, "the kill landed after every write ({acknowledged}); nothing was in flight");

    let restarted = ServerProcess::minilm(&args, &logs.path().join("second.log"));
    restarted.ready().await;
    let disk = restarted.tier("disk").await;
    assert_eq!(disk["up"], true, "{disk}");
    let kept = disk["entries"].as_u64().unwrap();
    assert!(kept >= acknowledged, "{acknowledged} writes were acknowledged but only {kept} entries survived");
    let (status, body) = restarted.analyze(json!({ "texts": first })).await;
    assert_eq!(status, 200);
    assert_eq!(cached_flags(&body), vec![true; 40]);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_garbage_or_truncated_disk_file_is_rebuilt_and_the_server_serves() {
    let logs = tempfile::tempdir().unwrap();

    // Garbage where the database file should be.
    let garbage_dir = tempfile::tempdir().unwrap();
    let garbage: Vec<u8> = (0..65_536u32).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    std::fs::write(garbage_dir.path().join("predictions.redb"), garbage).unwrap();
    let args = arg_list(&["--cache-dir", garbage_dir.path().to_str().unwrap()]);
    let server = ServerProcess::minilm(&args, &logs.path().join("garbage.log"));
    server.ready().await;
    server.wait_log("moved it aside").await;
    let aside = std::fs::read_dir(garbage_dir.path())
        .unwrap()
        .filter_map(Result::ok)
        .any(|e| e.file_name().to_string_lossy().contains("corrupt-"));
    assert!(aside, "the damaged file should be kept aside for inspection");
    let (status, _) = server.analyze(json!({ "text": "still works" })).await;
    assert_eq!(status, 200);
    let disk = server.wait_tier("disk", "written", at_least("writes", 1)).await;
    assert_eq!(disk["up"], true);
    drop(server);

    // A real database cut in half.
    let truncated_dir = tempfile::tempdir().unwrap();
    let args = arg_list(&["--cache-dir", truncated_dir.path().to_str().unwrap()]);
    let mut writer = ServerProcess::minilm(&args, &logs.path().join("writer.log"));
    writer.ready().await;
    writer.analyze(json!({ "texts": sentences(0, 50) })).await;
    assert!(writer.terminate());
    let path = truncated_dir.path().join("predictions.redb");
    let bytes = std::fs::read(&path).unwrap();
    std::fs::write(&path, &bytes[..bytes.len() / 2]).unwrap();
    let server = ServerProcess::minilm(&args, &logs.path().join("truncated.log"));
    server.ready().await;
    let (status, body) = server.analyze(json!({ "texts": sentences(0, 50) })).await;
    assert_eq!(status, 200, "{body}");
    let (status, _) = server.analyze(json!({ "text": "a brand new sentence after recovery" })).await;
    assert_eq!(status, 200);
    let disk = server.wait_tier("disk", "written", at_least("writes", 1)).await;
    assert_eq!(disk["up"], true, "{disk}\n{}", server.log_text());
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unusable_cache_dir_disables_the_disk_tier_only() {
    let logs = tempfile::tempdir().unwrap();
    let not_a_dir = tempfile::NamedTempFile::new().unwrap();
    let args = arg_list(&["--cache-dir", not_a_dir.path().to_str().unwrap()]);
    let server = ServerProcess::minilm(&args, &logs.path().join("server.log"));
    server.ready().await;
    let (status, body) = server.analyze(json!({ "text": "served without a disk tier" })).await;
    assert_eq!(status, 200, "{body}");
    let disk = server.tier("disk").await;
    assert_eq!(disk["up"], false);
    assert!(disk["error"].as_str().unwrap().contains("cannot create"), "{disk}");
    server.wait_log("disk cache tier disabled").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn two_replicas_share_predictions_through_redis() {
    let redis = RedisServer::start();
    let logs = tempfile::tempdir().unwrap();
    let args = arg_list(&["--redis-url", &redis.url()]);
    let a = ServerProcess::minilm(&args, &logs.path().join("a.log"));
    let b = ServerProcess::minilm(&args, &logs.path().join("b.log"));
    a.ready().await;
    b.ready().await;
    b.wait_tier("redis", "up", |t| t["up"] == true).await;
    a.wait_tier("redis", "up", |t| t["up"] == true).await;

    let body = json!({ "text": "Analyzed on one replica, answered by the other." });
    let (_, first) = a.analyze(body.clone()).await;
    assert_eq!(cached_flags(&first), [false]);
    a.wait_tier("redis", "written", at_least("writes", 1)).await;
    let (_, second) = b.analyze(body).await;
    assert_eq!(cached_flags(&second), [true]);
    assert_eq!(first["results"][0]["scores"], second["results"][0]["scores"]);
    assert_eq!(b.get_json("/cache").await["misses"], 0, "replica b must not run the model");
    assert_eq!(b.tier("redis").await["hits"], 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn clearing_empties_every_tier_but_only_our_redis_namespace() {
    let redis = RedisServer::start();
    let mut connection = redis.client().await;
    let _: () = redis::cmd("SET").arg("someone-else:key").arg("keep me").query_async(&mut connection).await.unwrap();
    let (dir, logs) = (tempfile::tempdir().unwrap(), tempfile::tempdir().unwrap());
    let args = vec![
        "--model".to_string(),
        format!("minilm={}", common::minilm_dir().display()),
        "--model".into(),
        format!("tiny={}", common::tiny_dir("bert").display()),
        "--default".into(),
        "minilm".into(),
        "--preload".into(),
        "minilm,tiny".into(),
        "--redis-url".into(),
        redis.url(),
        "--cache-dir".into(),
        dir.path().display().to_string(),
    ];
    let server = ServerProcess::spawn(&args, &logs.path().join("server.log"));
    server.ready().await;
    server.wait_tier("redis", "up", |t| t["up"] == true).await;
    server.analyze(json!({ "texts": ["one", "two", "three"] })).await;
    server.analyze(json!({ "texts": ["one", "two"], "model": "tiny" })).await;
    server.wait_tier("redis", "written", at_least("writes", 5)).await;
    server.wait_tier("disk", "written", at_least("writes", 5)).await;
    let entries = redis_keys(&mut connection, &model_keys("minilm")).await.len()
        + redis_keys(&mut connection, &model_keys("tiny")).await.len();
    assert_eq!(entries, 5);

    let (status, report) = server.delete("/cache?model=tiny").await;
    assert_eq!(status, 200, "{report}");
    assert!(report["tiers"].as_array().unwrap().iter().all(|t| t["ok"] == true), "{report}");
    assert!(redis_keys(&mut connection, &model_keys("tiny")).await.is_empty());
    assert_eq!(redis_keys(&mut connection, &model_keys("minilm")).await.len(), 3);
    assert_eq!(server.tier("disk").await["entries"], 3);

    let (status, report) = server.delete("/cache").await;
    assert_eq!(status, 200, "{report}");
    // Only the generation counters remain: each clear moved its scope's counter.
    assert_eq!(redis_keys(&mut connection, b"sentiserve:*").await, [b"sentiserve:generations".to_vec()]);
    let generations: std::collections::HashMap<String, u64> =
        redis::cmd("HGETALL").arg("sentiserve:generations").query_async(&mut connection).await.unwrap();
    assert_eq!(generations, [("*".to_string(), 1), ("tiny".to_string(), 1)].into_iter().collect());
    assert_eq!(redis_keys(&mut connection, b"someone-else:*").await, [b"someone-else:key".to_vec()]);
    assert_eq!(server.tier("disk").await["entries"], 0);
    assert_eq!(server.tier("memory").await["entries"], 0);
    let (_, again) = server.analyze(json!({ "texts": ["one"] })).await;
    assert_eq!(cached_flags(&again), [false]);
}

#[tokio::test(flavor = "multi_thread")]
async fn redis_down_at_start_is_tolerated_and_the_tier_reconnects_by_itself() {
    let port = free_port();
    let logs = tempfile::tempdir().unwrap();
    let args = arg_list(&["--redis-url", &format!("redis://127.0.0.1:{port}")]);
    let server = ServerProcess::minilm(&args, &logs.path().join("server.log"));
    server.ready().await;
    for text in sentences(0, 20) {
        let (status, body) = server.analyze(json!({ "text": text })).await;
        assert_eq!(status, 200, "{body}");
    }
    let down = server.tier("redis").await;
    assert_eq!(down["up"], false);
    assert!(down["error"].is_string(), "{down}");

    let redis = RedisServer::start_on(port);
    server.wait_tier("redis", "came back up", |t| t["up"] == true).await;
    server.analyze(json!({ "text": "written after Redis came back" })).await;
    server.wait_tier("redis", "written", at_least("writes", 1)).await;
    let mut connection = redis.client().await;
    assert_eq!(redis_keys(&mut connection, &model_keys("minilm")).await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn killing_redis_mid_run_fails_no_request() {
    let mut redis = RedisServer::start();
    let port = redis.port;
    let logs = tempfile::tempdir().unwrap();
    let server = ServerProcess::minilm(&arg_list(&["--redis-url", &redis.url()]), &logs.path().join("server.log"));
    server.ready().await;
    server.wait_tier("redis", "up", |t| t["up"] == true).await;
    server.analyze(json!({ "texts": sentences(0, 5) })).await;
    server.wait_tier("redis", "written", at_least("writes", 5)).await;

    redis.kill();
    for chunk in sentences(100, 60).chunks(4) {
        let requests = chunk.iter().map(|text| server.analyze(json!({ "text": text })));
        for (status, body) in futures::future::join_all(requests).await {
            assert_eq!(status, 200, "{body}");
        }
    }
    assert_eq!(server.tier("redis").await["up"], false);
    server.wait_log("redis cache tier is down").await;

    let _back = RedisServer::start_on(port);
    server.wait_tier("redis", "came back up", |t| t["up"] == true).await;
    let (status, _) = server.analyze(json!({ "text": "after the outage" })).await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn an_undecodable_redis_value_is_a_miss_and_ttl_reaches_redis() {
    let redis = RedisServer::start();
    let logs = tempfile::tempdir().unwrap();
    let args = arg_list(&["--redis-url", &redis.url(), "--cache-ttl-secs", "60"]);
    let server = ServerProcess::minilm(&args, &logs.path().join("server.log"));
    server.ready().await;
    server.wait_tier("redis", "up", |t| t["up"] == true).await;
    let fingerprint =
        server.get_json("/models").await["models"].as_array().unwrap().iter().find(|m| m["name"] == "minilm").unwrap()
            ["fingerprint"]
            .as_str()
            .unwrap()
            .to_string();
    // Redis holds entries by the text's token ids (the cache's second level).
    let files = sentiserve::model::ModelFiles::from_dir(&common::minilm_dir()).unwrap();
    let tokenizer = sentiserve::model::Model::load(&files, &candle_core::Device::Cpu).unwrap();
    let key_of = |text: &str| {
        let encoded = tokenizer
            .tokenize_input(&sentiserve::model::TextInput::single(text), sentiserve::model::TruncationSide::Right)
            .unwrap();
        let key = sentiserve::cache::CacheKey {
            model: "minilm".into(),
            identity: fingerprint.as_str().into(),
            num_labels: 2,
            input: sentiserve::cache::KeyInput::Tokens(sentiserve::cache::TokenDigest::of(
                &encoded.ids,
                &encoded.type_ids,
            )),
        };
        sentiserve::cache::redis::entry_key("sentiserve", &sentiserve::cache::codec::stored_key(&key, "g0.0"))
    };
    let full_key = key_of("a poisoned entry");
    let mut connection = redis.client().await;
    let _: () =
        redis::cmd("SET").arg(&full_key).arg("not a value we wrote").query_async(&mut connection).await.unwrap();

    let (status, body) = server.analyze(json!({ "text": "a poisoned entry" })).await;
    assert_eq!(status, 200);
    assert_eq!(cached_flags(&body), [false], "a corrupt value must not be served");
    assert!(server.tier("redis").await["errors"].as_u64().unwrap() >= 1);

    // The recomputed value replaced it, with the TTL.
    server.wait_tier("redis", "written", at_least("writes", 1)).await;
    let ttl_ms: i64 = redis::cmd("PTTL").arg(&full_key).query_async(&mut connection).await.unwrap();
    assert!(ttl_ms > 0 && ttl_ms <= 60_000, "PTTL {ttl_ms}");

    // Forged values with a valid checksum: no logits, 5,000 logits, a NaN. Each is a
    // miss (the model's answer), never `{"label":"","score":null}`.
    let forged = |logits: Vec<f32>| {
        let prediction = sentiserve::model::Prediction { logits: logits.clone().into(), truncated: false };
        // As the Redis tier stores them: the compact form, the checksum made right.
        sentiserve::cache::codec::compact(&sentiserve::cache::codec::encode(&prediction, 0)).unwrap_or_else(|| {
            let mut value = vec![sentiserve::cache::codec::FORMAT_VERSION << 1];
            value.extend(logits.iter().flat_map(|x| x.to_le_bytes()));
            let checksum = xxhash_rust::xxh3::xxh3_64(&value).to_le_bytes();
            value.extend_from_slice(&checksum[..3]);
            value
        })
    };
    for (text, value) in [
        ("forged: no logits", forged(vec![])),
        ("forged: 5000 logits", forged(vec![0.5; 5000])),
        ("forged: a NaN", forged(vec![f32::NAN, 1.0])),
    ] {
        let _: () = redis::cmd("SET").arg(key_of(text)).arg(value).query_async(&mut connection).await.unwrap();
        let (status, body) = server.analyze(json!({ "text": text })).await;
        assert_eq!(status, 200, "{text}");
        assert_eq!(cached_flags(&body), [false], "{text}: a forged value must not be served");
        let result = &body["results"][0];
        assert!(result["label"] == "POSITIVE" || result["label"] == "NEGATIVE", "{text}: {result}");
        assert!(result["score"].as_f64().is_some_and(f64::is_finite), "{text}: {result}");
        assert_eq!(result["scores"].as_array().unwrap().len(), 2, "{text}");
    }

    // A key of another type under our namespace (`WRONGTYPE` on GET) is a miss for
    // that key, not an outage: the tier stays up and other entries keep hitting.
    let _: () =
        redis::cmd("RPUSH").arg(key_of("a list, not a value")).arg("x").query_async(&mut connection).await.unwrap();
    let (status, body) = server.analyze(json!({ "text": "a list, not a value" })).await;
    assert_eq!(status, 200);
    assert_eq!(cached_flags(&body), [false]);
    let tier = server.tier("redis").await;
    assert_eq!(tier["up"], true, "one bad key must not take the tier down: {tier}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_misconfigured_redis_is_logged_with_its_reason_and_no_password() {
    let logs = tempfile::tempdir().unwrap();
    let redis = RedisServer::start_with(free_port(), &["--requirepass", "right-secret"]);
    let wrong = format!("redis://:wrong-secret@127.0.0.1:{}/0", redis.port);
    let closed = format!("redis://:closed-secret@127.0.0.1:{}/0", free_port());
    for (name, url, reason) in
        [("wrong-password", wrong, "Password authentication failed"), ("closed-port", closed, "refused")]
    {
        let server = ServerProcess::minilm(&arg_list(&["--redis-url", &url]), &logs.path().join(format!("{name}.log")));
        server.ready().await;
        // The tier starts down as "connecting" until its first attempt reports.
        let down = server
            .wait_tier("redis", "down with a reason", |t| {
                t["up"] == false && t["error"].as_str().is_some_and(|e| e != "connecting")
            })
            .await;
        assert!(down["error"].as_str().unwrap().contains(reason), "{name}: {down}");
        // The state change is logged once the tier has its reason.
        let deadline = std::time::Instant::now() + common::http::WAIT;
        let line = loop {
            let log = server.log_text();
            if let Some(line) = log.lines().find(|l| l.contains("redis cache tier is down")) {
                break line.to_string();
            }
            assert!(std::time::Instant::now() < deadline, "{name}: nothing logged:\n{log}");
            tokio::time::sleep(common::http::POLL).await;
        };
        assert!(line.contains("WARN") && line.contains(reason), "{name}: {line}");
        assert!(!server.log_text().contains("-secret"), "{name}: a password reached the log");
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_two_label_entry_takes_at_most_120_bytes_of_redis() {
    const TEXTS: usize = 100;
    let redis = RedisServer::start();
    let mut connection = redis.client().await;
    let logs = tempfile::tempdir().unwrap();
    let server = ServerProcess::minilm(&arg_list(&["--redis-url", &redis.url()]), &logs.path().join("server.log"));
    server.ready().await;
    server.wait_tier("redis", "up", |t| t["up"] == true).await;
    let texts: Vec<String> = (0..TEXTS).map(|i| format!("review {i}: the food was fine")).collect();
    let (status, _) = server.analyze(json!({ "texts": texts })).await;
    assert_eq!(status, 200);
    server.wait_tier("redis", "holds every text", at_least("writes", TEXTS as u64)).await;
    let keys = redis_keys(&mut connection, &model_keys("minilm")).await;
    assert_eq!(keys.len(), TEXTS);
    let usage: i64 = redis::cmd("MEMORY").arg("USAGE").arg(&keys[0]).query_async(&mut connection).await.unwrap();
    let value: Vec<u8> = redis::cmd("GET").arg(&keys[0]).query_async(&mut connection).await.unwrap();
    let report = format!("key {} B, value {} B, MEMORY USAGE {usage} B", keys[0].len(), value.len());
    println!("{report}");
    assert_eq!((keys[0].len(), value.len()), (27, 12), "{report}");
    // MEMORY USAGE counts the key, the value and the table entry; the table's bucket
    // array adds one pointer (8 B) per key at a load factor of 1, 16 B at worst.
    assert!(usage + 16 <= 120, "{report}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_full_redis_refuses_writes_without_taking_the_tier_down() {
    let logs = tempfile::tempdir().unwrap();
    let redis = RedisServer::start_with(free_port(), &["--maxmemory-policy", "noeviction"]);
    let args = arg_list(&["--redis-url", &redis.url()]);
    let writer = ServerProcess::minilm(&args, &logs.path().join("writer.log"));
    writer.ready().await;
    writer.wait_tier("redis", "up", |t| t["up"] == true).await;
    let (status, _) = writer.analyze(json!({ "text": "stored before Redis filled up" })).await;
    assert_eq!(status, 200);
    writer.wait_tier("redis", "written", at_least("writes", 1)).await;

    // Someone else's keys, then a `maxmemory` below what Redis holds: every write that
    // could grow it is refused with OOM, whatever its buffers do meanwhile.
    let mut connection = redis.client().await;
    for i in 0..32 {
        let mut junk = redis::cmd("SET");
        junk.arg(format!("someone-else:{i}")).arg(vec![7u8; 64 * 1024]);
        junk.query_async::<()>(&mut connection).await.unwrap();
    }
    let _: () = redis::cmd("CONFIG").arg("SET").arg("maxmemory").arg("1mb").query_async(&mut connection).await.unwrap();
    let refused = redis::cmd("SET").arg("someone-else:probe").arg("x").query_async::<()>(&mut connection).await;
    assert_eq!(refused.map_err(|e| e.code().map(str::to_string)), Err(Some("OOM".to_string())));

    let texts: Vec<String> = (0..20).map(|i| format!("refused write {i}")).collect();
    let (status, _) = writer.analyze(json!({ "texts": texts })).await;
    assert_eq!(status, 200);
    let tier = writer.wait_tier("redis", "counted the refused writes", at_least("errors", 20)).await;
    assert_eq!(tier["up"], true, "OOM refuses one write, not the tier: {tier}");

    // Reads go on: a replica with an empty memory tier hits the entry stored before.
    let reader = ServerProcess::minilm(&args, &logs.path().join("reader.log"));
    reader.ready().await;
    reader.wait_tier("redis", "up", |t| t["up"] == true).await;
    let (status, body) = reader.analyze(json!({ "text": "stored before Redis filled up" })).await;
    assert_eq!(status, 200);
    assert_eq!(cached_flags(&body), [true], "a full Redis still answers reads");
    let log = writer.log_text();
    assert!(!log.contains("redis cache tier is down"), "no outage logged for refused writes:\n{log}");
}

//! Hostile and unlucky clients: stalled heads and bodies, slowly dripped bodies,
//! declared-too-large bodies (with and without `Expect: 100-continue`), too many
//! connections, a shutdown with a stalled connection open, oversized heads, forged
//! request ids, odd `Authorization` spellings, key files, huge texts, disconnects
//! mid-request, requests bigger than the queue, and readiness after an unload.

mod common;

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use common::http::WAIT;
use common::procs::ServerProcess;
use common::server::{config, start, TestServer};
use serde_json::{json, Value};

fn address(server: &TestServer) -> String {
    server.base.trim_start_matches("http://").to_string()
}

/// Reads until the server closes the connection (or `WAIT` passes: a failure).
fn read_until_closed(stream: &mut TcpStream) -> String {
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut out = Vec::new();
    let started = Instant::now();
    let mut buf = [0u8; 4096];
    loop {
        match stream.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => out.extend_from_slice(&buf[..n]),
            Err(e) if e.kind() == std::io::ErrorKind::ConnectionReset => break,
            Err(e) => panic!("the server kept the connection open for {:?}: {e}", started.elapsed()),
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

async fn minilm_with(adjust: impl FnOnce(&mut sentiserve::ServerConfig)) -> TestServer {
    let mut config = config(&[("minilm", common::minilm_dir())]);
    adjust(&mut config);
    let server = start(config).await;
    server.wait_health(200).await;
    server
}

#[tokio::test(flavor = "multi_thread")]
async fn stalled_heads_are_closed_and_short_bodies_time_out_with_json() {
    let server = minilm_with(|c| {
        c.connections.header_read_timeout = Duration::from_millis(300);
        c.connections.body_read_timeout = Duration::from_millis(300);
    })
    .await;
    let addr = address(&server);
    let (head, body) = tokio::task::spawn_blocking(move || {
        // Half a request head, then nothing.
        let mut stalled = TcpStream::connect(&addr).unwrap();
        stalled.write_all(b"POST /analyze HTTP/1.1\r\nHost: x\r\n").unwrap();
        let head = read_until_closed(&mut stalled);
        // A body shorter than its Content-Length.
        let mut short = TcpStream::connect(&addr).unwrap();
        short
            .write_all(b"POST /analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"text\":")
            .unwrap();
        (head, read_until_closed(&mut short))
    })
    .await
    .unwrap();
    assert!(head.is_empty() || head.starts_with("HTTP/1.1 408"), "{head}");
    assert!(body.starts_with("HTTP/1.1 408"), "{body}");
    assert!(body.contains(r#""type":"request_timeout""#), "{body}");
    // The server still serves.
    assert_eq!(server.get_json("/livez").await["status"], "ok");
}

#[tokio::test(flavor = "multi_thread")]
async fn oversized_heads_and_forged_request_ids_are_refused_or_replaced() {
    let server = minilm_with(|c| c.connections.max_header_bytes = 4096).await;
    let response = server.client.get(server.url("/livez")).header("x-big", "a".repeat(8000)).send().await.unwrap();
    assert_eq!(response.status(), 431);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"]["type"], "headers_too_large");

    let id_of = |r: &reqwest::Response| r.headers()["x-request-id"].to_str().unwrap().to_string();
    let good = server.client.get(server.url("/livez")).header("x-request-id", "trace-123_ABC").send().await.unwrap();
    assert_eq!(id_of(&good), "trace-123_ABC");
    for forged in ["a".repeat(500), "two words".to_string(), "tab\there".to_string()] {
        let response = server.client.get(server.url("/livez")).header("x-request-id", &forged).send().await.unwrap();
        let id = id_of(&response);
        assert_ne!(id, forged);
        assert!(uuid_like(&id), "a fresh UUID replaces {forged:?}: {id}");
    }
}

fn uuid_like(id: &str) -> bool {
    id.len() == 36 && id.chars().all(|c| c.is_ascii_hexdigit() || c == '-')
}

#[tokio::test(flavor = "multi_thread")]
async fn bearer_scheme_is_case_insensitive() {
    let server = minilm_with(|c| c.http.api_key = Some("sekret".into())).await;
    for value in ["Bearer sekret", "bearer sekret", "BEARER sekret", "Bearer\tsekret"] {
        let response = server.client.get(server.url("/models")).header("authorization", value).send().await.unwrap();
        assert_eq!(response.status(), 200, "{value:?}");
    }
    let response =
        server.client.get(server.url("/models")).header("authorization", "Basic sekret").send().await.unwrap();
    assert_eq!(response.status(), 401);
}

#[tokio::test(flavor = "multi_thread")]
async fn more_texts_than_the_queue_holds_get_413_and_429_says_when_to_retry() {
    let server = minilm_with(|c| {
        c.batch.queue_capacity = 4;
        c.batch.max_batch_size = 1;
    })
    .await;
    let texts: Vec<String> = (0..5).map(|i| format!("text number {i}")).collect();
    let (status, body) = server.analyze(json!({ "texts": texts })).await;
    assert_eq!(status, 413, "{body}");
    assert_eq!(body["error"]["type"], "batch_too_large");
    assert!(body["error"]["message"].as_str().unwrap().contains("at most 4"), "{body}");
    let (status, _) = server.analyze(json!({ "texts": &texts[..4] })).await;
    assert_eq!(status, 200, "a request that fits the idle queue is admitted");

    // Fill the queue from several requests at once until one is refused.
    let mut refused = None;
    for round in 0..50 {
        let requests = (0..8).map(|i| {
            let texts: Vec<String> = (0..4).map(|j| format!("round {round} request {i} text {j}")).collect();
            server.client.post(server.url("/analyze")).json(&json!({ "texts": texts })).send()
        });
        for response in futures::future::join_all(requests).await {
            let response = response.unwrap();
            if response.status() == 429 {
                refused = Some(response);
            }
        }
        if refused.is_some() {
            break;
        }
    }
    let refused = refused.expect("a full queue refuses with 429");
    assert_eq!(refused.headers()["retry-after"], "1");
}

#[tokio::test(flavor = "multi_thread")]
async fn huge_texts_are_cut_before_tokenizing_with_the_same_result() {
    let server = minilm_with(|_| {}).await;
    let sentence = "The plot was thin but the acting carried it. ";
    let huge = sentence.repeat(1 << 20 >> 6); // ~0.7 MB
    let prefix = sentence.repeat(200); // well over 512 tokens, under the prefix bound
    let (status, a) = server.analyze(json!({ "text": huge })).await;
    assert_eq!(status, 200, "{a}");
    let (_, b) = server.analyze(json!({ "text": prefix })).await;
    assert_eq!(a["results"][0]["truncated"], true);
    assert_eq!(a["results"][0]["scores"], b["results"][0]["scores"], "same first 512 tokens, same logits");

    let (status, body) = server.analyze(json!({ "text": huge, "truncate": false })).await;
    assert_eq!(status, 413);
    assert!(body["error"]["message"].as_str().unwrap().contains("has at least"), "{body}");

    // Whitespace that tokenizes to nothing does not fool the prefix: the words after it
    // still count.
    let spaced = format!("awful {} wonderful wonderful wonderful", " ".repeat(600_000));
    let (_, spaced_body) = server.analyze(json!({ "text": spaced, "function_to_apply": "none" })).await;
    let (_, compact) =
        server.analyze(json!({ "text": "awful wonderful wonderful wonderful", "function_to_apply": "none" })).await;
    assert_eq!(spaced_body["results"][0]["scores"], compact["results"][0]["scores"]);
}

#[tokio::test(flavor = "multi_thread")]
async fn readiness_survives_an_unload_of_a_model_that_loaded() {
    let server = minilm_with(|_| {}).await;
    let (status, _) = server.delete("/models/minilm").await;
    assert_eq!(status, 200);
    assert_eq!(server.model("minilm").await["state"], "unloaded");
    let (status, body) = server.get("/readyz").await;
    assert_eq!(status, 200, "an unloaded model loads on demand: {body}");
    let (status, _) = server.get("/health").await;
    assert_eq!(status, 200);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_disconnect_keeps_what_was_computed_and_drops_what_had_not_started() {
    let server = minilm_with(|c| c.batch.max_batch_size = 1).await;
    let texts = common::procs::sentences(0, 200);
    assert_eq!(texts.len(), 200);
    let body = serde_json::to_vec(&json!({ "texts": texts })).unwrap();
    let addr = address(&server);
    let mut stream = TcpStream::connect(&addr).unwrap();
    write!(
        stream,
        "POST /analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
        body.len()
    )
    .unwrap();
    stream.write_all(&body).unwrap();
    server.wait_for("a first computed text", || server.get_json("/cache"), |c| c["entries"].as_u64() >= Some(1)).await;
    drop(stream);

    // A later text queues behind whatever is left; once it is answered, every earlier
    // text either ran or was dropped.
    let (status, _) = server.analyze(json!({ "text": "the queue is drained behind this one" })).await;
    assert_eq!(status, 200);
    // Two memory entries a computed text (its key and its token ids' key).
    let entries = server.get_json("/cache").await["entries"].as_u64().unwrap() / 2 - 1;
    let metrics = server.client.get(server.url("/metrics")).send().await.unwrap().text().await.unwrap();
    let batches: u64 = metrics
        .lines()
        .find(|l| l.starts_with("sentiserve_batch_size_count"))
        .and_then(|l| l.rsplit(' ').next())
        .and_then(|v| v.parse::<f64>().ok())
        .unwrap() as u64
        - 1;
    assert_eq!(entries, batches, "every text that ran is cached ({entries} cached, {batches} run)");
    assert!(batches < 200, "texts that had not started were dropped ({batches} of 200 ran)");
}

#[tokio::test(flavor = "multi_thread")]
async fn shutdown_with_a_stalled_connection_ends_after_the_grace_period() {
    let dir = tempfile::tempdir().unwrap();
    let log = dir.path().join("server.log");
    let key_file = dir.path().join("key");
    std::fs::write(&key_file, "file-key\n").unwrap();
    let mut server = ServerProcess::minilm(
        &[
            "--shutdown-grace-secs".into(),
            "1".into(),
            "--header-read-timeout-ms".into(),
            "600000".into(),
            "--max-connections".into(),
            "3".into(),
            "--api-key-file".into(),
            key_file.display().to_string(),
        ],
        &log,
    );
    server.ready().await;
    // The key came from the file and is not on the command line.
    let cmdline = std::fs::read(format!("/proc/{}/cmdline", server.pid())).unwrap();
    assert!(!String::from_utf8_lossy(&cmdline).contains("file-key"));
    let ok = server.client.get(server.url("/models")).bearer_auth("file-key").send().await.unwrap();
    assert_eq!(ok.status(), 200);
    let denied = server.client.get(server.url("/models")).send().await.unwrap();
    assert_eq!(denied.status(), 401);

    // Three stalled connections reach the limit (logged once)...
    let addr = server.base.trim_start_matches("http://").to_string();
    let mut stalled: Vec<TcpStream> = (0..3)
        .map(|_| {
            let mut s = TcpStream::connect(&addr).unwrap();
            s.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\n").unwrap();
            s
        })
        .collect();
    server
        .wait_for(
            "the connection-limit log line",
            || async { Value::String(server.log_text()) },
            |log| log.as_str().is_some_and(|l| l.contains("connection limit reached")),
        )
        .await;
    // ...and one closing frees a slot for the next client.
    stalled.pop();
    assert_eq!(server.get_json("/livez").await["status"], "ok");

    // SIGTERM with stalled connections open: the process exits after the grace period.
    assert!(server.terminate(), "clean exit:\n{}", server.log_text());
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("shutdown grace period expired"), "{text}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_slowly_dripped_body_gets_408_at_the_whole_body_deadline() {
    let server = minilm_with(|c| c.connections.body_read_timeout = Duration::from_millis(500)).await;
    let addr = address(&server);
    let (response, dripped) = tokio::task::spawn_blocking(move || {
        let mut stream = TcpStream::connect(&addr).unwrap();
        stream
            .write_all(
                b"POST /analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 400\r\n\r\n",
            )
            .unwrap();
        let answered = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
        let mut reader = stream.try_clone().unwrap();
        let reading = {
            let answered = std::sync::Arc::clone(&answered);
            std::thread::spawn(move || {
                let response = read_until_closed(&mut reader);
                answered.store(true, std::sync::atomic::Ordering::SeqCst);
                response
            })
        };
        // One byte every 20 ms: the whole body would take 8 s, and no gap comes near
        // the 500 ms limit, so only a deadline on the whole body stops it.
        let mut dripped = 0;
        while dripped < 400 && !answered.load(std::sync::atomic::Ordering::SeqCst) {
            if stream.write_all(b" ").is_err() {
                break;
            }
            dripped += 1;
            std::thread::sleep(Duration::from_millis(20));
        }
        (reading.join().unwrap(), dripped)
    })
    .await
    .unwrap();
    assert!(response.starts_with("HTTP/1.1 408"), "{response}");
    assert!(response.contains(r#""type":"request_timeout""#), "{response}");
    assert!(response.contains("--body-read-timeout-ms"), "{response}");
    assert!(dripped < 400, "the server waited for the whole drip");
    assert_eq!(server.get_json("/livez").await["status"], "ok");
}

/// Reads one response head (up to the blank line).
fn read_head(stream: &mut TcpStream) -> String {
    stream.set_read_timeout(Some(WAIT)).unwrap();
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        assert_eq!(stream.read(&mut byte).unwrap(), 1, "closed mid-head: {}", String::from_utf8_lossy(&head));
        head.push(byte[0]);
    }
    String::from_utf8_lossy(&head).into_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_declared_too_large_body_gets_413_at_once_without_100_continue() {
    // The body deadline is longer than any wait of this test: only an answer that does
    // not wait for the body passes.
    let server = minilm_with(|c| c.connections.body_read_timeout = Duration::from_secs(3600)).await;
    let addr = address(&server);
    let (refused, invited) = tokio::task::spawn_blocking(move || {
        let refused = ["", "Expect: 100-continue\r\n"].map(|expect| {
            let mut stream = TcpStream::connect(&addr).unwrap();
            write!(
                stream,
                "POST /analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 3000000000\r\n{expect}\r\n"
            )
            .unwrap();
            read_until_closed(&mut stream)
        });
        // A body within the limit is still invited, then read (a field error, so that
        // no inference runs beside the tests that count batches).
        let body = br#"{"txet": "I love it"}"#;
        let mut stream = TcpStream::connect(&addr).unwrap();
        write!(
            stream,
            "POST /analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: {}\r\nExpect: 100-continue\r\nConnection: close\r\n\r\n",
            body.len()
        )
        .unwrap();
        let invitation = read_head(&mut stream);
        stream.write_all(body).unwrap();
        (refused, (invitation, read_until_closed(&mut stream)))
    })
    .await
    .unwrap();
    for response in refused {
        assert!(response.starts_with("HTTP/1.1 413"), "no 100 Continue, no wait: {response}");
        assert!(response.contains(r#""type":"payload_too_large""#), "{response}");
        assert!(response.contains("3000000000") && response.contains("--max-body-bytes"), "{response}");
    }
    let (invitation, response) = invited;
    assert!(invitation.starts_with("HTTP/1.1 100 Continue"), "{invitation}");
    assert!(response.starts_with("HTTP/1.1 422"), "{response}");
    assert!(response.contains(r#""type":"invalid_request""#) && response.contains("txet"), "{response}");
}

#[tokio::test(flavor = "multi_thread")]
async fn heads_hyper_cannot_parse_get_json_errors() {
    let server = minilm_with(|c| c.connections.max_header_bytes = 4096).await;
    let addr = address(&server);
    let many_headers: String = (0..101).map(|i| format!("X-H{i}: v\r\n")).collect();
    let huge_head = format!("X-Big: {}\r\n", "a".repeat(3 * 4096));
    let cases: Vec<(&str, String, u16, &str)> = vec![
        ("negative length", "Content-Length: -1\r\n".into(), 400, "malformed_head"),
        ("non-numeric length", "Content-Length: abc\r\n".into(), 400, "malformed_head"),
        ("overflowing length", "Content-Length: 99999999999999999999\r\n".into(), 400, "malformed_head"),
        ("two lengths", "Content-Length: 1\r\nContent-Length: 2\r\n".into(), 400, "malformed_head"),
        ("NUL in a header", "X-Bad: a\0b\r\n".into(), 400, "malformed_head"),
        ("control byte in a header", "X-Bad: a\x01b\r\n".into(), 400, "malformed_head"),
        ("101 headers", many_headers, 431, "headers_too_large"),
        ("a head over twice --max-header-bytes", huge_head, 431, "headers_too_large"),
    ];
    let responses = tokio::task::spawn_blocking(move || {
        cases
            .into_iter()
            .map(|(what, headers, status, kind)| {
                let mut stream = TcpStream::connect(&addr).unwrap();
                let request =
                    format!("POST /analyze HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\n{headers}\r\n");
                // The server may answer and close before reading all of a huge head.
                let _ = stream.write_all(request.as_bytes());
                (what, status, kind, read_until_closed(&mut stream))
            })
            .collect::<Vec<_>>()
    })
    .await
    .unwrap();
    for (what, status, kind, response) in responses {
        assert!(response.starts_with(&format!("HTTP/1.1 {status} ")), "{what}: {response}");
        assert!(response.to_ascii_lowercase().contains("content-type: application/json"), "{what}: {response}");
        let body: Value = serde_json::from_str(response.split("\r\n\r\n").nth(1).unwrap_or_default())
            .unwrap_or_else(|e| panic!("{what}: the body is not JSON ({e}): {response}"));
        assert_eq!(body["error"]["type"], kind, "{what}: {response}");
    }
    assert_eq!(server.get_json("/livez").await["status"], "ok");
}

//! The deployment topology of `deploy/compose.yaml`, on loopback with real processes:
//! nginx (running `deploy/nginx/nginx.conf`, its upstream pointed at local ports) in
//! front of two sentiserve replicas sharing one redis-server. A text computed through
//! one replica is cached through the other; a replica SIGKILLed under load, and a
//! rolling restart under load, fail no client request; a clear through the balancer
//! reaches both replicas.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use common::http::Http;
use common::procs::{free_port, model_keys, redis_keys, sentences, RedisServer, ServerProcess};
use serde_json::{json, Value};

/// Debian's nginx (scripts/test-deps.sh installs it).
fn nginx_binary() -> PathBuf {
    ["/usr/sbin/nginx", "/usr/bin/nginx"]
        .iter()
        .map(PathBuf::from)
        .find(|p| p.exists())
        .expect("nginx is required (scripts/test-deps.sh installs it)")
}

/// nginx serving the shipped configuration on `port`, balancing `upstreams`.
struct Nginx {
    child: Child,
    dir: tempfile::TempDir,
}

impl Nginx {
    fn start(port: u16, upstreams: [u16; 2]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let prefix = dir.path().display().to_string();
        let shipped = std::fs::read_to_string(Path::new(env!("CARGO_MANIFEST_DIR")).join("deploy/nginx/nginx.conf"))
            .expect("deploy/nginx/nginx.conf");
        // Only the environment changes: addresses (compose's DNS names become local
        // ports; `resolve` needs nginx >= 1.27.3 and a resolver), log and pid paths.
        let mut conf = String::new();
        for line in shipped.lines() {
            let trimmed = line.trim_start();
            let line = if trimmed.starts_with("resolver ") {
                continue;
            } else if trimmed.starts_with("server sentiserve-1:8080") || trimmed.starts_with("server sentiserve-2:8080")
            {
                let upstream = if trimmed.contains("sentiserve-1") { upstreams[0] } else { upstreams[1] };
                let rest = trimmed.split_once(' ').unwrap().1.split_once(' ').unwrap().1.replace(" resolve;", ";");
                format!("        server 127.0.0.1:{upstream} {rest}")
            } else if trimmed.starts_with("listen 80") {
                format!("        listen 127.0.0.1:{port} default_server;")
            } else if trimmed.starts_with("error_log") {
                format!("error_log {prefix}/error.log warn;")
            } else if trimmed.starts_with("access_log /dev/stdout") {
                format!("    access_log {prefix}/access.log upstream;")
            } else if trimmed.starts_with("pid ") {
                format!("pid {prefix}/nginx.pid;")
            } else if trimmed.starts_with("worker_processes") {
                "worker_processes 1;".to_string()
            } else if trimmed.starts_with("http {") {
                format!(
                    "http {{\n    client_body_temp_path {prefix}/body;\n    proxy_temp_path {prefix}/proxy;\n    \
                     fastcgi_temp_path {prefix}/fastcgi;\n    uwsgi_temp_path {prefix}/uwsgi;\n    scgi_temp_path {prefix}/scgi;"
                )
            } else {
                line.to_string()
            };
            conf.push_str(&line);
            conf.push('\n');
        }
        let path = dir.path().join("nginx.conf");
        std::fs::write(&path, conf).unwrap();
        // Workers may run as an unprivileged user: let them use the temp paths.
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir.path(), std::fs::Permissions::from_mode(0o777)).unwrap();
        let child = Command::new(nginx_binary())
            .args(["-p", &prefix, "-c"])
            .arg(&path)
            // One process (no workers), so killing it leaves nothing behind.
            .args(["-g", "daemon off; master_process off;"])
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("nginx starts");
        Self { child, dir }
    }

    fn error_log(&self) -> String {
        std::fs::read_to_string(self.dir.path().join("error.log")).unwrap_or_default()
    }
}

impl Drop for Nginx {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Two replicas on fixed ports (so either can restart in place), Redis, nginx.
struct Topology {
    redis: RedisServer,
    ports: [u16; 2],
    replicas: [Option<ServerProcess>; 2],
    nginx: Nginx,
    balancer: Http,
    logs: tempfile::TempDir,
    restarts: usize,
}

impl Topology {
    async fn start() -> Self {
        let redis = RedisServer::start();
        let logs = tempfile::tempdir().unwrap();
        let ports = [free_port(), free_port()];
        let lb_port = free_port();
        let mut topology = Self {
            nginx: Nginx::start(lb_port, ports),
            balancer: Http::new(format!("http://127.0.0.1:{lb_port}"), None),
            redis,
            ports,
            replicas: [None, None],
            logs,
            restarts: 0,
        };
        for i in 0..2 {
            topology.start_replica(i).await;
        }
        // nginx is up once it answers its own health route.
        let balancer = topology.balancer.clone();
        balancer
            .wait_for(
                "nginx answering",
                || async {
                    match balancer.client.get(balancer.url("/nginx-health")).send().await {
                        Ok(r) => json!(r.status().as_u16()),
                        Err(_) => json!(0),
                    }
                },
                |status| *status == 200,
            )
            .await;
        topology
    }

    async fn start_replica(&mut self, i: usize) {
        self.restarts += 1;
        let log = self.logs.path().join(format!("replica-{i}-{}.log", self.restarts));
        let args: Vec<String> = [
            "--model",
            &format!("minilm={}", common::minilm_dir().display()),
            "--default",
            "minilm",
            "--redis-url",
            &self.redis.url(),
            "--shutdown-grace-secs",
            "20",
        ]
        .iter()
        .map(|s| s.to_string())
        .collect();
        let replica = ServerProcess::spawn_on(self.ports[i], &args, &log, &[("HF_HUB_OFFLINE", "1")], None);
        replica.ready().await;
        replica.wait_tier("redis", "up", |t| t["up"] == true).await;
        self.replicas[i] = Some(replica);
    }

    fn replica(&self, i: usize) -> &ServerProcess {
        self.replicas[i].as_ref().unwrap()
    }
}

/// Closed-loop clients through the balancer, each sending new texts one request at a
/// time until stopped; counts what was sent and what failed.
struct Load {
    stop: Arc<AtomicBool>,
    sent: Arc<AtomicUsize>,
    failures: Arc<std::sync::Mutex<Vec<String>>>,
    clients: Vec<tokio::task::JoinHandle<()>>,
}

impl Load {
    fn start(balancer: &Http, clients: usize) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let sent = Arc::new(AtomicUsize::new(0));
        let failures = Arc::new(std::sync::Mutex::new(Vec::new()));
        let clients = (0..clients)
            .map(|c| {
                let (http, stop, sent, failures) =
                    (balancer.clone(), Arc::clone(&stop), Arc::clone(&sent), Arc::clone(&failures));
                tokio::spawn(async move {
                    let mut i = 0;
                    while !stop.load(Ordering::SeqCst) {
                        i += 1;
                        let body = json!({ "text": format!("load client {c} request {i}: a fine film") });
                        let outcome = http.client.post(http.url("/analyze")).json(&body).send().await;
                        match outcome {
                            Ok(r) if r.status() == 200 => {}
                            Ok(r) => {
                                let status = r.status();
                                let text = r.text().await.unwrap_or_default();
                                failures.lock().unwrap().push(format!("{status}: {text}"));
                            }
                            Err(e) => failures.lock().unwrap().push(format!("transport: {e}")),
                        }
                        sent.fetch_add(1, Ordering::SeqCst);
                    }
                })
            })
            .collect();
        Self { stop, sent, failures, clients }
    }

    /// Waits until `n` more requests have been answered.
    async fn progress(&self, n: usize) {
        let target = self.sent.load(Ordering::SeqCst) + n;
        while self.sent.load(Ordering::SeqCst) < target {
            tokio::task::yield_now().await;
        }
    }

    async fn stop(self) -> (usize, Vec<String>) {
        self.stop.store(true, Ordering::SeqCst);
        for client in self.clients {
            client.await.unwrap();
        }
        let failures = self.failures.lock().unwrap().clone();
        (self.sent.load(Ordering::SeqCst), failures)
    }
}

fn cached_flags(body: &Value) -> Vec<bool> {
    body["results"].as_array().unwrap().iter().map(|r| r["cached"].as_bool().unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_text_computed_through_one_replica_is_cached_through_the_other_and_clears_reach_both() {
    let topology = Topology::start().await;
    let texts = sentences(0, 10);
    let (status, first) = topology.balancer.analyze(json!({ "texts": texts })).await;
    assert_eq!(status, 200, "{first}\n{}", topology.nginx.error_log());
    assert_eq!(cached_flags(&first), vec![false; 10]);
    // Whichever replica computed them, both answer them from a cache tier now.
    for i in 0..2 {
        let replica = topology.replica(i);
        let body = replica
            .wait_for(
                "the texts shared through Redis",
                || async { replica.analyze(json!({ "texts": texts })).await.1 },
                |body| cached_flags(body) == vec![true; 10],
            )
            .await;
        for (got, want) in body["results"].as_array().unwrap().iter().zip(first["results"].as_array().unwrap()) {
            assert_eq!(got["scores"], want["scores"], "replica {i}");
        }
    }
    // A clear through the balancer reaches one replica, and through Redis both.
    let (status, _) = topology.balancer.delete("/cache").await;
    assert_eq!(status, 200);
    for i in 0..2 {
        topology.replica(i).wait_tier("memory", "emptied", |t| t["entries"] == 0).await;
    }
    let (_, after) = topology.balancer.analyze(json!({ "texts": texts })).await;
    assert_eq!(cached_flags(&after), vec![false; 10], "a cleared entry was served");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_replica_killed_under_load_fails_no_request() {
    let mut topology = Topology::start().await;
    let load = Load::start(&topology.balancer, 4);
    load.progress(40).await;
    topology.replicas[0].as_mut().unwrap().kill();
    load.progress(80).await;
    let (sent, failures) = load.stop().await;
    assert!(
        failures.is_empty(),
        "{} of {sent} requests failed, first: {:?}\n{}",
        failures.len(),
        &failures[..failures.len().min(3)],
        topology.nginx.error_log()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_rolling_restart_under_load_fails_no_request_and_restarted_replicas_answer_from_redis() {
    let mut topology = Topology::start().await;
    let warm = sentences(100, 20);
    let (status, _) = topology.balancer.analyze(json!({ "texts": warm })).await;
    assert_eq!(status, 200);
    let redis = &topology.redis;
    let stored = || async { json!(redis_keys(&mut redis.client().await, &model_keys("minilm")).await.len()) };
    topology.balancer.wait_for("the warm texts in Redis", stored, |n| n.as_u64() >= Some(20)).await;
    let load = Load::start(&topology.balancer, 4);
    for i in 0..2 {
        load.progress(30).await;
        assert!(topology.replicas[i].as_mut().unwrap().terminate(), "replica {i} drains and exits cleanly");
        load.progress(30).await;
        topology.start_replica(i).await;
        // The procedure the README gives: the next replica goes down only once the
        // balancer sends this one traffic again (passive health checks retry a failed
        // server after `fail_timeout`).
        let replica = topology.replica(i);
        let misses = || async { replica.get_json("/cache").await["misses"].clone() };
        replica.wait_for("the restarted replica taking traffic", misses, |n| n.as_u64() > Some(0)).await;
    }
    load.progress(30).await;
    let (sent, failures) = load.stop().await;
    assert!(
        failures.is_empty(),
        "{} of {sent} requests failed, first: {:?}\n{}",
        failures.len(),
        &failures[..failures.len().min(3)],
        topology.nginx.error_log()
    );

    // Both replicas are new processes: the warm texts come from Redis, no model runs.
    for i in 0..2 {
        let replica = topology.replica(i);
        let misses = replica.get_json("/cache").await["misses"].as_u64().unwrap();
        let (_, body) = replica.analyze(json!({ "texts": warm })).await;
        assert_eq!(cached_flags(&body), vec![true; 20], "replica {i}");
        assert_eq!(replica.get_json("/cache").await["misses"].as_u64().unwrap(), misses, "replica {i} ran the model");
    }
}

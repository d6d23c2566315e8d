//! Real processes for fault tests: `redis-server` on a free loopback port and
//! `sentiserve serve` child processes that can be killed or terminated.
#![allow(dead_code)]

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use serde_json::Value;

/// A free TCP port on 127.0.0.1 (bound then released).
pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn wait_for_port(port: u16, up: bool) {
    let deadline = Instant::now() + Duration::from_secs(20);
    while std::net::TcpStream::connect(("127.0.0.1", port)).is_ok() != up {
        assert!(Instant::now() < deadline, "port {port} never became {}", if up { "open" } else { "closed" });
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// A `redis-server` child, without persistence, killed on drop.
pub struct RedisServer {
    child: Option<Child>,
    pub port: u16,
    dir: tempfile::TempDir,
}

impl RedisServer {
    /// Starts redis-server on `port`.
    pub fn start_on(port: u16) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .arg("--dir")
            .arg(dir.path())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("redis-server is required for these tests (apt-get install -y redis-server)");
        wait_for_port(port, true);
        Self { child: Some(child), port, dir }
    }

    /// Starts redis-server on a free port.
    pub fn start() -> Self {
        Self::start_on(free_port())
    }

    pub fn url(&self) -> String {
        format!("redis://127.0.0.1:{}", self.port)
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        wait_for_port(self.port, false);
    }

    /// A direct client connection for assertions.
    pub async fn client(&self) -> redis::aio::MultiplexedConnection {
        redis::Client::open(self.url()).unwrap().get_multiplexed_async_connection().await.unwrap()
    }
}

impl Drop for RedisServer {
    fn drop(&mut self) {
        self.kill();
    }
}

/// Every key matching `pattern`.
pub async fn redis_keys(connection: &mut redis::aio::MultiplexedConnection, pattern: &str) -> Vec<String> {
    redis::cmd("KEYS").arg(pattern).query_async(connection).await.unwrap()
}

/// A `sentiserve serve` child process on a free port; killed on drop.
pub struct ServerProcess {
    child: Option<Child>,
    pub base: String,
    pub log: PathBuf,
    pub client: reqwest::Client,
}

impl ServerProcess {
    /// Starts `sentiserve serve --port P ARGS...`, logging to `log`.
    pub fn spawn(args: &[String], log: &Path) -> Self {
        let port = free_port();
        let file = std::fs::File::create(log).unwrap();
        let child = Command::new(env!("CARGO_BIN_EXE_sentiserve"))
            .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
            .args(args)
            .env("RUST_LOG", "info")
            .stdout(Stdio::null())
            .stderr(Stdio::from(file))
            .spawn()
            .unwrap();
        wait_for_port(port, true);
        Self {
            child: Some(child),
            base: format!("http://127.0.0.1:{port}"),
            log: log.to_path_buf(),
            client: reqwest::Client::new(),
        }
    }

    /// The shared MiniLM model as the default, plus `extra` flags.
    pub fn minilm(extra: &[String], log: &Path) -> Self {
        let mut args = vec![
            "--model".to_string(),
            format!("minilm={}", super::minilm_dir().display()),
            "--default".into(),
            "minilm".into(),
        ];
        args.extend_from_slice(extra);
        Self::spawn(&args, log)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{}", self.base, path)
    }

    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }

    /// Waits for `/health` 200.
    pub async fn ready(&self) {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            if let Ok(r) = self.client.get(self.url("/health")).send().await {
                if r.status() == 200 {
                    return;
                }
            }
            assert!(Instant::now() < deadline, "server never became healthy:\n{}", self.log_text());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    pub async fn analyze(&self, body: Value) -> (u16, Value) {
        let response = self.client.post(self.url("/analyze")).json(&body).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    pub async fn get(&self, path: &str) -> Value {
        self.client.get(self.url(path)).send().await.unwrap().json().await.unwrap()
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        let response = self.client.delete(self.url(path)).send().await.unwrap();
        let status = response.status().as_u16();
        (status, response.json().await.unwrap())
    }

    /// The `tiers` entry of `tier` in `GET /cache`.
    pub async fn tier(&self, tier: &str) -> Value {
        let stats = self.get("/cache").await;
        stats["tiers"].as_array().unwrap().iter().find(|t| t["tier"] == tier).cloned().unwrap_or(Value::Null)
    }

    /// Polls `GET /cache` until `check(tier stats)` holds (20 s at most).
    pub async fn wait_tier(&self, tier: &str, what: &str, check: impl Fn(&Value) -> bool) -> Value {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            let stats = self.tier(tier).await;
            if check(&stats) {
                return stats;
            }
            assert!(Instant::now() < deadline, "{tier} tier never {what}: {stats}\n{}", self.log_text());
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }

    /// SIGKILL, as a crash would.
    pub fn kill(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// SIGTERM, then waits for the process to exit; returns whether it exited cleanly.
    pub fn terminate(&mut self) -> bool {
        let Some(mut child) = self.child.take() else { return false };
        let _ = Command::new("kill").args(["-TERM", &child.id().to_string()]).status();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Ok(Some(status)) = child.try_wait() {
                return status.success();
            }
            if Instant::now() > deadline {
                let _ = child.kill();
                return false;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
    }
}

impl Drop for ServerProcess {
    fn drop(&mut self) {
        self.kill();
    }
}

/// `n` distinct real sentences from the IMDb set, starting at `offset`.
pub fn sentences(offset: usize, n: usize) -> Vec<String> {
    super::labelled("imdb.jsonl").into_iter().skip(offset).take(n).map(|l| l.text).collect()
}

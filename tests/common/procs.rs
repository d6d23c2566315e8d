//! Real processes for fault tests: `redis-server` on a free loopback port and
//! `sentiserve serve` child processes that can be killed or terminated.
#![allow(dead_code)]

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use super::http::Http;

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
        Self::start_with(port, &[])
    }

    /// Starts redis-server on `port` with `extra` arguments (`--requirepass P`, ...).
    pub fn start_with(port: u16, extra: &[&str]) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let child = Command::new("redis-server")
            .args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(extra)
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

/// Every key matching `pattern` (keys are binary: sentiserve's entries hold raw bytes).
pub async fn redis_keys(connection: &mut redis::aio::MultiplexedConnection, pattern: &[u8]) -> Vec<Vec<u8>> {
    redis::cmd("KEYS").arg(pattern).query_async(connection).await.unwrap()
}

/// The pattern of `model`'s entries under the default namespace.
pub fn model_keys(model: &str) -> Vec<u8> {
    sentiserve::cache::redis::entry_pattern("sentiserve", Some(model))
}

/// A `sentiserve serve` child process on a free port; killed on drop.
pub struct ServerProcess {
    child: Option<Child>,
    http: Http,
}

impl std::ops::Deref for ServerProcess {
    type Target = Http;
    fn deref(&self) -> &Http {
        &self.http
    }
}

impl ServerProcess {
    /// Starts `sentiserve serve --port P ARGS...`, logging to `log`. The Hub is off
    /// (`HF_HUB_OFFLINE=1`): no test process may reach off this machine.
    pub fn spawn(args: &[String], log: &Path) -> Self {
        Self::spawn_with(args, log, &[("HF_HUB_OFFLINE", "1")], None)
    }

    /// [`ServerProcess::spawn`] with its own environment variables and working
    /// directory (`None`: the test's).
    pub fn spawn_with(args: &[String], log: &Path, env: &[(&str, &str)], cwd: Option<&Path>) -> Self {
        Self::spawn_on(free_port(), args, log, env, cwd)
    }

    /// [`ServerProcess::spawn_with`] on a given port (a replica restarted in place).
    pub fn spawn_on(port: u16, args: &[String], log: &Path, env: &[(&str, &str)], cwd: Option<&Path>) -> Self {
        let file = std::fs::File::create(log).unwrap();
        let mut command = Command::new(env!("CARGO_BIN_EXE_sentiserve"));
        command
            .args(["serve", "--host", "127.0.0.1", "--port", &port.to_string()])
            .args(args)
            .env("RUST_LOG", "info")
            .envs(env.iter().copied())
            .stdout(Stdio::null())
            .stderr(Stdio::from(file));
        if let Some(dir) = cwd {
            command.current_dir(dir);
        }
        let child = command.spawn().unwrap();
        wait_for_port(port, true);
        Self { child: Some(child), http: Http::new(format!("http://127.0.0.1:{port}"), Some(log.to_path_buf())) }
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

    /// Waits for `/health` 200.
    pub async fn ready(&self) {
        self.wait_health(200).await;
    }

    /// The process id.
    pub fn pid(&self) -> u32 {
        self.child.as_ref().map_or(0, Child::id)
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

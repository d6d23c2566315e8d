//! Real `redis-server` topologies for the TLS, Cluster and Sentinel tests: a TLS-only
//! server with a throwaway CA (made with the `openssl` CLI), a Redis Cluster of three
//! primaries, and a master and replica watched by one Sentinel. Loopback only, free
//! ports, temporary directories. Every process logs to a file in its directory and is
//! SIGKILLed on drop; every wait polls with a 30 s deadline, then panics with what it
//! last saw and the tails of the logs.
#![allow(dead_code)]

use std::fs::File;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use tempfile::TempDir;

use super::procs::free_port;
pub use super::tls_certs::TlsCerts;

/// How long any wait may take before it panics.
const DEADLINE: Duration = Duration::from_secs(30);

/// `n` distinct free loopback ports (all bound at once, then released).
fn free_ports(n: usize) -> Vec<u16> {
    let held: Vec<_> = (0..n).map(|_| std::net::TcpListener::bind("127.0.0.1:0").unwrap()).collect();
    held.iter().map(|l| l.local_addr().unwrap().port()).collect()
}

fn port_open(port: u16) -> bool {
    std::net::TcpStream::connect(("127.0.0.1", port)).is_ok()
}

/// The last 30 lines of each log, for panic messages.
fn tails(logs: &[&Path]) -> String {
    let mut out = String::new();
    for log in logs {
        let text = std::fs::read_to_string(log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        let tail = lines[lines.len().saturating_sub(30)..].join("\n");
        out += &format!("\n--- {} (last 30 lines)\n{tail}", log.display());
    }
    out
}

/// Polls `probe` every 50 ms until it gives `Ok`; after 30 s panics with `what`, the
/// last `Err` (what was seen instead) and the tails of `logs`.
fn wait_until<T>(what: &str, logs: &[&Path], mut probe: impl FnMut() -> Result<T, String>) -> T {
    let deadline = Instant::now() + DEADLINE;
    loop {
        match probe() {
            Ok(value) => return value,
            Err(seen) if Instant::now() > deadline => {
                panic!("timed out after {DEADLINE:?} waiting for {what}; last seen: {seen}{}", tails(logs))
            }
            Err(_) => std::thread::sleep(Duration::from_millis(50)),
        }
    }
}

/// Runs `program ARGS...`: its stdout, or what it printed and the command when it fails.
pub(super) fn run(program: &str, args: &[&str]) -> Result<String, String> {
    let out = Command::new(program).args(args).stdin(Stdio::null()).output();
    let out = out.unwrap_or_else(|e| {
        panic!("{program} is required for these tests (apt-get install -y redis-server openssl): {e}")
    });
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    match out.status.success() {
        true => Ok(stdout.into_owned()),
        false => Err(format!("{program} {}: {}: {stdout}{stderr}", args.join(" "), out.status)),
    }
}

/// `redis-cli -h 127.0.0.1 -p PORT ARGS...`: the reply as redis-cli prints it when not
/// on a terminal (one line per element; error replies as `Ok("ERR ...")`), or why it
/// failed (connection refused, ...).
fn cli(port: u16, args: &[&str]) -> Result<String, String> {
    run("redis-cli", &[&["-h", "127.0.0.1", "-p", &port.to_string()], args].concat())
}

/// `Ok` when `done`, else `Err(seen)`: what a wait reports when it times out.
fn ready(done: bool, seen: impl Into<String>) -> Result<(), String> {
    done.then_some(()).ok_or_else(|| seen.into())
}

/// Whether `text` has the line `want` (replies end their lines with `\r\n`).
fn has_line(text: &str, want: &str) -> bool {
    text.lines().any(|l| l.trim() == want)
}

/// The configuration every server here gets: loopback, no persistence, its own directory.
fn base_conf(port: u16, dir: &Path) -> String {
    format!("port {port}\nbind 127.0.0.1\nsave \"\"\nappendonly no\ndir \"{}\"\n", dir.display())
}

/// One `redis-server` child, stdout and stderr in `log`; SIGKILLed on drop.
struct Node {
    child: Option<Child>,
    port: u16,
    log: PathBuf,
}

impl Node {
    /// Writes `conf` to `<dir>/<name>.conf`, starts `redis-server` on it (as a sentinel
    /// with `sentinel`), logging to `<dir>/<name>.log`, and waits until `port` accepts
    /// connections (panics at once, with the log, if it exits first).
    fn start(dir: &Path, name: &str, port: u16, conf: &str, sentinel: bool) -> Node {
        let (conf_path, log) = (dir.join(format!("{name}.conf")), dir.join(format!("{name}.log")));
        std::fs::write(&conf_path, conf).unwrap();
        let file = File::create(&log).unwrap();
        let child = Command::new("redis-server")
            .arg(&conf_path)
            .args(sentinel.then_some("--sentinel"))
            .stdin(Stdio::null())
            .stdout(file.try_clone().unwrap())
            .stderr(file)
            .spawn()
            .expect("redis-server is required for these tests (apt-get install -y redis-server)");
        let mut node = Node { child: Some(child), port, log };
        let log = node.log.clone();
        wait_until(&format!("{name} (redis-server) to listen on {port}"), &[&log], || {
            if let Some(status) = node.child.as_mut().unwrap().try_wait().unwrap() {
                panic!("{name} (redis-server {}) exited ({status}):\n{conf}{}", conf_path.display(), tails(&[&log]));
            }
            ready(port_open(port), format!("port {port} closed"))
        });
        node
    }

    fn alive(&self) -> bool {
        self.child.is_some()
    }

    /// SIGKILL, as a crash would, and waits until the port is closed.
    fn kill(&mut self) {
        self.stop();
        let port = self.port;
        wait_until(&format!("port {port} to close"), &[&self.log], || ready(!port_open(port), "still open"));
    }

    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A `redis-server` serving TLS only (`--port 0`) on a free loopback port with
/// [`TlsCerts`]' server certificate; killed on drop.
pub struct TlsRedis {
    server: Node,
    pub port: u16,
    dir: TempDir,
}

impl TlsRedis {
    /// Starts it and waits until the port accepts connections. With
    /// `require_client_cert`, a client must present a certificate signed by `certs.ca`
    /// (`--tls-auth-clients yes`); without, it may present none.
    pub fn start(certs: &TlsCerts, require_client_cert: bool) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let port = free_port();
        let auth = if require_client_cert { "yes" } else { "no" };
        let conf = format!(
            "{}tls-port {port}\ntls-auth-clients {auth}\ntls-cert-file \"{}\"\ntls-key-file \"{}\"\ntls-ca-cert-file \"{}\"\n",
            base_conf(0, dir.path()),
            certs.server_cert.display(),
            certs.server_key.display(),
            certs.ca.display()
        );
        let server = Node::start(dir.path(), "redis-tls", port, &conf, false);
        Self { server, port, dir }
    }

    /// `rediss://127.0.0.1:P`.
    pub fn url(&self) -> String {
        format!("rediss://127.0.0.1:{}", self.port)
    }

    /// The server's log so far (refused handshakes are logged there).
    pub fn log(&self) -> String {
        std::fs::read_to_string(&self.server.log).unwrap_or_default()
    }
}

/// A Redis Cluster of three primaries without replicas, all 16,384 slots assigned,
/// `cluster-node-timeout` 1 s, serving the slots it still has when a node is down.
pub struct RedisCluster {
    nodes: Vec<Node>,
    dir: TempDir,
}

impl RedisCluster {
    /// Starts three nodes, joins them with `redis-cli --cluster create` and waits
    /// until every node reports `cluster_state:ok`, 3 known nodes and 16,384 slots ok.
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        // Each node's bus port chosen too: the default (port + 10000) may be taken or
        // past 65535.
        let ports = free_ports(6);
        let mut nodes = Vec::new();
        for (&port, &bus) in ports[..3].iter().zip(&ports[3..]) {
            let node_dir = dir.path().join(format!("node-{port}"));
            std::fs::create_dir(&node_dir).unwrap();
            let conf = format!(
                "{}cluster-enabled yes\ncluster-port {bus}\ncluster-config-file \"{}/nodes-{port}.conf\"\n\
                 cluster-node-timeout 1000\ncluster-require-full-coverage no\ncluster-allow-reads-when-down yes\n",
                base_conf(port, &node_dir),
                node_dir.display()
            );
            nodes.push(Node::start(&node_dir, &format!("node-{port}"), port, &conf, false));
        }
        let cluster = Self { nodes, dir };
        let addresses = cluster.addresses();
        let mut args: Vec<&str> = vec!["--cluster", "create", "--cluster-replicas", "0", "--cluster-yes"];
        args.extend(addresses.iter().map(String::as_str));
        run("redis-cli", &args).unwrap_or_else(|e| panic!("{e}{}", tails(&cluster.logs())));
        for port in cluster.ports() {
            wait_until(&format!("node {port} to see the whole cluster ok"), &cluster.logs(), || {
                let info = cli(port, &["CLUSTER", "INFO"])?;
                let ok = ["cluster_state:ok", "cluster_slots_ok:16384", "cluster_known_nodes:3"];
                ready(ok.iter().all(|want| has_line(&info, want)), info)
            });
        }
        cluster
    }

    fn logs(&self) -> Vec<&Path> {
        self.nodes.iter().map(|n| n.log.as_path()).collect()
    }

    /// `redis+cluster://127.0.0.1:P1,127.0.0.1:P2,127.0.0.1:P3`.
    pub fn url(&self) -> String {
        format!("redis+cluster://{}", self.addresses().join(","))
    }

    fn addresses(&self) -> Vec<String> {
        self.ports().iter().map(|p| format!("127.0.0.1:{p}")).collect()
    }

    /// The nodes' ports, in start order (the order of [`RedisCluster::url`]).
    pub fn ports(&self) -> Vec<u16> {
        self.nodes.iter().map(|n| n.port).collect()
    }

    /// SIGKILLs node `i` and waits until its port is closed.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Waits until every live node flags node `i` as `fail` (not just `fail?`) in
    /// `CLUSTER NODES`: about 1.5 s after [`RedisCluster::kill`].
    pub fn wait_node_seen_failed(&self, i: usize) {
        let prefix = format!("127.0.0.1:{}@", self.nodes[i].port);
        for node in self.nodes.iter().filter(|n| n.alive()) {
            wait_until(&format!("node {} to flag {prefix} as fail", node.port), &self.logs(), || {
                let nodes = cli(node.port, &["CLUSTER", "NODES"])?;
                let failed = nodes.lines().any(|line| {
                    let fields: Vec<&str> = line.split_whitespace().collect();
                    fields.len() > 2 && fields[1].starts_with(&prefix) && fields[2].split(',').any(|f| f == "fail")
                });
                ready(failed, nodes)
            });
        }
    }

    /// `DBSIZE` of each node, in start order; 0 for a killed node.
    pub fn keys_per_node(&self) -> Vec<usize> {
        let size = |node: &Node| {
            let reply = cli(node.port, &["DBSIZE"]).unwrap_or_else(|e| panic!("{e}{}", tails(&self.logs())));
            reply.trim().parse::<usize>().unwrap_or_else(|_| panic!("DBSIZE on {}: {reply:?}", node.port))
        };
        self.nodes.iter().map(|n| if n.alive() { size(n) } else { 0 }).collect()
    }
}

/// A master and one replica watched by one Sentinel (quorum 1,
/// `down-after-milliseconds` 1000, `failover-timeout` 5000). After SIGKILL of the master,
/// the replica is `ROLE` master in about 2.2 s and named by the sentinel in about 3 s.
pub struct Sentinel {
    /// The initial master, then the initial replica.
    data: Vec<Node>,
    sentinel: Node,
    pub master_name: String,
    dir: TempDir,
}

impl Sentinel {
    /// Starts the master, the replica (waits until it is in sync) and the sentinel
    /// (waits until it sees the replica as healthy, so that it can fail over to it).
    pub fn start() -> Self {
        let dir = tempfile::tempdir().unwrap();
        let ports = free_ports(3);
        let (master, replica, sentinel) = (ports[0], ports[1], ports[2]);
        let data_node = |name: &str, port: u16, extra: &str| {
            let node_dir = dir.path().join(name);
            std::fs::create_dir(&node_dir).unwrap();
            // No 5 s wait before a diskless full sync.
            let conf = format!("{}repl-diskless-sync-delay 0\n{extra}", base_conf(port, &node_dir));
            Node::start(&node_dir, name, port, &conf, false)
        };
        let data = vec![
            data_node("master", master, ""),
            data_node("replica", replica, &format!("replicaof 127.0.0.1 {master}\n")),
        ];
        let data_logs: Vec<&Path> = data.iter().map(|n| n.log.as_path()).collect();
        wait_until("the replica to be in sync", &data_logs, || {
            let (m, r) = (cli(master, &["INFO", "replication"])?, cli(replica, &["INFO", "replication"])?);
            let synced = has_line(&m, "connected_slaves:1") && has_line(&r, "master_link_status:up");
            ready(synced, format!("master: {m}\nreplica: {r}"))
        });

        // Started once the replica is in sync, so that its first INFO of the master
        // lists the replica (else it learns of it up to 10 s later).
        let sentinel_dir = dir.path().join("sentinel");
        std::fs::create_dir(&sentinel_dir).unwrap();
        let conf = format!(
            "port {sentinel}\nbind 127.0.0.1\ndir \"{}\"\nsentinel monitor mymaster 127.0.0.1 {master} 1\n\
             sentinel down-after-milliseconds mymaster 1000\nsentinel failover-timeout mymaster 5000\n\
             sentinel parallel-syncs mymaster 1\n",
            sentinel_dir.display()
        );
        // sentinel.conf: written, then rewritten by the sentinel.
        let sentinel = Node::start(&sentinel_dir, "sentinel", sentinel, &conf, true);
        let this = Self { data, sentinel, master_name: "mymaster".into(), dir };
        wait_until("the sentinel to see a healthy replica", &this.logs(), || {
            let replicas = cli(this.sentinel.port, &["SENTINEL", "REPLICAS", &this.master_name])?;
            let lines: Vec<&str> = replicas.lines().map(str::trim).collect();
            ready(lines.windows(2).any(|w| w == ["flags", "slave"]), replicas)
        });
        this
    }

    fn logs(&self) -> Vec<&Path> {
        self.data.iter().chain([&self.sentinel]).map(|n| n.log.as_path()).collect()
    }

    /// `redis+sentinel://127.0.0.1:P/mymaster` (P: the sentinel's port).
    pub fn url(&self) -> String {
        format!("redis+sentinel://127.0.0.1:{}/{}", self.sentinel.port, self.master_name)
    }

    /// The sentinel's port.
    pub fn sentinel_port(&self) -> u16 {
        self.sentinel.port
    }

    fn try_master_port(&self) -> Result<u16, String> {
        let reply = cli(self.sentinel.port, &["SENTINEL", "get-master-addr-by-name", &self.master_name])?;
        reply.lines().nth(1).and_then(|p| p.trim().parse().ok()).ok_or(reply)
    }

    /// The master's port, as the sentinel names it now (`SENTINEL get-master-addr-by-name`).
    pub fn master_port(&self) -> u16 {
        self.try_master_port()
            .unwrap_or_else(|e| panic!("no master address from the sentinel: {e}{}", tails(&self.logs())))
    }

    /// SIGKILLs the current master (waits until its port is closed); returns its port.
    pub fn kill_master(&mut self) -> u16 {
        let port = self.master_port();
        self.data.iter_mut().find(|n| n.port == port && n.alive()).expect("the master is one of ours").kill();
        port
    }

    /// Waits until the sentinel names another node than `old_port` as master and that
    /// node's `ROLE` says master; returns its port.
    pub fn wait_failover(&self, old_port: u16) -> u16 {
        wait_until(&format!("the sentinel to promote a replica of {old_port}"), &self.logs(), || {
            let port = self.try_master_port()?;
            if port == old_port {
                return Err(format!("the sentinel still names {old_port}"));
            }
            let role = cli(port, &["ROLE"])?;
            ready(role.lines().next().map(str::trim) == Some("master"), format!("ROLE on {port}: {role}"))
                .map(|()| port)
        })
    }
}

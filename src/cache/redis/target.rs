//! Where Redis is: the forms of `--redis-url`, with the password file and the TLS
//! certificate files read once at startup.
//!
//! | URL | Topology |
//! |-----|----------|
//! | `redis://[user:password@]host:port[/db]` | one server (also `valkey://`, `unix://`) |
//! | `rediss://…` | the same over TLS |
//! | `redis+cluster://[user:password@]h1:p1,h2:p2,…` | Redis Cluster from seed nodes |
//! | `redis+sentinel://[user:password@]s1:p1,s2:p2/MASTER_NAME[/db]` | the master Sentinel names |
//!
//! `rediss+cluster://` and `rediss+sentinel://` use TLS to every node (and to the
//! Sentinels). The user and password are those of the data nodes; Sentinels are asked
//! without credentials.

use std::path::{Path, PathBuf};

use redis::{ConnectionInfo, IntoConnectionInfo, TlsCertificates};

use super::error::RedisTierError;
use crate::cache::config::{redact, RedisConfig};

/// Default port of a Redis node.
const REDIS_PORT: u16 = 6379;
/// Default port of a Sentinel.
const SENTINEL_PORT: u16 = 26379;

/// The shape of the deployment.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Topology {
    /// One server (or a managed endpoint in front of several).
    Standalone,
    /// Redis Cluster: keys spread over 16384 slots on several primaries.
    Cluster,
    /// A master found (and found again after a failover) through Sentinel.
    Sentinel {
        /// The name the Sentinels monitor the master under.
        master: String,
    },
}

/// A parsed `--redis-url` with its secrets resolved.
pub struct Target {
    /// The deployment's shape.
    pub topology: Topology,
    /// Standalone: the server; Cluster: the seed nodes; Sentinel: the master's
    /// credentials and database (its address comes from the Sentinels).
    pub nodes: Vec<ConnectionInfo>,
    /// Sentinel: the Sentinels' addresses (`host`, `port`).
    pub sentinels: Vec<(String, u16)>,
    /// Whether connections use TLS (a `rediss` scheme).
    pub tls: bool,
    /// Certificates (a private CA, a client certificate) for TLS; `None`: system roots.
    pub certs: Option<TlsCertificates>,
}

impl Target {
    /// Parses `config.url` in one of the forms above and reads the password and
    /// certificate files.
    ///
    /// Errors: [`RedisTierError::Url`] or [`RedisTierError::BadUrl`] for a URL that
    /// does not parse; [`RedisTierError::File`] for an unreadable file;
    /// [`RedisTierError::Password`] for an empty password file or two passwords;
    /// [`RedisTierError::TlsNeedsRediss`] for certificate files on a plain URL;
    /// [`RedisTierError::TlsFiles`] for a client certificate without its key.
    pub fn parse(config: &RedisConfig) -> Result<Self, RedisTierError> {
        let url = config.url.as_str();
        let bad = |reason: &str| RedisTierError::BadUrl { url: redact(url), reason: reason.to_string() };
        let (scheme, rest) = url.split_once("://").ok_or_else(|| bad("no scheme (redis://, rediss://, …)"))?;
        let (base, mode) = scheme.split_once('+').unwrap_or((scheme, ""));
        let tls = matches!(base, "rediss" | "valkeys");
        let password = read_password(config.password_file.as_deref())?;
        let certs = read_certs(config, tls)?;
        let mut target = match mode {
            "cluster" | "sentinel" if matches!(base, "redis" | "rediss" | "valkey" | "valkeys") => {
                let (userinfo, hosts, path) = split_authority(rest);
                let default_port = if mode == "cluster" { REDIS_PORT } else { SENTINEL_PORT };
                let addresses = hosts
                    .split(',')
                    .map(|host| host_port(host, default_port).ok_or_else(|| bad("a host is not host:port")))
                    .collect::<Result<Vec<_>, _>>()?;
                let node_scheme = if tls { "rediss" } else { "redis" };
                let node = |host: &str, port: u16, db: &str| {
                    let at = if userinfo.is_empty() { String::new() } else { format!("{userinfo}@") };
                    let host = if host.contains(':') { format!("[{host}]") } else { host.to_string() };
                    format!("{node_scheme}://{at}{host}:{port}{db}")
                        .into_connection_info()
                        .map_err(|source| RedisTierError::Url { url: redact(url), source })
                };
                if mode == "cluster" {
                    if !matches!(path, "" | "/" | "/0") {
                        return Err(bad("Redis Cluster has database 0 only"));
                    }
                    let nodes = addresses.iter().map(|(h, p)| node(h, *p, "")).collect::<Result<_, _>>()?;
                    Self { topology: Topology::Cluster, nodes, sentinels: Vec::new(), tls, certs: None }
                } else {
                    let mut parts = path.trim_start_matches('/').splitn(2, '/');
                    let master = parts.next().filter(|m| !m.is_empty()).ok_or_else(|| bad("no master name"))?;
                    let db = match parts.next().filter(|d| !d.is_empty()) {
                        Some(db) => format!("/{}", db.parse::<i64>().map_err(|_| bad("the database is not a number"))?),
                        None => String::new(),
                    };
                    // The master's address comes from the Sentinels; this node carries
                    // its credentials and database.
                    let credentials = node("localhost", REDIS_PORT, &db)?;
                    Self {
                        topology: Topology::Sentinel { master: master.to_string() },
                        nodes: vec![credentials],
                        sentinels: addresses,
                        tls,
                        certs: None,
                    }
                }
            }
            "" | "unix" => {
                let node =
                    url.into_connection_info().map_err(|source| RedisTierError::Url { url: redact(url), source })?;
                Self { topology: Topology::Standalone, nodes: vec![node], sentinels: Vec::new(), tls, certs: None }
            }
            _ => return Err(bad("unknown scheme (redis, rediss, redis+cluster, redis+sentinel, rediss+…)")),
        };
        if let Some(password) = password {
            for node in &mut target.nodes {
                if node.redis_settings().password().is_some() {
                    return Err(RedisTierError::Password(
                        "the URL has a password and --redis-password-file gives another",
                    ));
                }
                let settings = node.redis_settings().clone().set_password(&password);
                *node = node.clone().set_redis_settings(settings);
            }
        }
        target.certs = certs;
        Ok(target)
    }
}

/// `user:password` (percent-encoded as in the URL), `h1:p1,h2:p2`, and the path.
fn split_authority(rest: &str) -> (&str, &str, &str) {
    let end = rest.find(['/', '?', '#']).unwrap_or(rest.len());
    let (authority, path) = rest.split_at(end);
    let path = path.split(['?', '#']).next().unwrap_or("");
    match authority.rfind('@') {
        Some(at) => (&authority[..at], &authority[at + 1..], path),
        None => ("", authority, path),
    }
}

/// `host:port`, `[v6]:port` or `host` (with `default_port`).
fn host_port(text: &str, default_port: u16) -> Option<(String, u16)> {
    let text = text.trim();
    let (host, port) = if let Some(v6) = text.strip_prefix('[') {
        let (host, after) = v6.split_once(']')?;
        (host, after.strip_prefix(':'))
    } else {
        match text.rsplit_once(':') {
            Some((host, port)) => (host, Some(port)),
            None => (text, None),
        }
    };
    let port = match port {
        Some(port) => port.parse().ok()?,
        None => default_port,
    };
    (!host.is_empty()).then(|| (host.to_string(), port))
}

/// The first line of the password file, if one is configured.
///
/// Errors: [`RedisTierError::File`], or [`RedisTierError::Password`] for an empty
/// file (an empty password would silently connect without one).
fn read_password(path: Option<&Path>) -> Result<Option<String>, RedisTierError> {
    let Some(path) = path else { return Ok(None) };
    let text = read(path, "--redis-password-file")?;
    let text = String::from_utf8(text).map_err(|_| RedisTierError::Password("the password file is not UTF-8"))?;
    let line = text.lines().next().unwrap_or("").trim_end_matches('\r');
    if line.is_empty() {
        return Err(RedisTierError::Password("the password file is empty"));
    }
    Ok(Some(line.to_string()))
}

/// The certificate files, read; `None` when none is configured.
///
/// Errors: [`RedisTierError::TlsNeedsRediss`] when certificates are given for a plain
/// URL; [`RedisTierError::File`].
fn read_certs(config: &RedisConfig, tls: bool) -> Result<Option<TlsCertificates>, RedisTierError> {
    let files = &config.tls;
    if files.ca_cert.is_none() && files.client_cert.is_none() && files.client_key.is_none() {
        return Ok(None);
    }
    if !tls {
        return Err(RedisTierError::TlsNeedsRediss);
    }
    let client_tls = match (&files.client_cert, &files.client_key) {
        (Some(cert), Some(key)) => Some(redis::ClientTlsConfig {
            client_cert: read(cert, "--redis-client-cert")?,
            client_key: read(key, "--redis-client-key")?,
        }),
        (None, None) => None,
        _ => return Err(RedisTierError::TlsFiles("--redis-client-cert and --redis-client-key go together")),
    };
    let root_cert = files.ca_cert.as_deref().map(|ca| read(ca, "--redis-ca-cert")).transpose()?;
    Ok(Some(TlsCertificates { client_tls, root_cert }))
}

fn read(path: &Path, what: &'static str) -> Result<Vec<u8>, RedisTierError> {
    std::fs::read(path).map_err(|source| RedisTierError::File { what, path: PathBuf::from(path), source })
}

#[cfg(test)]
mod tests;

//! Redis Cluster without a cluster client: one connection per primary and a slot map
//! the health ping refreshes.
//!
//! Each command goes to the primary that serves its key's slot (CRC16/XMODEM of the
//! key or of its `{hash tag}`, modulo 16384, as the Redis Cluster specification
//! defines it) over that node's own `ConnectionManager`. A dead primary fails only the
//! commands for its slots, at once (connection refused) or after the command timeout;
//! every other node is untouched. A command sent on a stale map is answered `MOVED`:
//! a miss or a dropped write until the next ping (at most 500 ms) reads the new map.
//!
//! Why not the `redis` crate's `ClusterConnection` (1.8): while a primary is down,
//! every command for its slots starts a slot refresh, and a refresh can queue on the
//! connection map's lock behind a node-repair future that is only polled once the
//! refresh ends. The client then hangs for good, with every command timing out and
//! the tier down until the process restarts (seen in `tests/redis_topologies.rs`
//! under load: 3 runs in 10).

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig};
use redis::{Cmd, ConnectionAddr, ConnectionInfo, RedisError, RedisFuture, RedisResult, TlsCertificates, Value};

use super::{RedisConfig, MANAGER_MAX_DELAY};

/// Number of hash slots in a Redis Cluster.
pub const SLOTS: u16 = 16384;

/// A node's address: host and port.
pub type Address = (String, u16);

/// The hash slot of `key`: CRC16/XMODEM of the key, or of the part between the first
/// `{` and the next `}` when that part is not empty, modulo 16384 (Redis Cluster
/// specification, "Hash tags").
pub fn slot(key: &[u8]) -> u16 {
    let tagged = key.iter().position(|&b| b == b'{').and_then(|open| {
        let rest = &key[open + 1..];
        rest.iter().position(|&b| b == b'}').filter(|&close| close > 0).map(|close| &rest[..close])
    });
    crc16::State::<crc16::XMODEM>::calculate(tagged.unwrap_or(key)) % SLOTS
}

/// Which primary serves each slot.
#[derive(Debug, Default, PartialEq)]
pub struct SlotMap {
    /// The primaries, in the order `CLUSTER SLOTS` first names them.
    primaries: Vec<Address>,
    /// `[16384]`: index into `primaries`, or `u16::MAX` for a slot no node serves.
    owner: Vec<u16>,
}

impl SlotMap {
    /// The map in a `CLUSTER SLOTS` reply: `[[start, end, [host, port, id, …], replica…], …]`.
    /// An empty host means the node that answered (`answered_by`); a node whose
    /// address is unknown (`?`) serves nothing.
    ///
    /// Errors: a reply of another shape (`None`).
    pub fn parse(reply: &Value, answered_by: &str) -> Option<Self> {
        let Value::Array(ranges) = reply else { return None };
        let mut map = Self { primaries: Vec::new(), owner: vec![u16::MAX; SLOTS as usize] };
        for range in ranges {
            let Value::Array(fields) = range else { return None };
            let start: u16 = redis::from_redis_value(fields.first()?.clone()).ok()?;
            let end: u16 = redis::from_redis_value(fields.get(1)?.clone()).ok()?;
            let Value::Array(primary) = fields.get(2)? else { return None };
            let host: String = redis::from_redis_value(primary.first()?.clone()).ok()?;
            let port: u16 = redis::from_redis_value(primary.get(1)?.clone()).ok()?;
            if host == "?" || start > end || end >= SLOTS {
                continue;
            }
            let host = if host.is_empty() { answered_by.to_string() } else { host };
            let address = (host, port);
            let index = match map.primaries.iter().position(|a| *a == address) {
                Some(index) => index,
                None => {
                    map.primaries.push(address);
                    map.primaries.len() - 1
                }
            };
            map.owner[start as usize..=end as usize].fill(index as u16);
        }
        Some(map)
    }

    /// The primary serving `slot`, if any.
    pub fn owner(&self, slot: u16) -> Option<&Address> {
        self.primaries.get(*self.owner.get(slot as usize)? as usize)
    }
}

/// One cluster: a connection per node (made on first use) and the slot map. Cheap to
/// clone (every clone shares both).
#[derive(Clone)]
pub struct ClusterLink {
    inner: Arc<Inner>,
}

struct Inner {
    /// The seed nodes' connection settings (credentials, TLS), in `--redis-url` order.
    seeds: Vec<ConnectionInfo>,
    certs: Option<TlsCertificates>,
    manager: ConnectionManagerConfig,
    nodes: RwLock<HashMap<Address, ConnectionManager>>,
    slots: RwLock<Arc<SlotMap>>,
    /// The node whose `CLUSTER SLOTS` answered last, asked first next time.
    last_answered: RwLock<Option<Address>>,
}

impl ClusterLink {
    /// Reads the slot map from the first seed that answers.
    ///
    /// Errors: the last node's error when none answers `CLUSTER SLOTS`.
    pub async fn connect(
        seeds: Vec<ConnectionInfo>,
        certs: Option<TlsCertificates>,
        config: &RedisConfig,
    ) -> RedisResult<Self> {
        let manager = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(config.connect_timeout))
            .set_response_timeout(Some(config.command_timeout))
            .set_number_of_retries(1)
            .set_max_delay(MANAGER_MAX_DELAY);
        let inner = Inner {
            seeds,
            certs,
            manager,
            nodes: RwLock::default(),
            slots: RwLock::default(),
            last_answered: RwLock::default(),
        };
        let link = Self { inner: Arc::new(inner) };
        link.refresh().await?;
        Ok(link)
    }

    /// The health check: reads the slot map again from the first node that answers
    /// (the last one that did, then the primaries, then the seeds), so one dead
    /// primary is not an outage.
    ///
    /// Errors: the last node's error when none answers.
    pub async fn refresh(&self) -> RedisResult<()> {
        let mut candidates: Vec<Address> = Vec::new();
        let last = self.inner.last_answered.read().unwrap_or_else(|p| p.into_inner()).clone();
        candidates.extend(last);
        candidates.extend(self.slot_map().primaries.iter().cloned());
        candidates.extend(self.inner.seeds.iter().filter_map(address_of));
        let mut error = None;
        let mut tried = Vec::new();
        for address in candidates {
            if tried.contains(&address) {
                continue;
            }
            tried.push(address.clone());
            let mut connection = self.node(&address)?;
            let reply = redis::cmd("CLUSTER").arg("SLOTS").query_async::<Value>(&mut connection).await;
            match reply {
                Ok(reply) => {
                    let map = SlotMap::parse(&reply, &address.0).ok_or_else(|| {
                        RedisError::from((redis::ErrorKind::UnexpectedReturnType, "CLUSTER SLOTS of an unknown shape"))
                    })?;
                    *self.inner.slots.write().unwrap_or_else(|p| p.into_inner()) = Arc::new(map);
                    *self.inner.last_answered.write().unwrap_or_else(|p| p.into_inner()) = Some(address);
                    return Ok(());
                }
                Err(e) => error = Some(e),
            }
        }
        Err(error.unwrap_or_else(|| RedisError::from((redis::ErrorKind::InvalidClientConfig, "no cluster node known"))))
    }

    fn slot_map(&self) -> Arc<SlotMap> {
        Arc::clone(&self.inner.slots.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// The connection to `address`, made (lazily: it connects on its first command)
    /// if there is none yet.
    ///
    /// Errors: the client's, for settings it refuses.
    pub fn node(&self, address: &Address) -> RedisResult<ConnectionManager> {
        if let Some(connection) = self.inner.nodes.read().unwrap_or_else(|p| p.into_inner()).get(address) {
            return Ok(connection.clone());
        }
        let seed = self
            .inner
            .seeds
            .first()
            .ok_or_else(|| RedisError::from((redis::ErrorKind::InvalidClientConfig, "the URL names no node")))?;
        let (host, port) = address.clone();
        let addr = match seed.addr() {
            ConnectionAddr::TcpTls { .. } => ConnectionAddr::TcpTls { host, port, insecure: false, tls_params: None },
            _ => ConnectionAddr::Tcp(host, port),
        };
        let info = seed.clone().set_addr(addr);
        let client = match &self.inner.certs {
            Some(certs) => redis::Client::build_with_tls(info, certs.clone())?,
            None => redis::Client::open(info)?,
        };
        let connection = ConnectionManager::new_lazy_with_config(client, self.inner.manager.clone())?;
        let mut nodes = self.inner.nodes.write().unwrap_or_else(|p| p.into_inner());
        Ok(nodes.entry(address.clone()).or_insert(connection).clone())
    }

    /// The connection to the node that last answered the health check.
    ///
    /// Errors: as [`ClusterLink::node`].
    pub fn any_node(&self) -> RedisResult<ConnectionManager> {
        self.route(None)
    }

    /// The connection to the primary serving `key`'s slot; a command without a key
    /// goes to the node that last answered the health check.
    ///
    /// Errors: `ClusterConnectionNotFound` for a slot no node serves; the client's.
    fn route(&self, key: Option<&[u8]>) -> RedisResult<ConnectionManager> {
        let address = match key {
            Some(key) => self.slot_map().owner(slot(key)).cloned(),
            None => self.inner.last_answered.read().unwrap_or_else(|p| p.into_inner()).clone(),
        };
        let address = address.ok_or_else(|| {
            RedisError::from((redis::ErrorKind::ClusterConnectionNotFound, "no node serves this slot"))
        })?;
        self.node(&address)
    }
}

/// `host:port` of a seed (`None` for a Unix socket).
fn address_of(info: &ConnectionInfo) -> Option<Address> {
    match info.addr() {
        ConnectionAddr::Tcp(host, port) | ConnectionAddr::TcpTls { host, port, .. } => Some((host.clone(), *port)),
        _ => None,
    }
}

/// The key of `cmd`: its first argument after the command name (every command this
/// tier sends to a slot has its key there).
fn key_of(cmd: &Cmd) -> Option<&[u8]> {
    match cmd.args_iter().nth(1)? {
        redis::Arg::Simple(key) => Some(key),
        _ => None,
    }
}

impl ConnectionLike for ClusterLink {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        Box::pin(async move { self.route(key_of(cmd))?.req_packed_command(cmd).await })
    }

    /// A pipeline goes whole to the node of its first command's key (this tier's
    /// pipelines are about one key).
    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        Box::pin(async move {
            let key = pipeline.cmd_iter().next().and_then(key_of);
            self.route(key)?.req_packed_commands(pipeline, offset, count).await
        })
    }

    fn get_db(&self) -> i64 {
        0
    }
}

#[cfg(test)]
mod tests;

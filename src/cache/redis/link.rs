//! Connections to each topology ([`Target`]), behind one type the tier's commands run
//! on.
//!
//! - Standalone: the `redis` crate's `ConnectionManager` (one multiplexed connection
//!   that reconnects by itself).
//! - Cluster: [`ClusterLink`], a connection per primary and the slot map, which the
//!   health ping reads again from any node that answers, so one dead primary does not
//!   take the tier down; keys on its slots fail on their own (a miss, a dropped
//!   write).
//! - Sentinel: a multiplexed connection to the master the Sentinels name. The ping is
//!   `ROLE`: once the node is gone or no longer the master, the supervisor drops the
//!   connection and asks the Sentinels again, so a failover needs no restart.

use redis::aio::{ConnectionLike, ConnectionManager, ConnectionManagerConfig, MultiplexedConnection};
use redis::sentinel::{SentinelClient, SentinelClientBuilder, SentinelServerType};
use redis::{Cmd, ConnectionAddr, ConnectionInfo, RedisFuture, RedisResult, TlsCertificates, TlsMode, Value};

use super::cluster::ClusterLink;
use super::target::{Target, Topology};
use super::{RedisConfig, MANAGER_MAX_DELAY};

/// Makes connections for one [`Target`].
pub(super) enum Connector {
    Single(redis::Client),
    /// The seed nodes and the certificates every node's connection uses.
    Cluster(Vec<ConnectionInfo>, Option<TlsCertificates>),
    /// Behind a mutex: asking the Sentinels needs `&mut`.
    Sentinel(tokio::sync::Mutex<SentinelClient>),
}

/// One live connection; cheap to clone (every clone shares it).
#[derive(Clone)]
pub(super) enum Link {
    Single(ConnectionManager),
    Cluster(ClusterLink),
    Sentinel(MultiplexedConnection),
}

impl Connector {
    /// A connector for `target` (nothing is connected yet).
    ///
    /// Errors: the client's, for settings it refuses.
    pub fn new(target: Target) -> RedisResult<Self> {
        let Target { topology, nodes, sentinels, tls, certs } = target;
        Ok(match topology {
            Topology::Standalone => {
                let node = nodes.into_iter().next().ok_or_else(no_node)?;
                Self::Single(match certs {
                    Some(certs) => redis::Client::build_with_tls(node, certs)?,
                    None => redis::Client::open(node)?,
                })
            }
            Topology::Cluster => {
                if nodes.is_empty() {
                    return Err(no_node());
                }
                Self::Cluster(nodes, certs)
            }
            Topology::Sentinel { master } => {
                let addresses = sentinels.into_iter().map(|(host, port)| match tls {
                    true => ConnectionAddr::TcpTls { host, port, insecure: false, tls_params: None },
                    false => ConnectionAddr::Tcp(host, port),
                });
                let mut builder = SentinelClientBuilder::new(addresses, master, SentinelServerType::Master)?;
                let settings = nodes.into_iter().next().ok_or_else(no_node)?;
                let settings = settings.redis_settings();
                builder = builder.set_client_to_redis_db(settings.db());
                if let Some(user) = settings.username() {
                    builder = builder.set_client_to_redis_username(user);
                }
                if let Some(password) = settings.password() {
                    builder = builder.set_client_to_redis_password(password);
                }
                if tls {
                    builder = builder
                        .set_client_to_redis_tls_mode(TlsMode::Secure)
                        .set_client_to_sentinel_tls_mode(TlsMode::Secure);
                    if let Some(certs) = certs {
                        builder = builder
                            .set_client_to_redis_certificates(certs.clone())
                            .set_client_to_sentinel_certificates(certs);
                    }
                }
                Self::Sentinel(tokio::sync::Mutex::new(builder.build()?))
            }
        })
    }

    /// Connects (Sentinel: asks the Sentinels for the master first).
    ///
    /// Errors: the client's (unreachable, refused, authentication, TLS).
    pub async fn connect(&self, config: &RedisConfig) -> RedisResult<Link> {
        match self {
            Self::Single(client) => {
                let manager = ConnectionManagerConfig::new()
                    .set_connection_timeout(Some(config.connect_timeout))
                    .set_response_timeout(Some(config.command_timeout))
                    .set_number_of_retries(1)
                    .set_max_delay(MANAGER_MAX_DELAY);
                Ok(Link::Single(ConnectionManager::new_with_config(client.clone(), manager).await?))
            }
            Self::Cluster(seeds, certs) => {
                Ok(Link::Cluster(ClusterLink::connect(seeds.clone(), certs.clone(), config).await?))
            }
            Self::Sentinel(client) => {
                let settings = redis::AsyncConnectionConfig::new()
                    .set_connection_timeout(Some(config.connect_timeout))
                    .set_response_timeout(Some(config.command_timeout));
                let mut client = client.lock().await;
                Ok(Link::Sentinel(client.get_async_connection_with_config(&settings).await?))
            }
        }
    }
}

/// The error for a target without a node (the URL parser never makes one).
fn no_node() -> redis::RedisError {
    redis::RedisError::from((redis::ErrorKind::InvalidClientConfig, "the URL names no node"))
}

impl Link {
    /// Whether keys spread over a cluster's primaries (one failing key is not an
    /// outage).
    pub fn is_cluster(&self) -> bool {
        matches!(self, Self::Cluster(_))
    }

    /// Whether a failed health check should drop this connection and connect again
    /// (Sentinel: the master may have moved); the others reconnect by themselves.
    pub fn reconnect_on_failure(&self) -> bool {
        matches!(self, Self::Sentinel(_))
    }

    /// The health check (see the module docs).
    ///
    /// Errors: the client's, or "no longer the master" for a demoted Sentinel master.
    pub async fn ping(&mut self) -> Result<(), String> {
        match self {
            Self::Single(connection) => {
                redis::cmd("PING").query_async::<String>(connection).await.map(drop).map_err(|e| e.to_string())
            }
            Self::Cluster(cluster) => cluster.refresh().await.map_err(|e| e.to_string()),
            Self::Sentinel(connection) => {
                let role: Vec<Value> = redis::cmd("ROLE").query_async(connection).await.map_err(|e| e.to_string())?;
                match role.first() {
                    Some(Value::BulkString(role)) if role.as_slice() == b"master" => Ok(()),
                    Some(Value::SimpleString(role)) if role == "master" => Ok(()),
                    _ => Err("the node the Sentinels named is no longer the master".into()),
                }
            }
        }
    }

    /// The connection to a node that answered the last health check (Cluster: for
    /// `CLUSTER NODES`); the link itself for the other topologies.
    ///
    /// Errors: `ClusterConnectionNotFound` before any node answered.
    pub fn any_node(&self) -> RedisResult<Link> {
        match self {
            Self::Cluster(cluster) => Ok(Self::Single(cluster.any_node()?)),
            _ => Ok(self.clone()),
        }
    }

    /// The connection to one node, `host:port` (Cluster: to scan each primary); the
    /// link itself for the other topologies.
    ///
    /// Errors: the client's, for settings it refuses.
    pub fn node(&self, host: &str, port: u16) -> RedisResult<Link> {
        match self {
            Self::Cluster(cluster) => Ok(Self::Single(cluster.node(&(host.to_string(), port))?)),
            _ => Ok(self.clone()),
        }
    }
}

impl ConnectionLike for Link {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Self::Single(c) => c.req_packed_command(cmd),
            Self::Cluster(c) => c.req_packed_command(cmd),
            Self::Sentinel(c) => c.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a redis::Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Self::Single(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Cluster(c) => c.req_packed_commands(pipeline, offset, count),
            Self::Sentinel(c) => c.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Self::Single(c) => c.get_db(),
            Self::Cluster(c) => c.get_db(),
            Self::Sentinel(c) => c.get_db(),
        }
    }
}

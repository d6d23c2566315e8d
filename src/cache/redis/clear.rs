//! Clearing: bump the scope's generation (every replica drops it locally), then free
//! Redis of the scope's keys with `SCAN` + `UNLINK`, on every primary of a cluster.

use super::link::Link;
use super::{entry_pattern, generation, RedisTier, RedisTierError, SCAN_COUNT};

impl RedisTier {
    /// [`super::Tier::clear`]: bumps the scope's generation, then unlinks its keys;
    /// returns how many were removed.
    ///
    /// Errors: the first command that fails.
    pub(super) async fn clear_scope(&self, model: Option<&str>) -> Result<u64, RedisTierError> {
        let shared = &self.shared;
        let field = generation::field(model);
        let mut bump = redis::cmd("HINCRBY");
        bump.arg(shared.generations_key()).arg(field).arg(1);
        let value: u64 = shared.run("HINCRBY", &bump).await?;
        shared.generations.advance(field, value);
        let link = shared.connection().ok_or_else(|| RedisTierError::Down(shared.last_error()))?;
        // A standalone server or a Sentinel master: one keyspace. A cluster: each
        // primary's own, scanned one by one (SCAN is per node).
        let mut nodes = vec![link.clone()];
        if link.is_cluster() {
            let node = |(host, port): (String, u16)| {
                link.node(&host, port).map_err(|source| RedisTierError::Command { command: "SCAN", source })
            };
            nodes = self.primaries(&link).await?.into_iter().map(node).collect::<Result<_, _>>()?;
        }
        let mut removed = 0u64;
        for mut node in nodes {
            removed += self.unlink_scope(&mut node, model).await?;
        }
        Ok(removed)
    }

    /// Unlinks the scope's keys in the keyspace of `node` (one server, one primary).
    ///
    /// Errors: the first command that fails.
    async fn unlink_scope(&self, node: &mut Link, model: Option<&str>) -> Result<u64, RedisTierError> {
        let shared = &self.shared;
        let pattern = entry_pattern(&shared.config.namespace, model);
        let generations = shared.generations_key().into_bytes();
        let mut cursor: u64 = 0;
        let mut removed = 0u64;
        loop {
            let mut scan = redis::cmd("SCAN");
            scan.arg(cursor).arg("MATCH").arg(&pattern).arg("COUNT").arg(SCAN_COUNT);
            let reply = shared.bounded("SCAN", scan.query_async::<redis::Value>(node)).await?;
            let (next, mut keys): (u64, Vec<Vec<u8>>) = redis::from_redis_value(reply)
                .map_err(|e| RedisTierError::Command { command: "SCAN", source: e.into() })?;
            keys.retain(|key| *key != generations);
            if !keys.is_empty() {
                // One UNLINK per key, in one round trip: a cluster refuses a command
                // whose keys lie in different slots.
                let mut unlink = redis::pipe();
                for key in &keys {
                    unlink.cmd("UNLINK").arg(key);
                }
                let counts: Vec<u64> = shared.bounded("UNLINK", unlink.query_async(node)).await?;
                removed += counts.iter().sum::<u64>();
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }

    /// The cluster's primaries that are not marked failed (`CLUSTER NODES`).
    ///
    /// Errors: the command's.
    async fn primaries(&self, link: &Link) -> Result<Vec<(String, u16)>, RedisTierError> {
        let failed = |source| RedisTierError::Command { command: "CLUSTER NODES", source };
        let mut any = link.any_node().map_err(failed)?;
        let mut nodes = redis::cmd("CLUSTER");
        nodes.arg("NODES");
        let reply = self.shared.bounded("CLUSTER NODES", nodes.query_async::<redis::Value>(&mut any)).await?;
        let text: String = redis::from_redis_value(reply)
            .map_err(|e| RedisTierError::Command { command: "CLUSTER NODES", source: e.into() })?;
        Ok(primaries(&text))
    }
}

/// The live primaries in `CLUSTER NODES` output: lines of `id ip:port@cport[,host]
/// flags master …`.
pub(super) fn primaries(nodes: &str) -> Vec<(String, u16)> {
    nodes
        .lines()
        .filter_map(|line| {
            let mut fields = line.split_whitespace();
            let (_, address, flags) = (fields.next()?, fields.next()?, fields.next()?);
            let flags: Vec<&str> = flags.split(',').collect();
            if !flags.contains(&"master") || flags.iter().any(|f| matches!(*f, "fail" | "fail?" | "noaddr")) {
                return None;
            }
            let address = address.split(['@', ',']).next()?;
            let (host, port) = address.rsplit_once(':')?;
            let host = host.trim_start_matches('[').trim_end_matches(']');
            Some((host.to_string(), port.parse().ok()?))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::primaries;

    #[test]
    fn live_primaries_are_read_from_cluster_nodes() {
        let nodes = "\
07c37dfeb235213a872192d90877d0cd55635b91 127.0.0.1:30004@31004,host4 slave e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 0 1426238317239 4 connected
67ed2db8d677e59ec4a4cefb06858cf2a1a89fa1 127.0.0.1:30002@31002 master - 0 1426238316232 2 connected 5461-10922
292f8b365bb7edb5e285caf0b7e6ddc7265d2f4f 127.0.0.1:30003@31003 master,fail - 0 1426238318243 3 disconnected 10923-16383
e7d1eecce10fd6bb5eb35b9f99a514335d9ba9ca 127.0.0.1:30001@31001 myself,master - 0 0 1 connected 0-5460
aaaa [::1]:30005@31005 master - 0 0 5 connected
";
        assert_eq!(
            primaries(nodes),
            [("127.0.0.1".to_string(), 30002), ("127.0.0.1".to_string(), 30001), ("::1".to_string(), 30005)]
        );
    }
}

//! The connection every command and script runs on: one Redis server (redis-rs's
//! `ConnectionManager`) or a Redis Cluster (redis-rs's async `ClusterConnection`, which routes
//! each command to the primary of its keys' slot and follows the cluster through failovers).
//!
//! What a cluster needs beyond routing by key lives here too: the list of primaries (for `SCAN`
//! per node), grouping keys by hash slot (one script cannot touch keys of two slots), and the
//! clients a subscription can use (pub/sub goes through a plain connection to one reachable node,
//! since a classic `PUBLISH` reaches every node of the cluster).

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use redis::aio::{ConnectionLike, ConnectionManager, PubSub};
use redis::cluster_async::ClusterConnection;
use redis::cluster_routing::{RoutingInfo, SingleNodeRoutingInfo, Slot};
use redis::{Client, Cmd, Pipeline, RedisFuture, RedisResult, Value};

/// One server or a cluster, behind redis-rs's `ConnectionLike`: the provider's call sites send
/// commands and scripts to it the same way either way.
#[derive(Clone)]
pub(super) enum Connection {
    Single(ConnectionManager),
    Cluster(ClusterConnection),
}

impl ConnectionLike for Connection {
    fn req_packed_command<'a>(&'a mut self, cmd: &'a Cmd) -> RedisFuture<'a, Value> {
        match self {
            Connection::Single(connection) => connection.req_packed_command(cmd),
            Connection::Cluster(connection) => connection.req_packed_command(cmd),
        }
    }

    fn req_packed_commands<'a>(
        &'a mut self,
        pipeline: &'a Pipeline,
        offset: usize,
        count: usize,
    ) -> RedisFuture<'a, Vec<Value>> {
        match self {
            Connection::Single(connection) => connection.req_packed_commands(pipeline, offset, count),
            Connection::Cluster(connection) => connection.req_packed_commands(pipeline, offset, count),
        }
    }

    fn get_db(&self) -> i64 {
        match self {
            Connection::Single(connection) => connection.get_db(),
            Connection::Cluster(connection) => connection.get_db(),
        }
    }
}

/// A primary of a cluster, where `SCAN` runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Node {
    pub(super) host: String,
    pub(super) port: u16,
}

impl Connection {
    /// Where `SCAN` must run to see every key: this server, or each primary of the cluster that
    /// serves slots (asked with `CLUSTER NODES`).
    pub(super) async fn scan_targets(&mut self) -> RedisResult<Vec<Option<Node>>> {
        match self {
            Connection::Single(_) => Ok(vec![None]),
            Connection::Cluster(connection) => {
                let nodes: String = redis::cmd("CLUSTER").arg("NODES").query_async(connection).await?;
                Ok(primaries(&nodes).into_iter().map(Some).collect())
            }
        }
    }

    /// Runs `cmd` on `node` (a primary from [`scan_targets`](Self::scan_targets)), or as any
    /// other command for `None`.
    pub(super) async fn query_on<T: redis::FromRedisValue>(&mut self, node: Option<&Node>, cmd: Cmd) -> RedisResult<T> {
        match (self, node) {
            (Connection::Cluster(connection), Some(node)) => {
                let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::ByAddress {
                    host: node.host.clone(),
                    port: node.port,
                });
                let value = connection.route_command(cmd, routing).await?;
                redis::from_redis_value(value).map_err(Into::into)
            }
            (connection, _) => cmd.query_async(connection).await,
        }
    }
}

/// The primaries that serve slots, from the text of `CLUSTER NODES`
/// (`<id> <ip:port@cport[,hostname]> <flags> <master> <ping> <pong> <epoch> <link> <slot>...`);
/// a primary flagged `fail` is left out (its replica takes its slots).
fn primaries(nodes: &str) -> Vec<Node> {
    nodes
        .lines()
        .filter_map(|line| {
            let fields: Vec<&str> = line.split_whitespace().collect();
            let flags = fields.get(2)?;
            let primary = flags.split(',').any(|flag| flag == "master");
            let failed = flags.split(',').any(|flag| flag == "fail" || flag == "noaddr");
            if !primary || failed || fields.len() < 9 {
                return None;
            }
            let address = fields[1].split(['@', ',']).next()?;
            let (host, port) = address.rsplit_once(':')?;
            Some(Node { host: host.trim_matches(['[', ']']).to_owned(), port: port.parse().ok()? })
        })
        .collect()
}

impl Connection {
    /// Whether Redis answers a `PING`: this server, or any node of the cluster (a few tried at
    /// random: one node lost in a failover does not make the cluster silent).
    pub(super) async fn answers(&mut self) -> bool {
        match self {
            Connection::Single(connection) => redis::cmd("PING").query_async::<String>(connection).await.is_ok(),
            Connection::Cluster(connection) => {
                for _ in 0..3 {
                    let routing = RoutingInfo::SingleNode(SingleNodeRoutingInfo::Random);
                    if connection.route_command(redis::cmd("PING"), routing).await.is_ok() {
                        return true;
                    }
                }
                false
            }
        }
    }
}

/// `keys` grouped by hash slot, each group in the order found: one script per group.
pub(super) fn by_slot(keys: &[Vec<u8>]) -> Vec<Vec<Vec<u8>>> {
    let mut groups: HashMap<Slot, Vec<Vec<u8>>> = HashMap::new();
    for key in keys {
        groups.entry(Slot::for_key(key)).or_default().push(key.clone());
    }
    groups.into_values().collect()
}

/// The clients a subscription may use: one for a server, one per node given for a cluster. A
/// subscription that loses its node moves on to the next one that answers.
pub(super) struct Subscriber {
    clients: Vec<Client>,
    /// The client to try first: the last one that worked.
    current: AtomicUsize,
}

impl Subscriber {
    pub(super) fn new(clients: Vec<Client>) -> Subscriber {
        Subscriber { clients, current: AtomicUsize::new(0) }
    }

    /// A pub/sub connection to the first node that answers, starting from the last one that
    /// did; the error of the last attempt when none does.
    pub(super) async fn pubsub(&self) -> RedisResult<PubSub> {
        let first = self.current.load(Ordering::Relaxed);
        let mut last = None;
        for offset in 0..self.clients.len() {
            let index = (first + offset) % self.clients.len();
            match self.clients[index].get_async_pubsub().await {
                Ok(pubsub) => {
                    self.current.store(index, Ordering::Relaxed);
                    return Ok(pubsub);
                }
                Err(error) => last = Some(error),
            }
        }
        Err(last
            .unwrap_or_else(|| redis::RedisError::from((redis::ErrorKind::Client, "no Redis node to subscribe on"))))
    }

    /// The connection broke: start with the next node next time.
    pub(super) fn lost(&self) {
        if self.clients.len() > 1 {
            let next = (self.current.load(Ordering::Relaxed) + 1) % self.clients.len();
            self.current.store(next, Ordering::Relaxed);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn primaries_are_read_from_cluster_nodes() {
        let nodes = "\
a1 127.0.0.1:7000@17000 myself,master - 0 0 1 connected 0-5460
b2 127.0.0.1:7001@17001 master - 0 0 2 connected 5461-10922
c3 127.0.0.1:7002@17002,host-c master,fail - 0 0 3 connected
d4 127.0.0.1:7003@17003 slave a1 0 0 1 connected
e5 127.0.0.1:7004@17004,host-e master - 0 0 4 connected 10923-16383
f6 127.0.0.1:7005@17005 master - 0 0 5 connected
";
        let found: Vec<u16> = primaries(nodes).into_iter().map(|node| node.port).collect();
        assert_eq!(found, [7000, 7001, 7004]);
        assert_eq!(primaries(nodes)[0].host, "127.0.0.1");
    }

    #[test]
    fn keys_of_one_hash_tag_share_a_group() {
        let keys: Vec<Vec<u8>> =
            ["p:{a}", "p:\0lease:{a}", "p:{b}", "p:{a}"].iter().map(|key| key.as_bytes().to_vec()).collect();
        let mut groups: Vec<usize> = by_slot(&keys).iter().map(Vec::len).collect();
        groups.sort_unstable();
        assert_eq!(groups, [1, 3]);
    }
}

//! The builder of a [`RedisProvider`]: URL, prefix, timeouts, codec, breaker, TLS, leases.

use std::fmt;
use std::sync::Arc;
use std::time::Duration;

use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::cluster::ClusterClientBuilder;
use redis::{Client, RedisError};

use super::breaker::{Breaker, BreakerConfig};
use super::connection::{Connection, Subscriber};
use super::near::Near;
use super::notify::Notifier;
use super::{url, Inner, RedisProvider};
use crate::codec::{self, Codec};
use crate::error::CacheError;
use crate::memory::MemoryProvider;
use crate::stats::StatsCounters;

/// Builds a [`RedisProvider`]: [`RedisProvider::builder`] gives one.
///
/// ```no_run
/// use std::time::Duration;
///
/// # #[tokio::main] async fn main() -> Result<(), cache_runtime::CacheError> {
/// let redis = cache_runtime::RedisProvider::builder("redis://127.0.0.1:6379/0")
///     .prefix("myapp:")
///     .op_timeout(Duration::from_millis(100))
///     .connect_timeout(Duration::from_secs(1))
///     .circuit_breaker(5, Duration::from_millis(500), Duration::from_secs(10))
///     .connect()
///     .await?;
/// # drop(redis); Ok(()) }
/// ```
#[derive(Clone)]
#[must_use]
pub struct RedisProviderBuilder {
    /// The URL; on a cluster, the nodes' URLs joined by commas.
    url: String,
    /// Whether `url` lists the nodes of a Redis Cluster.
    cluster: bool,
    prefix: String,
    op_timeout: Duration,
    connect_timeout: Duration,
    codec: Arc<dyn Codec>,
    breaker: BreakerConfig,
    #[cfg(feature = "redis-tls")]
    tls_root_certificate: Option<Vec<u8>>,
    lease: Duration,
    max_wait: Duration,
    fleet_waits: bool,
    near: Option<MemoryProvider>,
}

impl RedisProviderBuilder {
    pub(super) fn new(url: String) -> Self {
        RedisProviderBuilder {
            url,
            cluster: false,
            prefix: String::new(),
            op_timeout: RedisProvider::DEFAULT_OP_TIMEOUT,
            connect_timeout: RedisProvider::DEFAULT_CONNECT_TIMEOUT,
            codec: codec::default_codec(),
            breaker: BreakerConfig::default(),
            #[cfg(feature = "redis-tls")]
            tls_root_certificate: None,
            lease: RedisProvider::DEFAULT_LEASE,
            max_wait: RedisProvider::DEFAULT_MAX_WAIT,
            fleet_waits: true,
            near: None,
        }
    }

    pub(super) fn new_cluster(nodes: Vec<String>) -> Self {
        RedisProviderBuilder { cluster: true, ..Self::new(nodes.join(",")) }
    }

    /// The URLs of the nodes (one for a single server).
    fn nodes(&self) -> Vec<&str> {
        match self.cluster {
            true => self.url.split(',').map(str::trim).filter(|node| !node.is_empty()).collect(),
            false => vec![self.url.as_str()],
        }
    }

    /// `text` without the secrets of any node's URL.
    fn scrub(&self, text: &str) -> String {
        self.nodes().into_iter().fold(text.to_owned(), |text, node| url::scrub(&text, node))
    }

    /// Put in front of every key: with `"myapp:"`, the key `user:1` is stored as `myapp:user:1`.
    /// [`clear`](crate::CacheProvider::clear) removes only the keys under it, and
    /// [`clear_pattern`](crate::CacheProvider::clear_pattern) matches below it. Empty unless set:
    /// then `clear` removes every string key of the database, so give each application on a
    /// server its own prefix (or its own database, `redis://host/3`). On a Redis Cluster the key
    /// goes in a hash tag after the prefix (`myapp:{user:1}`), and a prefix with `{` or `}` is a
    /// [`CacheError::Config`] from [`connect`](Self::connect).
    ///
    /// ```
    /// let builder = cache_runtime::RedisProvider::builder("redis://127.0.0.1:6379/0").prefix("myapp:");
    /// # drop(builder);
    /// ```
    pub fn prefix(mut self, prefix: impl Into<String>) -> Self {
        self.prefix = prefix.into();
        self
    }

    /// How long one operation may take before it gives up with [`CacheError::Timeout`]
    /// ([`RedisProvider::DEFAULT_OP_TIMEOUT`] unless set). A cached call whose read times out runs its body.
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = cache_runtime::RedisProvider::builder("redis://127.0.0.1:6379/0").op_timeout(Duration::from_millis(50));
    /// # drop(builder);
    /// ```
    pub fn op_timeout(mut self, timeout: Duration) -> Self {
        self.op_timeout = timeout;
        self
    }

    /// How long one attempt to connect may take ([`RedisProvider::DEFAULT_CONNECT_TIMEOUT`] unless set), in
    /// [`connect`](Self::connect) and in each reconnection.
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = cache_runtime::RedisProvider::builder("redis://127.0.0.1:6379/0").connect_timeout(Duration::from_secs(5));
    /// # drop(builder);
    /// ```
    pub fn connect_timeout(mut self, timeout: Duration) -> Self {
        self.connect_timeout = timeout;
        self
    }

    /// The codec values are stored with ([`Postcard`](crate::codec::Postcard) unless set). Every
    /// instance that shares the entries must use the same one: a value of another codec reads as
    /// a miss.
    ///
    /// ```
    /// let builder = cache_runtime::RedisProvider::builder("redis://127.0.0.1:6379/0").codec(cache_runtime::codec::Postcard);
    /// # drop(builder);
    /// ```
    pub fn codec(mut self, codec: impl Codec) -> Self {
        self.codec = Arc::new(codec);
        self
    }

    /// The circuit breaker: it opens after `threshold` consecutive failures (at least 1), skips
    /// Redis for `min_backoff`, then lets one call probe it; each failed probe doubles the wait,
    /// up to `max_backoff`. Unless set: 3 failures, 1 s, 5 s (so Redis back after an outage of
    /// any length is used again within 5 s).
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = cache_runtime::RedisProvider::builder("redis://127.0.0.1:6379/0")
    ///     .circuit_breaker(5, Duration::from_millis(500), Duration::from_secs(10));
    /// # drop(builder);
    /// ```
    pub fn circuit_breaker(mut self, threshold: u32, min_backoff: Duration, max_backoff: Duration) -> Self {
        self.breaker =
            BreakerConfig { threshold: threshold.max(1), min_backoff, max_backoff: max_backoff.max(min_backoff) };
        self
    }

    /// A root certificate (PEM) to check a `rediss://` server against, in place of the webpki
    /// roots: for servers whose certificate a private authority signed (feature `redis-tls`).
    ///
    /// ```no_run
    /// let pem = std::fs::read("/etc/redis/ca.pem")?;
    /// let builder = cache_runtime::RedisProvider::builder("rediss://cache.internal:6380/0").tls_root_certificate(pem);
    /// # drop(builder);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    #[cfg(feature = "redis-tls")]
    #[cfg_attr(docsrs, doc(cfg(feature = "redis-tls")))]
    pub fn tls_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root_certificate = Some(pem.into());
        self
    }

    /// How long the lease of a cold key lasts ([`RedisProvider::DEFAULT_LEASE`] unless set).
    ///
    /// The instance that computes a cold key holds a lease on it in Redis; callers on the other
    /// instances wait for its value instead of computing too. The holder renews the lease every
    /// third of this while its body runs and gives it up when the body ends. If its process
    /// dies, the lease runs out after at most this long and one waiter takes over: shorter means
    /// a faster take-over, longer means fewer renewals.
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = cache_runtime::RedisProvider::builder("redis://127.0.0.1:6379/0").lease(Duration::from_secs(10));
    /// # drop(builder);
    /// ```
    pub fn lease(mut self, lease: Duration) -> Self {
        self.lease = lease.max(Duration::from_millis(30));
        self
    }

    /// How long a call waits for another caller's computation of its key, on this instance or
    /// another, before it computes itself ([`RedisProvider::DEFAULT_MAX_WAIT`] unless set). A
    /// wait that runs out is logged and counted as an error of kind `wait_timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let builder = cache_runtime::RedisProvider::builder("redis://127.0.0.1:6379/0").max_wait(Duration::from_secs(60));
    /// # drop(builder);
    /// ```
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// Whether callers wait for a computation running on another instance (`true` unless set).
    /// With `false`, concurrent cold calls on different instances each run the body; the one
    /// holding the lease stores its value. Single-flight within one process holds either way,
    /// and so does the rule that an invalidation wins.
    ///
    /// ```
    /// let builder = cache_runtime::RedisProvider::builder("redis://127.0.0.1:6379/0").fleet_single_flight(false);
    /// # drop(builder);
    /// ```
    pub fn fleet_single_flight(mut self, on: bool) -> Self {
        self.fleet_waits = on;
        self
    }

    /// A near cache: `memory` in front of Redis, so that hot entries are served from this
    /// instance's memory, without a round trip. Reads look in memory first, then in Redis
    /// (putting what they find in memory for the time Redis has left on it); writes go to both.
    ///
    /// Every write and removal through any provider with a near cache on the same prefix is
    /// published on the channel `<prefix>__cache:near`, and each instance removes those entries
    /// from its own near cache. When that channel's connection is lost while Redis answers, the
    /// near cache is emptied and bypassed until it is subscribed again. While Redis does not
    /// answer, it serves what it holds and keeps what calls compute, and the removals made
    /// meanwhile are replayed to Redis when it is back. See the README, "Near cache", for what a
    /// user sees and the memory it takes.
    ///
    /// ```no_run
    /// use cache_runtime::{MemoryProvider, RedisProvider};
    ///
    /// # #[tokio::main] async fn main() -> Result<(), cache_runtime::CacheError> {
    /// let redis = RedisProvider::builder("redis://127.0.0.1:6379/0")
    ///     .prefix("app:")
    ///     .near_cache(MemoryProvider::builder().max_capacity(10_000).build())
    ///     .connect()
    ///     .await?;
    /// println!("near hits {}", redis.stats().near_hits);
    /// # Ok(()) }
    /// ```
    pub fn near_cache(mut self, memory: MemoryProvider) -> Self {
        self.near = Some(memory);
        self
    }

    /// The URL with its password masked (on a cluster, each node's).
    pub(super) fn masked_url(&self) -> String {
        self.nodes().into_iter().map(url::mask_password).collect::<Vec<_>>().join(",")
    }

    /// A redis-rs client per node (one for a single server); a URL it cannot read is a
    /// [`CacheError::Config`], and so is a `rediss://` URL in a build without the `redis-tls`
    /// feature, a cluster without nodes, and a cluster prefix with a brace.
    pub(super) fn clients(&self) -> Result<Vec<Client>, CacheError> {
        let nodes = self.nodes();
        if nodes.is_empty() {
            return Err(CacheError::Config {
                message: "a Redis Cluster needs at least one node URL (`redis://host:port`)".to_owned(),
            });
        }
        if self.cluster && self.prefix.contains(['{', '}']) {
            return Err(CacheError::Config {
                message: format!(
                    "the prefix {:?} holds a brace: on a Redis Cluster each key is stored in a hash tag after the prefix (`<prefix>{{<key>}}`), and a brace in the prefix would put every key in one slot; choose a prefix without `{{` or `}}`",
                    self.prefix
                ),
            });
        }
        nodes.into_iter().map(|node| self.client_of(node)).collect()
    }

    fn client_of(&self, node: &str) -> Result<Client, CacheError> {
        #[cfg(not(feature = "redis-tls"))]
        if url::is_tls(node) {
            return Err(CacheError::Config {
                message: format!(
                    "the Redis URL `{}` asks for TLS but this build has no TLS support: enable the `redis-tls` feature of cache-runtime",
                    url::mask_password(node)
                ),
            });
        }
        let config_error = |error: RedisError| CacheError::Config {
            message: format!(
                "the Redis URL `{}` is invalid: {}",
                url::mask_password(node),
                url::scrub(&error.to_string(), node)
            ),
        };
        #[cfg(not(feature = "redis-tls"))]
        let client = Client::open(node).map_err(config_error)?;
        #[cfg(feature = "redis-tls")]
        let client = match &self.tls_root_certificate {
            None => Client::open(node).map_err(config_error)?,
            Some(pem) => {
                let certificates = redis::TlsCertificates { client_tls: None, root_cert: Some(pem.clone()) };
                Client::build_with_tls(node, certificates).map_err(config_error)?
            }
        };
        #[cfg(feature = "redis-tls")]
        if matches!(client.get_connection_info().addr(), redis::ConnectionAddr::TcpTls { .. }) {
            install_crypto_provider();
        }
        Ok(client)
    }

    /// Connects, and fails if Redis does not answer within the connect timeout: a
    /// [`CacheError::Config`] for a URL that cannot be read, [`CacheError::Connection`] or
    /// [`CacheError::Timeout`] otherwise. Afterwards the provider reconnects by itself.
    ///
    /// [`init_from_env`](crate::init_from_env) is the variant that starts on memory and switches
    /// to Redis when it answers.
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> Result<(), cache_runtime::CacheError> {
    /// let redis = cache_runtime::RedisProvider::builder("redis://127.0.0.1:6379/0").connect().await?;
    /// cache_runtime::set_default(redis);
    /// # Ok(()) }
    /// ```
    pub async fn connect(self) -> Result<RedisProvider, CacheError> {
        let clients = self.clients()?;
        let url: Arc<str> = Arc::from(self.masked_url());
        let connecting = async {
            match self.cluster {
                false => {
                    let config = ConnectionManagerConfig::new()
                        .set_connection_timeout(Some(self.connect_timeout))
                        // The operation timeout and the breaker pace the attempts: a reconnection
                        // only retries twice, quickly, so that a probe finds out soon.
                        .set_number_of_retries(2)
                        .set_min_delay(Duration::from_millis(50))
                        .set_max_delay(Duration::from_millis(500))
                        .set_response_timeout(None);
                    ConnectionManager::new_with_config(clients[0].clone(), config).await.map(Connection::Single)
                }
                true => {
                    let nodes = clients.iter().map(|client| client.get_connection_info().clone());
                    // A node lost in a failover answers with errors the client retries after a
                    // short wait (the slots move to a replica within a second or two); the
                    // operation timeout bounds the whole.
                    #[cfg_attr(not(feature = "redis-tls"), allow(unused_mut))]
                    let mut builder = ClusterClientBuilder::new(nodes)
                        .connection_timeout(self.connect_timeout)
                        .retries(8)
                        .min_retry_wait(20)
                        .max_retry_wait(250);
                    #[cfg(feature = "redis-tls")]
                    if let Some(pem) = &self.tls_root_certificate {
                        builder =
                            builder.certs(redis::TlsCertificates { client_tls: None, root_cert: Some(pem.clone()) });
                    }
                    builder.build()?.get_async_connection().await.map(Connection::Cluster)
                }
            }
        };
        let connection = match tokio::time::timeout(self.connect_timeout, connecting).await {
            Ok(Ok(connection)) => connection,
            Ok(Err(error)) => {
                let said = self.scrub(&error.to_string());
                if refused_credentials(&error) {
                    return Err(CacheError::Config {
                        message: format!(
                            "redis at {url} refused the credentials ({said}): check the user and password in the URL"
                        ),
                    });
                }
                return Err(CacheError::Connection { message: format!("redis at {url}: {said}") });
            }
            Err(_) => return Err(CacheError::Timeout { operation: "connect", after: self.connect_timeout }),
        };
        self.check_permissions(connection.clone(), &url).await?;
        let prefix_glob = crate::key::escape_glob(&self.prefix);
        let channel = format!("{}{}", self.prefix, super::CHANNEL);
        let subscriber = Arc::new(Subscriber::new(clients));
        // On a cluster the tag clock and every mark share one slot (the hash tag `{tags}`), so
        // that an invalidation stays one script.
        let tags = if self.cluster { "{tags}" } else { "tags" };
        let provider = RedisProvider {
            inner: Arc::new(Inner {
                connection,
                cluster: self.cluster,
                breaker: Breaker::new(self.breaker, Arc::clone(&url), self.op_timeout),
                notifier: Notifier::new(Arc::clone(&subscriber), channel.clone(), self.connect_timeout),
                near: self.near.map(Near::new),
                near_channel: format!("{}{}", self.prefix, super::near::CHANNEL),
                channel,
                url,
                lease_prefix: format!("{}{}", self.prefix, super::LEASE_INFIX),
                tag_marks: format!("{}{}{tags}tag:", self.prefix, super::RESERVED),
                tag_clock: format!("{}{}{tags}", self.prefix, super::RESERVED),
                prefix: self.prefix,
                prefix_glob,
                op_timeout: self.op_timeout,
                codec: self.codec,
                counters: StatsCounters::default(),
                lease: self.lease,
                max_wait: self.max_wait,
                fleet_waits: self.fleet_waits,
            }),
        };
        if provider.near().is_some() {
            let subscribed = provider.watch_near(subscriber, self.connect_timeout);
            // Until it is subscribed, the near cache is bypassed: a channel that does not come up
            // in time leaves a provider that works, without its near cache until it does.
            if tokio::time::timeout(self.connect_timeout, subscribed).await.is_err() {
                tracing::warn!(target: crate::observe::TARGET, url = %provider.url(), "near cache: the invalidation channel is not subscribed yet: bypassed until it is");
            }
        }
        Ok(provider)
    }
}

impl RedisProviderBuilder {
    /// Runs what the provider needs once, on keys of its own that hold nothing: the scripts (and
    /// the commands they run: `TYPE`, `UNLINK`, `PUBLISH`), `GET` and `SCAN`. A user whose ACL
    /// denies one of them gets a [`CacheError::Config`] that names the rule to grant, instead of
    /// a cache that silently stores nothing and invalidates nothing.
    async fn check_permissions(&self, mut connection: Connection, url: &str) -> Result<(), CacheError> {
        // On a cluster the two keys of a script share a slot: the hash tag `{probe}`.
        let probe_key = if self.cluster { "{probe}" } else { "probe" };
        let probe = format!("{}{}{probe_key}", self.prefix, super::RESERVED);
        let lease = format!("{}{}{probe_key}", self.prefix, super::LEASE_INFIX);
        let checks = async {
            super::scripts::load_all(&mut connection).await?;
            let _: i64 = super::scripts::DELETE
                .key(&probe)
                .key(&lease)
                .arg(format!("{}{}", self.prefix, super::CHANNEL))
                .arg("probe")
                .invoke_async(&mut connection)
                .await?;
            let _: Option<Vec<u8>> = redis::cmd("GET").arg(&probe).query_async(&mut connection).await?;
            let targets = connection.scan_targets().await?;
            let mut scan = redis::cmd("SCAN");
            scan.arg(0).arg("MATCH").arg(&probe).arg("COUNT").arg(1);
            let _: (u64, Vec<Vec<u8>>) = connection.query_on(targets.first().and_then(Option::as_ref), scan).await?;
            Ok::<(), RedisError>(())
        };
        match tokio::time::timeout(self.connect_timeout, checks).await {
            Ok(Ok(())) => Ok(()),
            Ok(Err(error)) if error.code() == Some("NOPERM") => Err(CacheError::Config {
                message: format!(
                    "redis at {url} denies a command the cache needs ({}): grant the user `+get +set +incr +unlink +type +scan +pexpire +eval +evalsha +script|load +publish +subscribe` on `~{prefix}*` and `&{prefix}{channel}`",
                    self.scrub(&error.to_string()),
                    prefix = self.prefix,
                    channel = super::CHANNEL,
                ),
            }),
            Ok(Err(error)) if refused_credentials(&error) => Err(CacheError::Config {
                message: format!("redis at {url} refused the credentials ({}): check the user and password in the URL", self.scrub(&error.to_string())),
            }),
            Ok(Err(error)) => Err(CacheError::Connection { message: format!("redis at {url}: {}", self.scrub(&error.to_string())) }),
            Err(_) => Err(CacheError::Timeout { operation: "connect", after: self.connect_timeout }),
        }
    }
}

/// Whether Redis refused the user or the password (`WRONGPASS`, `NOAUTH`).
fn refused_credentials(error: &RedisError) -> bool {
    matches!(error.kind(), redis::ErrorKind::AuthenticationFailed)
        || matches!(error.code(), Some("WRONGPASS" | "NOAUTH"))
}

/// redis-rs builds its TLS configuration with rustls' process-wide crypto provider: install ring
/// unless the application installed one.
#[cfg(feature = "redis-tls")]
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race against another installer is fine: one provider is in place either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

impl fmt::Debug for RedisProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let mut out = f.debug_struct("RedisProviderBuilder");
        out.field("url", &self.masked_url())
            .field("cluster", &self.cluster)
            .field("prefix", &self.prefix)
            .field("op_timeout", &self.op_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("codec", &self.codec.name())
            .field("breaker", &self.breaker);
        #[cfg(feature = "redis-tls")]
        out.field("tls_root_certificate", &self.tls_root_certificate.as_ref().map(|_| "<set>"));
        out.field("lease", &self.lease)
            .field("max_wait", &self.max_wait)
            .field("fleet_single_flight", &self.fleet_waits)
            .field("near_cache", &self.near.is_some())
            .finish()
    }
}

#[cfg(all(test, not(feature = "redis-tls")))]
mod tests {
    use super::*;

    /// The message a TLS URL gets in a build without `redis-tls`, if `result` is that error.
    fn tls_refusal(result: Result<impl fmt::Debug, CacheError>) -> String {
        match result {
            Err(CacheError::Config { message }) => message,
            other => panic!("expected a CacheError::Config, got {other:?}"),
        }
    }

    #[tokio::test]
    async fn a_tls_url_without_the_feature_is_a_config_error_that_names_it() {
        let url = "rediss://default:s3cret-pw@cache.internal:6380/0";
        let message = tls_refusal(RedisProvider::builder(url).connect().await);
        assert!(message.contains("enable the `redis-tls` feature"), "{message}");
        assert!(message.contains("rediss://default:***@cache.internal:6380/0"), "{message}");
        assert!(!message.contains("s3cret-pw"), "{message}");

        let message = tls_refusal(RedisProvider::builder("VALKEYS://cache.internal").clients());
        assert!(message.contains("`redis-tls`"), "{message}");
        // A plain URL still builds its client (connecting is another matter).
        RedisProvider::builder("redis://cache.internal:6379/0").clients().unwrap();
        // So does each node of a cluster; a TLS node is refused the same way.
        assert_eq!(RedisProvider::cluster_builder(["redis://h1:7000", "redis://h2:7001"]).clients().unwrap().len(), 2);
        let message =
            tls_refusal(RedisProvider::cluster_builder(["redis://h1:7000", "rediss://:pw@h2:7001"]).clients());
        assert!(message.contains("`redis-tls`") && !message.contains("pw"), "{message}");
    }

    /// `url::is_tls` reads schemes as redis-rs does: every URL it calls TLS is one redis-rs
    /// refuses for want of its TLS features, and no other.
    #[test]
    fn the_scheme_rule_agrees_with_redis_rs() {
        let tls = ["rediss://host", "REDISS://:pw@host:6380/0", " rediss://host", "valkeys://host", "red\tiss://host"];
        let plain = ["redis://host", "redis://user:rediss@host", "valkey://host", "REDIS://host:6379/1"];
        for url in tls {
            assert!(url::is_tls(url), "{url}");
            let error = Client::open(url).map(drop).unwrap_err();
            assert!(error.to_string().contains("TLS"), "{url}: {error}");
        }
        for url in plain {
            assert!(!url::is_tls(url), "{url}");
            Client::open(url).unwrap();
        }
    }
}

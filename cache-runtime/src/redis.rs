//! The Redis provider: one cache shared by every instance of a service, that outlives them.
//!
//! ```no_run
//! use std::time::Duration;
//!
//! # #[tokio::main] async fn main() -> Result<(), cache_runtime::CacheError> {
//! let redis = cache_runtime::RedisProvider::builder("redis://127.0.0.1:6379/0")
//!     .prefix("myapp:")                        // key "user:1" is stored as "myapp:user:1"
//!     .op_timeout(Duration::from_millis(100))
//!     .connect()
//!     .await?;
//! cache_runtime::set_default(redis);
//! # Ok(()) }
//! ```
//!
//! # How entries are stored
//!
//! Each entry is a Redis string: the [codec header](crate::codec) and the codec's payload,
//! written with `SET key value PX ttl`. A string that does not carry our header (or carries
//! another codec's) reads as a miss; a key of another Redis type (a list, a hash, ...) reads as a
//! miss and is never overwritten nor deleted. Both are counted as errors on
//! [`stats`](RedisProvider::stats) and logged at `WARN`.
//!
//! # When Redis fails
//!
//! Every operation has a timeout ([`op_timeout`](RedisProviderBuilder::op_timeout)), and the
//! `ConnectionManager` of redis-rs reconnects by itself. After a few consecutive failures a
//! circuit breaker skips Redis for a back-off ([`CacheError::CircuitOpen`] at once instead of a
//! timeout per call), then lets one call probe it; the opening is logged once at `WARN`, the
//! closing at `INFO`. `#[cached]` functions run their bodies meanwhile: Redis failing never fails
//! a call. Passwords never appear in logs nor in `Debug` output.

use std::fmt;
use std::future::Future;
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use ::redis::aio::{ConnectionManager, ConnectionManagerConfig};
use ::redis::{Client, ErrorKind, RedisError, RedisResult, RetryMethod, Script};

use crate::codec::{self, Codec};
use crate::key::{self, Pattern};
use crate::provider::{CacheProvider, ProviderFuture};
use crate::{CacheError, CacheStats, CachedValue, StatsCounters};

mod breaker;
mod fallback;
mod url;

pub use breaker::CircuitState;
use breaker::{Breaker, BreakerConfig};
pub(crate) use fallback::init_default_with_fallback;

/// The per-operation timeout of a provider built without one: 250 ms.
///
/// ```
/// assert_eq!(cache_runtime::redis::DEFAULT_OP_TIMEOUT.as_millis(), 250);
/// ```
pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_millis(250);

/// The connection timeout of a provider built without one: 2 s.
///
/// ```
/// assert_eq!(cache_runtime::redis::DEFAULT_CONNECT_TIMEOUT.as_secs(), 2);
/// ```
pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

/// Keys asked for per `SCAN` step, and removed per `UNLINK` batch.
const BATCH: usize = 500;

/// The longest time to live Redis is given: longer ones are stored as this (100 years).
const MAX_TTL_MS: u128 = 100 * 365 * 24 * 3600 * 1000;

/// Stores a value unless the key holds another Redis type.
///
/// `SET` alone would replace a list or a hash, and a `TYPE` check followed by a `SET` from the
/// client leaves a window in which another client can create the key. Redis runs a script
/// atomically, so the check and the write see the same key. Strings are replaced whatever they
/// hold: a string at our key is either our entry or a value that reads as a miss anyway.
static SET_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'string' or kind == 'none' then
  redis.call('SET', KEYS[1], ARGV[1], 'PX', ARGV[2])
end
return kind
",
    )
});

/// Removes a key only if it is a string: 1 removed, 0 absent, -1 another type (left alone).
static DELETE_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local kind = redis.call('TYPE', KEYS[1]).ok
if kind == 'string' then return redis.call('UNLINK', KEYS[1]) end
if kind == 'none' then return 0 end
return -1
",
    )
});

/// Removes the keys that are strings among a batch found by `SCAN`; returns how many.
static DELETE_BATCH_SCRIPT: LazyLock<Script> = LazyLock::new(|| {
    Script::new(
        r"
local removed = 0
for _, key in ipairs(KEYS) do
  if redis.call('TYPE', key).ok == 'string' then removed = removed + redis.call('UNLINK', key) end
end
return removed
",
    )
});

/// A cache in Redis, through redis-rs's `ConnectionManager` (one multiplexed connection that
/// reconnects by itself). Clones share the connection, the counters and the circuit breaker.
///
/// Build one with [`RedisProvider::builder`]; see the [module docs](crate::redis) for the storage
/// format and the failure behaviour.
///
/// ```no_run
/// use std::time::Duration;
/// use cache_runtime::{codec::Postcard, RedisProvider};
///
/// # #[tokio::main] async fn main() -> Result<(), cache_runtime::CacheError> {
/// let redis = RedisProvider::builder("rediss://default:secret@cache.internal:6380/0")
///     .prefix("billing:")
///     .op_timeout(Duration::from_millis(100))
///     .codec(Postcard)
///     .connect()
///     .await?;
/// println!("{redis:?}"); // RedisProvider { url: "rediss://default:***@cache.internal:6380/0", .. }
/// cache_runtime::register("shared", redis);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct RedisProvider {
    inner: Arc<Inner>,
}

struct Inner {
    connection: ConnectionManager,
    /// The URL without its password.
    url: Arc<str>,
    prefix: String,
    /// `prefix` escaped for `SCAN MATCH`.
    prefix_glob: String,
    op_timeout: Duration,
    codec: Arc<dyn Codec>,
    breaker: Breaker,
    counters: StatsCounters,
}

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
    url: String,
    prefix: String,
    op_timeout: Duration,
    connect_timeout: Duration,
    codec: Arc<dyn Codec>,
    breaker: BreakerConfig,
    tls_root_certificate: Option<Vec<u8>>,
}

impl RedisProvider {
    /// A builder for a provider on `url`: `redis://[user][:password@]host[:port][/db]`, or
    /// `rediss://...` for TLS (checked against the webpki roots, or the certificate given to
    /// [`tls_root_certificate`](RedisProviderBuilder::tls_root_certificate)).
    ///
    /// ```
    /// let builder = cache_runtime::RedisProvider::builder("redis://:secret@127.0.0.1:6379/1");
    /// assert!(!format!("{builder:?}").contains("secret"));
    /// ```
    pub fn builder(url: impl Into<String>) -> RedisProviderBuilder {
        RedisProviderBuilder {
            url: url.into(),
            prefix: String::new(),
            op_timeout: DEFAULT_OP_TIMEOUT,
            connect_timeout: DEFAULT_CONNECT_TIMEOUT,
            codec: codec::default_codec(),
            breaker: BreakerConfig::default(),
            tls_root_certificate: None,
        }
    }

    /// A snapshot of this provider's counters (shared by its clones).
    ///
    /// ```no_run
    /// # async fn show(redis: cache_runtime::RedisProvider) {
    /// let stats = redis.stats();
    /// println!("hits {} misses {} errors {}", stats.hits, stats.misses, stats.errors);
    /// # }
    /// ```
    pub fn stats(&self) -> CacheStats {
        self.inner.counters.snapshot()
    }

    /// `"redis"`.
    ///
    /// ```no_run
    /// # async fn show(redis: cache_runtime::RedisProvider) {
    /// assert_eq!(redis.kind(), "redis");
    /// # }
    /// ```
    pub fn kind(&self) -> &'static str {
        "redis"
    }

    /// The URL, with its password masked.
    ///
    /// ```no_run
    /// # async fn show(redis: cache_runtime::RedisProvider) {
    /// println!("caching in {}", redis.url());
    /// # }
    /// ```
    pub fn url(&self) -> &str {
        &self.inner.url
    }

    /// The prefix put in front of every key.
    ///
    /// ```no_run
    /// # async fn show(redis: cache_runtime::RedisProvider) {
    /// println!("keys start with {:?}", redis.prefix());
    /// # }
    /// ```
    pub fn prefix(&self) -> &str {
        &self.inner.prefix
    }

    /// The state of the circuit breaker, for health checks.
    ///
    /// ```no_run
    /// # async fn show(redis: cache_runtime::RedisProvider) {
    /// let healthy = redis.circuit() == cache_runtime::redis::CircuitState::Closed;
    /// # let _ = healthy;
    /// # }
    /// ```
    pub fn circuit(&self) -> CircuitState {
        self.inner.breaker.state()
    }

    fn full_key(&self, key: &str) -> String {
        let mut full = String::with_capacity(self.inner.prefix.len() + key.len());
        full.push_str(&self.inner.prefix);
        full.push_str(key);
        full
    }

    /// Runs one operation through the breaker, within the timeout.
    ///
    /// The outer error says that Redis is unavailable (breaker open, timeout, connection); those
    /// count against the breaker. The inner one is an error reply of a server that answered, for
    /// the caller to read (`WRONGTYPE`, say).
    async fn run<T, F, Fut>(&self, operation: &'static str, op: F) -> Result<RedisResult<T>, CacheError>
    where
        F: Fn(ConnectionManager) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let inner = &self.inner;
        let permit =
            inner.breaker.admit().map_err(|retry_in| CacheError::CircuitOpen { provider: "redis", retry_in })?;
        let attempt = async {
            match op(inner.connection.clone()).await {
                // The connection broke (a restart of Redis, say): the manager is reconnecting,
                // and one more try within the same timeout waits for it.
                Err(error) if is_unavailable(&error) => op(inner.connection.clone()).await,
                result => result,
            }
        };
        match tokio::time::timeout(inner.op_timeout, attempt).await {
            Err(_) => {
                permit.failure();
                Err(CacheError::Timeout { operation, after: inner.op_timeout })
            }
            Ok(Err(error)) if is_unavailable(&error) => {
                permit.failure();
                Err(CacheError::Connection { message: format!("redis at {}: {error}", inner.url) })
            }
            Ok(result) => {
                permit.success();
                Ok(result)
            }
        }
    }

    /// An error reply turned into a [`CacheError`].
    fn replied(&self, error: RedisError) -> CacheError {
        CacheError::Provider { message: format!("redis at {} replied: {error}", self.inner.url) }
    }

    /// Counts and logs an entry that is there but cannot be used; the caller treats it as a miss.
    fn unusable(&self, operation: &'static str, key: &str, error: &CacheError) {
        self.inner.counters.record_error();
        tracing::warn!(
            target: "cache_runtime",
            provider = "redis",
            "[CACHE ERROR] op={operation} key={}{} error={error}",
            key::shorten(key),
            key::ellipsis(key)
        );
    }

    fn foreign(key: &str) -> CacheError {
        CacheError::ForeignEntry { key: key.to_owned(), found: "a Redis value that is not a string".to_owned() }
    }

    async fn delete_one(&self, key: &str) -> Result<bool, CacheError> {
        let full = self.full_key(key);
        let result = self
            .run("delete", |mut connection| {
                let full = &full;
                async move { DELETE_SCRIPT.key(full).invoke_async::<i64>(&mut connection).await }
            })
            .await?;
        match result.map_err(|error| self.replied(error))? {
            -1 => {
                self.unusable("delete", key, &Self::foreign(key));
                Ok(false)
            }
            removed => Ok(removed > 0),
        }
    }

    async fn delete_matching(&self, glob: &str) -> Result<u64, CacheError> {
        let mut cursor: u64 = 0;
        let mut removed = 0;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = self
                .run("clear_pattern", |mut connection| async move {
                    ::redis::cmd("SCAN")
                        .arg(cursor)
                        .arg("MATCH")
                        .arg(glob)
                        .arg("COUNT")
                        .arg(BATCH)
                        .query_async(&mut connection)
                        .await
                })
                .await?
                .map_err(|error| self.replied(error))?;
            for batch in keys.chunks(BATCH) {
                removed += self
                    .run("clear_pattern", |mut connection| async move {
                        DELETE_BATCH_SCRIPT.key(batch).invoke_async::<u64>(&mut connection).await
                    })
                    .await?
                    .map_err(|error| self.replied(error))?;
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }
}

/// Whether an error says that Redis is unreachable or unusable for now (as opposed to a reply
/// to this one command).
fn is_unavailable(error: &RedisError) -> bool {
    error.is_io_error()
        || error.is_unrecoverable_error()
        || matches!(error.retry_method(), RetryMethod::WaitAndRetry)
        || matches!(error.kind(), ErrorKind::ClusterConnectionNotFound)
}

fn is_wrong_type(error: &RedisError) -> bool {
    error.code() == Some("WRONGTYPE")
}

impl RedisProviderBuilder {
    /// Put in front of every key: with `"myapp:"`, the key `user:1` is stored as `myapp:user:1`.
    /// [`clear`](CacheProvider::clear) removes only the keys under it, and
    /// [`clear_pattern`](CacheProvider::clear_pattern) matches below it. Empty unless set:
    /// then `clear` removes every string key of the database, so give each application on a
    /// server its own prefix (or its own database, `redis://host/3`).
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
    /// ([`DEFAULT_OP_TIMEOUT`] unless set). A cached call whose read times out runs its body.
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

    /// How long one attempt to connect may take ([`DEFAULT_CONNECT_TIMEOUT`] unless set), in
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
    /// up to `max_backoff`. Unless set: 3 failures, 1 s, 30 s.
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
    /// roots: for servers whose certificate a private authority signed.
    ///
    /// ```no_run
    /// let pem = std::fs::read("/etc/redis/ca.pem")?;
    /// let builder = cache_runtime::RedisProvider::builder("rediss://cache.internal:6380/0").tls_root_certificate(pem);
    /// # drop(builder);
    /// # Ok::<(), std::io::Error>(())
    /// ```
    pub fn tls_root_certificate(mut self, pem: impl Into<Vec<u8>>) -> Self {
        self.tls_root_certificate = Some(pem.into());
        self
    }

    /// The URL with its password masked.
    fn masked_url(&self) -> String {
        url::mask_password(&self.url)
    }

    /// The redis-rs client; a URL it cannot read is a [`CacheError::Config`].
    fn client(&self) -> Result<Client, CacheError> {
        let config_error = |error: RedisError| CacheError::Config {
            message: format!("the Redis URL `{}` is invalid: {error}", self.masked_url()),
        };
        let client = match &self.tls_root_certificate {
            None => Client::open(self.url.as_str()).map_err(config_error)?,
            Some(pem) => {
                let certificates = ::redis::TlsCertificates { client_tls: None, root_cert: Some(pem.clone()) };
                Client::build_with_tls(self.url.as_str(), certificates).map_err(config_error)?
            }
        };
        if matches!(client.get_connection_info().addr(), ::redis::ConnectionAddr::TcpTls { .. }) {
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
        let client = self.client()?;
        let url: Arc<str> = Arc::from(self.masked_url());
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(self.connect_timeout))
            // The operation timeout and the breaker pace the attempts: a reconnection only
            // retries twice, quickly, so that a probe finds out soon.
            .set_number_of_retries(2)
            .set_min_delay(Duration::from_millis(50))
            .set_max_delay(Duration::from_millis(500))
            .set_response_timeout(None);
        let connection = match tokio::time::timeout(
            self.connect_timeout,
            ConnectionManager::new_with_config(client, config),
        )
        .await
        {
            Ok(Ok(connection)) => connection,
            Ok(Err(error)) => {
                return Err(CacheError::Connection { message: format!("redis at {url}: {error}") });
            }
            Err(_) => return Err(CacheError::Timeout { operation: "connect", after: self.connect_timeout }),
        };
        let prefix_glob = url::escape_glob(&self.prefix);
        Ok(RedisProvider {
            inner: Arc::new(Inner {
                connection,
                breaker: Breaker::new(self.breaker, Arc::clone(&url), self.op_timeout),
                url,
                prefix: self.prefix,
                prefix_glob,
                op_timeout: self.op_timeout,
                codec: self.codec,
                counters: StatsCounters::default(),
            }),
        })
    }
}

/// redis-rs builds its TLS configuration with rustls' process-wide crypto provider: install ring
/// unless the application installed one.
fn install_crypto_provider() {
    if rustls::crypto::CryptoProvider::get_default().is_none() {
        // Losing a race against another installer is fine: one provider is in place either way.
        let _ = rustls::crypto::ring::default_provider().install_default();
    }
}

impl fmt::Debug for RedisProviderBuilder {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("RedisProviderBuilder")
            .field("url", &self.masked_url())
            .field("prefix", &self.prefix)
            .field("op_timeout", &self.op_timeout)
            .field("connect_timeout", &self.connect_timeout)
            .field("codec", &self.codec.name())
            .field("breaker", &self.breaker)
            .field("tls_root_certificate", &self.tls_root_certificate.as_ref().map(|_| "<set>"))
            .finish()
    }
}

impl fmt::Debug for RedisProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let inner = &self.inner;
        f.debug_struct("RedisProvider")
            .field("url", &&*inner.url)
            .field("prefix", &inner.prefix)
            .field("op_timeout", &inner.op_timeout)
            .field("codec", &inner.codec.name())
            .field("circuit", &inner.breaker.state())
            .finish()
    }
}

impl CacheProvider for RedisProvider {
    fn kind(&self) -> &'static str {
        "redis"
    }

    fn get<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, Option<CachedValue>> {
        Box::pin(async move {
            let full = self.full_key(key);
            let result = self
                .run("get", |mut connection| {
                    let full = &full;
                    async move { ::redis::cmd("GET").arg(full).query_async::<Option<Vec<u8>>>(&mut connection).await }
                })
                .await?;
            // An entry that is not ours or does not decode is an error the runtime counts and
            // logs against the calling function, and reads as a miss.
            match result {
                Ok(Some(bytes)) => CachedValue::from_vec(bytes, Arc::clone(&self.inner.codec)).map(Some),
                Ok(None) => Ok(None),
                Err(error) if is_wrong_type(&error) => Err(Self::foreign(key)),
                Err(error) => Err(self.replied(error)),
            }
        })
    }

    fn set<'a>(&'a self, key: &'a str, value: CachedValue, ttl: Duration) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            let bytes = value.to_bytes(self.inner.codec.as_ref())?;
            let full = self.full_key(key);
            let millis = ttl.as_millis().clamp(1, MAX_TTL_MS) as u64;
            let kind = self
                .run("set", |mut connection| {
                    let (full, bytes) = (&full, &bytes);
                    async move { SET_SCRIPT.key(full).arg(bytes).arg(millis).invoke_async::<String>(&mut connection).await }
                })
                .await?
                .map_err(|error| self.replied(error))?;
            match kind.as_str() {
                "string" | "none" => Ok(()),
                other => Err(CacheError::ForeignEntry { key: key.to_owned(), found: format!("a Redis {other}") }),
            }
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, bool> {
        Box::pin(self.delete_one(key))
    }

    fn exists<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, bool> {
        Box::pin(async move {
            let full = self.full_key(key);
            let kind = self
                .run("exists", |mut connection| {
                    let full = &full;
                    async move { ::redis::cmd("TYPE").arg(full).query_async::<String>(&mut connection).await }
                })
                .await?
                .map_err(|error| self.replied(error))?;
            match kind.as_str() {
                "string" => Ok(true),
                "none" => Ok(false),
                _ => {
                    self.unusable("exists", key, &Self::foreign(key));
                    Ok(false)
                }
            }
        })
    }

    fn clear(&self) -> ProviderFuture<'_, u64> {
        Box::pin(async move { self.delete_matching(&format!("{}*", self.inner.prefix_glob)).await })
    }

    fn clear_pattern<'a>(&'a self, pattern: &'a Pattern) -> ProviderFuture<'a, u64> {
        Box::pin(async move {
            if let Some(key) = pattern.as_literal() {
                return Ok(u64::from(self.delete_one(&key).await?));
            }
            self.delete_matching(&format!("{}{}", self.inner.prefix_glob, pattern.as_str())).await
        })
    }

    fn counters(&self) -> &StatsCounters {
        &self.inner.counters
    }
}

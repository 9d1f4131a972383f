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
//! # TLS
//!
//! `rediss://` URLs need the feature `redis-tls` (rustls on ring, the webpki roots, or a private
//! authority given to `tls_root_certificate`); the feature `redis` alone pulls no TLS crates, and
//! a `rediss://` URL is then a [`CacheError::Config`] that says to enable `redis-tls`.
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
//!
//! # Fleets
//!
//! A cold key is computed once per fleet: the instance that leads takes a lease on the key in
//! Redis, and callers on other instances wait for its value (see
//! [`lease`](RedisProviderBuilder::lease), [`max_wait`](RedisProviderBuilder::max_wait)). An
//! invalidation through any instance (`<fn>_invalidate`, `delete`, `clear_pattern`, `clear`)
//! voids the leases it covers, so a computation that started before it stores nothing after it.
//!
//! Leases live beside the entries, as `<prefix>\0lease:<key>` (after the prefix, a NUL byte: no
//! key that a template builds from user input can reach it, since escaped values never hold one),
//! and every end of a lease is published on the channel `<prefix>__cache:flights`. Keys that
//! start with a NUL byte are the runtime's.
//!
//! # Redis Cluster
//!
//! [`RedisProvider::cluster_builder`] runs on redis-rs's async cluster client, with the same
//! options and behaviour. Keys are laid out so that every script touches one slot and different
//! keys spread over every primary: the key goes in a hash tag after the prefix, the entry of
//! `user:1` is `<prefix>{user:1}` and its lease `<prefix>\0lease:{user:1}` (a prefix with a brace
//! is refused). The tag clock and marks share the slot `{tags}` (`<prefix>\0cache:{tags}`,
//! `<prefix>\0cache:{tags}tag:<tag>`): the scripts cannot read them beside an entry, so the tags
//! of a value are checked by the provider, and a **tagged hit costs a second round trip** (an
//! untagged one does not). `clear` and `clear_pattern` run `SCAN` on every primary and delete
//! one hash slot per script. Pub/sub goes through one node at a time (a classic `PUBLISH`
//! reaches every node), the next one given when it is lost. The layout on one server is
//! unchanged. See the README, "Redis Cluster".

use std::fmt;
use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use ::redis::{ErrorKind, RedisError, RedisResult, RetryMethod};

use crate::codec::Codec;
use crate::error::CacheError;
use crate::key::Pattern;
use crate::observe;
use crate::provider::{CacheProvider, ProviderFuture};
use crate::stats::{CacheStats, StatsCounters};
use crate::value::CachedValue;

mod breaker;
mod builder;
mod connection;
mod fallback;
mod lease;
mod near;
mod notify;
mod scripts;
mod url;

use breaker::Breaker;
pub use breaker::CircuitState;
pub use builder::RedisProviderBuilder;
use connection::{Connection, Node};
pub(crate) use fallback::init_default_with_fallback;
pub(crate) use lease::{Acquired, Lease};
pub(crate) use near::Ticket as NearTicket;
use near::{Near, Removal};
use notify::Notifier;

/// Keys asked for per `SCAN` step, and removed per `UNLINK` batch.
const BATCH: usize = 500;

/// The longest time to live Redis is given: longer ones are stored as this (100 years).
const MAX_TTL_MS: u128 = 100 * 365 * 24 * 3600 * 1000;

/// What the key of a lease puts between the prefix and the key.
const LEASE_INFIX: &str = "\0lease:";

/// What the runtime's own keys and channels put after the prefix.
const RESERVED: &str = "\0cache:";

/// The channel, after the prefix, on which every end of a lease is published.
const CHANNEL: &str = "__cache:flights";

/// Where `key` is stored after `prefix`: as it is on one server; in a hash tag, `{<key>}`, on a
/// cluster, so that the entry and the lease of a key share a slot and different keys spread over
/// every primary.
fn keyed(prefix: &str, key: &str, cluster: bool) -> String {
    let mut full = String::with_capacity(prefix.len() + key.len() + 2);
    full.push_str(prefix);
    if cluster {
        full.push('{');
        full.push_str(key);
        full.push('}');
    } else {
        full.push_str(key);
    }
    full
}

fn ttl_millis(ttl: Duration) -> u64 {
    ttl.as_millis().clamp(1, MAX_TTL_MS) as u64
}

/// A cache in Redis, through redis-rs's `ConnectionManager` (one multiplexed connection that
/// reconnects by itself), or its async cluster client on a Redis Cluster. Clones share the
/// connection, the counters and the circuit breaker.
///
/// Build one with [`RedisProvider::builder`]; see the [module docs](crate::redis) for the storage
/// format and the failure behaviour.
///
/// ```no_run
/// use std::time::Duration;
/// use cache_runtime::{codec::Postcard, RedisProvider};
///
/// # #[tokio::main] async fn main() -> Result<(), cache_runtime::CacheError> {
/// // rediss:// (TLS) needs the feature `redis-tls`.
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
    connection: Connection,
    /// Whether `connection` is a Redis Cluster: keys get a hash tag, tags are checked here.
    cluster: bool,
    /// The URL without its password.
    url: Arc<str>,
    prefix: String,
    /// `prefix` escaped for `SCAN MATCH`.
    prefix_glob: String,
    /// `prefix` and [`LEASE_INFIX`].
    lease_prefix: String,
    /// The channel on which the ends of leases are published.
    channel: String,
    op_timeout: Duration,
    codec: Arc<dyn Codec>,
    breaker: Breaker,
    counters: StatsCounters,
    notifier: Arc<Notifier>,
    lease: Duration,
    max_wait: Duration,
    fleet_waits: bool,
    /// The near cache, if the builder was given one.
    near: Option<Near>,
    /// The channel on which removals are published for the near caches.
    near_channel: String,
    /// `prefix`, [`RESERVED`] and `tag:`: before each tag, the key of its mark.
    tag_marks: String,
    /// `prefix`, [`RESERVED`] and `tags`: the tag clock.
    tag_clock: String,
}

impl RedisProvider {
    /// The per-operation timeout of a provider built without one: 250 ms.
    ///
    /// ```
    /// assert_eq!(cache_runtime::RedisProvider::DEFAULT_OP_TIMEOUT.as_millis(), 250);
    /// ```
    pub const DEFAULT_OP_TIMEOUT: Duration = Duration::from_millis(250);

    /// The connection timeout of a provider built without one: 2 s.
    ///
    /// ```
    /// assert_eq!(cache_runtime::RedisProvider::DEFAULT_CONNECT_TIMEOUT.as_secs(), 2);
    /// ```
    pub const DEFAULT_CONNECT_TIMEOUT: Duration = Duration::from_secs(2);

    /// The lease on a cold key of a provider built without one: 5 s, renewed every 1.7 s while
    /// the body runs. A leader whose process dies is taken over within this.
    ///
    /// ```
    /// assert_eq!(cache_runtime::RedisProvider::DEFAULT_LEASE.as_secs(), 5);
    /// ```
    pub const DEFAULT_LEASE: Duration = Duration::from_secs(5);

    /// How long a call waits for another caller's computation before it computes itself, for a
    /// provider built without a [`max_wait`](RedisProviderBuilder::max_wait): 30 s.
    ///
    /// ```
    /// assert_eq!(cache_runtime::RedisProvider::DEFAULT_MAX_WAIT.as_secs(), 30);
    /// ```
    pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(30);

    /// A builder for a provider on `url`: `redis://[user][:password@]host[:port][/db]`, or
    /// `rediss://...` for TLS with the feature `redis-tls` (checked against the webpki roots, or
    /// the certificate given to the builder's `tls_root_certificate`). Without that feature, a
    /// `rediss://` URL is a [`CacheError::Config`] from [`connect`](RedisProviderBuilder::connect)
    /// that says to enable it.
    ///
    /// ```
    /// let builder = cache_runtime::RedisProvider::builder("redis://:secret@127.0.0.1:6379/1");
    /// assert!(!format!("{builder:?}").contains("secret"));
    /// ```
    pub fn builder(url: impl Into<String>) -> RedisProviderBuilder {
        RedisProviderBuilder::new(url.into())
    }

    /// A builder for a provider on a Redis Cluster, given the URLs of some of its nodes
    /// (`redis://[user][:password@]host:port`, or `rediss://` with the feature `redis-tls`): the
    /// client finds the others. It takes the same options as [`builder`](Self::builder), and gives
    /// the same behaviour; see the [module docs](crate::redis#redis-cluster) for how keys are
    /// laid out over the slots. A prefix with a brace (`{` or `}`) is a [`CacheError::Config`]
    /// from [`connect`](RedisProviderBuilder::connect).
    ///
    /// ```no_run
    /// # #[tokio::main] async fn main() -> Result<(), cache_runtime::CacheError> {
    /// let redis = cache_runtime::RedisProvider::cluster_builder(["redis://h1:7000", "redis://h2:7001", "redis://h3:7002"])
    ///     .prefix("myapp:")
    ///     .connect()
    ///     .await?;
    /// cache_runtime::set_default(redis);
    /// # Ok(()) }
    /// ```
    pub fn cluster_builder<I>(nodes: I) -> RedisProviderBuilder
    where
        I: IntoIterator,
        I::Item: Into<String>,
    {
        RedisProviderBuilder::new_cluster(nodes.into_iter().map(Into::into).collect())
    }

    /// Whether this provider is on a Redis Cluster ([`cluster_builder`](Self::cluster_builder)).
    ///
    /// ```no_run
    /// # async fn show(redis: cache_runtime::RedisProvider) {
    /// println!("cluster: {}", redis.is_cluster());
    /// # }
    /// ```
    pub fn is_cluster(&self) -> bool {
        self.inner.cluster
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
        let mut stats = self.inner.counters.snapshot();
        if let Some(near) = &self.inner.near {
            stats.near_hits = crate::CacheProvider::counters(near.memory()).snapshot().hits;
        }
        stats
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

    pub(crate) fn max_wait(&self) -> Duration {
        self.inner.max_wait
    }

    /// The time one call may spend on Redis in all: the operation timeout.
    pub(crate) fn op_timeout(&self) -> Duration {
        self.inner.op_timeout
    }

    /// [`CacheProvider::get`] within `timeout`, without the boxed future; `tagged`: see
    /// [`read`](Self::read).
    pub(crate) async fn get_within(
        &self,
        key: &str,
        timeout: Duration,
        tagged: bool,
    ) -> Result<Option<CachedValue>, CacheError> {
        // An entry that is not ours or does not decode is an error the runtime counts and logs
        // against the calling function, and reads as a miss.
        match self.read(key, timeout, false, tagged).await? {
            Some((bytes, _)) => CachedValue::from_vec(bytes, Arc::clone(&self.inner.codec)).map(Some),
            None => Ok(None),
        }
    }

    /// The bytes under `key` (and, with `with_ttl`, the milliseconds Redis has left on them;
    /// else -1), unless a tag of theirs was invalidated since their computation started (see
    /// [`tags`](crate::tags)). A key of another Redis type is a [`CacheError::ForeignEntry`].
    ///
    /// `tagged` says that the caller expects a tagged value (a function with tags): it is read
    /// with the `READ` script, which checks the marks in the same round trip. Other reads are a
    /// plain `GET`, which costs Redis a twentieth of the script (0.11 µs against 2.06 µs a call
    /// in `INFO commandstats`), and a second round trip for the marks only if the value found
    /// has tags after all.
    pub(crate) async fn read(
        &self,
        key: &str,
        timeout: Duration,
        with_ttl: bool,
        tagged: bool,
    ) -> Result<Option<(Vec<u8>, i64)>, CacheError> {
        let full = self.full_key(key);
        if !tagged {
            return self.read_plain(key, &full, timeout, with_ttl).await;
        }
        // On a cluster the marks live in another slot than the entry: the script does not read
        // them, the tags are checked here.
        let marks = if self.inner.cluster { "" } else { self.inner.tag_marks.as_str() };
        let result = self
            .run_within("get", timeout, |mut connection| {
                let full = &full;
                async move {
                    scripts::READ
                        .key(full)
                        .arg(marks)
                        .arg(if with_ttl { "1" } else { "0" })
                        .invoke_async::<Option<(Vec<u8>, i64)>>(&mut connection)
                        .await
                }
            })
            .await?;
        match result {
            Ok(Some((bytes, ttl))) if self.inner.cluster => match self.tags_dropped(&bytes, timeout).await? {
                true => Ok(None),
                false => Ok(Some((bytes, ttl))),
            },
            Ok(found) => Ok(found),
            Err(error) if is_wrong_type(&error) => Err(Self::foreign(key)),
            Err(error) if error.code() == Some("NOPERM") => {
                // Scripting was taken away after connect(): a read must still answer, and still
                // honour the tags.
                self.scripting_denied("get", key, &error, "read");
                self.read_plain(key, &full, timeout, with_ttl).await
            }
            Err(error) => Err(self.replied(error)),
        }
    }

    /// What the `READ` script does, in plain commands: the value (and its time left, in the same
    /// round trip), then the marks of its tags, if it has any, in a second one.
    async fn read_plain(
        &self,
        key: &str,
        full: &str,
        timeout: Duration,
        with_ttl: bool,
    ) -> Result<Option<(Vec<u8>, i64)>, CacheError> {
        let found = self
            .run_within("get", timeout, |mut connection| async move {
                if !with_ttl {
                    let value: Option<Vec<u8>> = ::redis::cmd("GET").arg(full).query_async(&mut connection).await?;
                    return Ok(value.map(|value| (value, -1)));
                }
                let mut pipe = ::redis::pipe();
                pipe.cmd("GET").arg(full).cmd("PTTL").arg(full);
                let (value, ttl): (Option<Vec<u8>>, i64) = pipe.query_async(&mut connection).await?;
                Ok(value.map(|value| (value, ttl)))
            })
            .await?;
        let found = match found {
            Ok(found) => found,
            Err(error) if is_wrong_type(&error) => return Err(Self::foreign(key)),
            Err(error) => return Err(self.replied(error)),
        };
        let Some((bytes, ttl)) = found else { return Ok(None) };
        if !crate::value::is_tagged(&bytes) {
            return Ok(Some((bytes, ttl)));
        }
        match self.tags_dropped(&bytes, timeout).await? {
            true => Ok(None),
            false => Ok(Some((bytes, ttl))),
        }
    }

    /// Whether a tag of the value `bytes` was invalidated since its computation started, read
    /// with one pipelined `GET` a mark (nothing for a value without tags): what the scripts check
    /// in Redis on one node, checked here on a cluster (where the marks live in another slot) and
    /// after a plain read.
    async fn tags_dropped(&self, bytes: &[u8], timeout: Duration) -> Result<bool, CacheError> {
        let tagging = CachedValue::from_bytes(bytes, Arc::clone(&self.inner.codec)).ok().and_then(|value| {
            let tagging = value.tagging()?;
            Some((
                tagging.start,
                tagging.list.iter().map(|tag| format!("{}{tag}", self.inner.tag_marks)).collect::<Vec<_>>(),
            ))
        });
        let Some((start, mark_keys)) = tagging else { return Ok(false) };
        if mark_keys.is_empty() {
            return Ok(false);
        }
        let marks = self
            .run_within("get", timeout, |mut connection| {
                let mark_keys = &mark_keys;
                async move {
                    // One `GET` a mark, pipelined: the commands the README's ACL grants.
                    let mut pipe = ::redis::pipe();
                    for mark_key in mark_keys {
                        pipe.cmd("GET").arg(mark_key);
                    }
                    pipe.query_async::<Vec<Option<u64>>>(&mut connection).await
                }
            })
            .await?
            .map_err(|error| self.replied(error))?;
        Ok(marks.into_iter().flatten().any(|mark| mark > start))
    }

    /// The tag clock now: the start of a computation, or the stamp of a write (on a cluster,
    /// where the scripts cannot read it beside the entry).
    async fn tag_clock_now(&self, operation: &'static str) -> Result<u64, CacheError> {
        let clock = &self.inner.tag_clock;
        self.run(operation, |mut connection| async move {
            ::redis::cmd("GET").arg(clock).query_async::<Option<u64>>(&mut connection).await
        })
        .await?
        .map(|clock| clock.unwrap_or(0))
        .map_err(|error| self.replied(error))
    }

    /// Sets the mark of `tag` to the tag clock, moved up (to `floor` at least); returns the
    /// mark. With a near cache, the script publishes it to the other instances.
    async fn mark_tag(&self, tag: &str, floor: u64) -> Result<u64, CacheError> {
        let mark_key = format!("{}{tag}", self.inner.tag_marks);
        let (channel, message) = match self.near() {
            Some(near) => (self.inner.near_channel.as_str(), near.tag_message_head()),
            None => ("", String::new()),
        };
        let clock = &self.inner.tag_clock;
        let marked = self
            .run("invalidate_tag", |mut connection| {
                let (mark_key, message) = (&mark_key, &message);
                async move {
                    scripts::INVALIDATE_TAG
                        .key(clock)
                        .key(mark_key)
                        .arg(floor)
                        .arg(channel)
                        .arg(message)
                        .arg(tag)
                        .invoke_async::<u64>(&mut connection)
                        .await
                }
            })
            .await?;
        match marked {
            Ok(mark) => Ok(mark),
            Err(error) if error.code() == Some("NOPERM") => {
                // Scripting was taken away after connect(): an invalidation must still happen.
                self.scripting_denied("invalidate_tag", tag, &error, "tag invalidated");
                self.run("invalidate_tag", |mut connection| {
                    let (mark_key, message) = (&mark_key, &message);
                    async move {
                        // Not atomic: two invalidations of one tag at once may leave the lower
                        // of their marks, which keeps entries that started between the two.
                        let mark =
                            ::redis::cmd("INCR").arg(clock).query_async::<u64>(&mut connection).await?.max(floor);
                        ::redis::cmd("SET").arg(mark_key).arg(mark).query_async::<()>(&mut connection).await?;
                        if !channel.is_empty() {
                            let message = format!("{message}{mark} {tag}");
                            ::redis::cmd("PUBLISH")
                                .arg(channel)
                                .arg(message)
                                .query_async::<i64>(&mut connection)
                                .await?;
                        }
                        Ok(mark)
                    }
                })
                .await?
                .map_err(|error| self.replied(error))
            }
            Err(error) => Err(self.replied(error)),
        }
    }

    fn full_key(&self, key: &str) -> String {
        keyed(&self.inner.prefix, key, self.inner.cluster)
    }

    /// Runs one operation through the breaker, within the timeout.
    ///
    /// The outer error says that Redis is unavailable (breaker open, timeout, connection); those
    /// count against the breaker. The inner one is an error reply of a server that answered, for
    /// the caller to read (`WRONGTYPE`, say).
    async fn run<T, F, Fut>(&self, operation: &'static str, op: F) -> Result<RedisResult<T>, CacheError>
    where
        F: Fn(Connection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        self.run_within(operation, self.inner.op_timeout, op).await
    }

    /// [`run`](Self::run) within `timeout` instead of the operation timeout: what is left of a
    /// call's budget.
    async fn run_within<T, F, Fut>(
        &self,
        operation: &'static str,
        timeout: Duration,
        op: F,
    ) -> Result<RedisResult<T>, CacheError>
    where
        F: Fn(Connection) -> Fut,
        Fut: Future<Output = RedisResult<T>>,
    {
        let inner = &self.inner;
        if timeout.is_zero() {
            return Err(CacheError::Timeout { operation, after: timeout });
        }
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
        match tokio::time::timeout(timeout, attempt).await {
            Err(_) => {
                permit.failure();
                Err(CacheError::Timeout { operation, after: timeout })
            }
            Ok(Err(error)) if is_unavailable(&error) => {
                permit.failure();
                Err(CacheError::Connection { message: format!("redis at {}: {error}", inner.url) })
            }
            Ok(result) => {
                permit.success();
                if let Some(near) = &inner.near {
                    near.redis_answered();
                }
                Ok(result)
            }
        }
    }

    /// Stores `value` in Redis (the near cache aside).
    async fn set_remote(&self, key: &str, value: &CachedValue, ttl: Duration) -> Result<(), CacheError> {
        let bytes = value.to_bytes(self.inner.codec.as_ref())?;
        let full = self.full_key(key);
        let (millis, lease, channel) = (ttl_millis(ttl), self.lease_key(key), &self.inner.channel);
        let clock = &self.inner.tag_clock;
        // On a cluster the clock lives in another slot: read first, for a tagged value only (the
        // stamp of an untagged one is not read).
        let stamp = match (self.inner.cluster, value.tagging()) {
            (true, Some(_)) => Some(self.tag_clock_now("set").await?),
            (true, None) => Some(0),
            (false, _) => None,
        };
        let kind = self
            .run("set", |mut connection| {
                let (full, bytes, lease) = (&full, &bytes, &lease);
                async move {
                    let mut invocation = scripts::SET.key(full);
                    invocation.key(lease);
                    if stamp.is_none() {
                        invocation.key(clock);
                    }
                    invocation.arg(bytes).arg(millis).arg(channel).arg(key);
                    if let Some(stamp) = stamp {
                        invocation.arg(stamp);
                    }
                    invocation.invoke_async::<String>(&mut connection).await
                }
            })
            .await?
            .map_err(|error| self.replied(error))?;
        match kind.as_str() {
            "string" | "none" => Ok(()),
            other => Err(CacheError::ForeignEntry { key: key.to_owned(), found: format!("a Redis {other}") }),
        }
    }

    /// An error reply turned into a [`CacheError`].
    fn replied(&self, error: RedisError) -> CacheError {
        CacheError::Provider { message: format!("redis at {} replied: {error}", self.inner.url) }
    }

    /// Counts and logs that Redis refused a script (scripting was taken away after `connect()`),
    /// and that the operation went on with plain commands (`done`: what they did).
    fn scripting_denied(&self, operation: &'static str, what: &str, error: &RedisError, done: &str) {
        let denied = CacheError::Provider {
            message: format!(
                "redis at {} denies scripting ({error}): {done} with plain commands; grant the user +eval +evalsha",
                self.inner.url
            ),
        };
        observe::unusable(&self.inner.counters, "redis", operation, what, &denied);
    }

    fn foreign(key: &str) -> CacheError {
        CacheError::ForeignEntry { key: key.to_owned(), found: "a Redis value that is not a string".to_owned() }
    }

    async fn delete_one(&self, key: &str) -> Result<bool, CacheError> {
        let (entry, lease) = (self.full_key(key), self.lease_key(key));
        let channel = &self.inner.channel;
        let result = self
            .run("delete", |mut connection| {
                let (entry, lease) = (&entry, &lease);
                async move {
                    scripts::DELETE
                        .key(entry)
                        .key(lease)
                        .arg(channel)
                        .arg(key)
                        .invoke_async::<i64>(&mut connection)
                        .await
                }
            })
            .await?;
        let removed = match result {
            Ok(removed) => removed,
            Err(error) if error.code() == Some("NOPERM") => {
                // Scripting was taken away after connect(): an invalidation must still happen.
                self.scripting_denied("delete", key, &error, "removed");
                self.delete_without_script(key, &entry, &lease).await?
            }
            Err(error) => return Err(self.replied(error)),
        };
        match removed {
            -1 => {
                observe::unusable(&self.inner.counters, "redis", "delete", key, &Self::foreign(key));
                Ok(false)
            }
            removed => Ok(removed > 0),
        }
    }

    /// What the `DELETE` script does, in plain commands: not atomic (a key of another type could
    /// appear between the `TYPE` and the `UNLINK`), but an invalidation that does nothing is
    /// worse.
    async fn delete_without_script(&self, key: &str, entry: &str, lease: &str) -> Result<i64, CacheError> {
        let channel = &self.inner.channel;
        self.run("delete", |mut connection| async move {
            let voided: i64 = ::redis::cmd("UNLINK").arg(lease).query_async(&mut connection).await?;
            if voided == 1 {
                let _: i64 = ::redis::cmd("PUBLISH").arg(channel).arg(key).query_async(&mut connection).await?;
            }
            let kind: String = ::redis::cmd("TYPE").arg(entry).query_async(&mut connection).await?;
            match kind.as_str() {
                "string" => ::redis::cmd("UNLINK").arg(entry).query_async(&mut connection).await,
                "none" => Ok(0),
                _ => Ok(-1),
            }
        })
        .await?
        .map_err(|error| self.replied(error))
    }

    /// Voids the leases of the keys `pattern` matches (all, for `None`), then removes their
    /// entries: in that order, so that no computation whose lease was voided can store after its
    /// entry's turn came.
    ///
    /// Redis's own glob works on bytes and has its own reading of sets and escapes; ours works on
    /// characters, the same on every store. So `SCAN MATCH` gets a glob that matches at least what
    /// the pattern matches ([`Pattern::redis_superset`]), and each key it returns is checked with
    /// [`Pattern::matches`] before it goes.
    async fn delete_matching(&self, pattern: Option<&Pattern>) -> Result<u64, CacheError> {
        let glob = pattern.map_or_else(|| "*".to_owned(), Pattern::redis_superset);
        // On a cluster every key is in a hash tag, `{<key>}`, after its prefix.
        let (open, close) = if self.inner.cluster { ("{", "}") } else { ("", "") };
        let targets = self
            .run("clear_pattern", |mut connection| async move { connection.scan_targets().await })
            .await?
            .map_err(|error| self.replied(error))?;
        let leases = format!("{}{open}{glob}{close}", crate::key::escape_glob(&self.inner.lease_prefix));
        for target in &targets {
            self.sweep(target.as_ref(), &leases, self.inner.lease_prefix.len(), pattern, Sweep::Leases).await?;
        }
        let entries = format!("{}{open}{glob}{close}", self.inner.prefix_glob);
        let mut removed = 0;
        for target in &targets {
            removed += self.sweep(target.as_ref(), &entries, self.inner.prefix.len(), pattern, Sweep::Entries).await?;
        }
        Ok(removed)
    }

    /// The key in `full` (a key as stored, after `skip` bytes of prefix): without its hash tag's
    /// braces on a cluster.
    fn stored_name<'k>(&self, full: &'k [u8], skip: usize) -> &'k [u8] {
        let name = &full[skip.min(full.len())..];
        match self.inner.cluster {
            true => name.strip_prefix(b"{").and_then(|name| name.strip_suffix(b"}")).unwrap_or(name),
            false => name,
        }
    }

    /// Walks the keys matching `glob` with `SCAN` on `node` (a primary of a cluster, or the
    /// server), keeps those whose name after `skip` bytes `pattern` matches, and voids or removes
    /// them batch by batch (on a cluster, one script per hash slot); returns how many entries it
    /// removed.
    async fn sweep(
        &self,
        node: Option<&Node>,
        glob: &str,
        skip: usize,
        pattern: Option<&Pattern>,
        sweep: Sweep,
    ) -> Result<u64, CacheError> {
        let channel = &self.inner.channel;
        let lease_skip = self.inner.lease_prefix.len();
        let trim = u8::from(self.inner.cluster);
        let mut cursor: u64 = 0;
        let mut removed = 0;
        loop {
            let (next, keys): (u64, Vec<Vec<u8>>) = self
                .run("clear_pattern", |mut connection| async move {
                    let mut scan = ::redis::cmd("SCAN");
                    scan.arg(cursor).arg("MATCH").arg(glob).arg("COUNT").arg(BATCH);
                    connection.query_on(node, scan).await
                })
                .await?
                .map_err(|error| self.replied(error))?;
            // Entries only: the leases under the same prefix (a NUL byte after it) have their
            // own sweep.
            let keys: Vec<Vec<u8>> = keys
                .into_iter()
                .filter(|key| {
                    let reserved = matches!(sweep, Sweep::Entries) && key.get(skip) == Some(&0);
                    let name = self.stored_name(key, skip);
                    !reserved
                        && pattern
                            .is_none_or(|pattern| std::str::from_utf8(name).is_ok_and(|name| pattern.matches(name)))
                })
                .collect();
            let batches = match self.inner.cluster {
                true => connection::by_slot(&keys),
                false => keys.chunks(BATCH).map(<[Vec<u8>]>::to_vec).collect(),
            };
            for batch in &batches {
                let swept = self
                    .run("clear_pattern", |mut connection| async move {
                        match sweep {
                            Sweep::Leases => {
                                scripts::VOID_BATCH
                                    .key(batch)
                                    .arg(channel)
                                    .arg(lease_skip)
                                    .arg(trim)
                                    .invoke_async::<u64>(&mut connection)
                                    .await
                            }
                            Sweep::Entries => {
                                scripts::DELETE_BATCH.key(batch).invoke_async::<u64>(&mut connection).await
                            }
                        }
                    })
                    .await?;
                removed += match swept {
                    Ok(count) => count,
                    Err(error) if error.code() == Some("NOPERM") => {
                        self.scripting_denied("clear_pattern", glob, &error, "cleared");
                        self.sweep_without_script(batch, sweep).await?
                    }
                    Err(error) => return Err(self.replied(error)),
                };
            }
            if next == 0 {
                return Ok(removed);
            }
            cursor = next;
        }
    }
}

impl RedisProvider {
    /// What the sweep scripts do, in plain commands, key by key: for a user whose scripting was
    /// taken away after `connect()`. Not atomic, but a clear that does nothing is worse.
    async fn sweep_without_script(&self, batch: &[Vec<u8>], sweep: Sweep) -> Result<u64, CacheError> {
        let (channel, skip) = (&self.inner.channel, self.inner.lease_prefix.len());
        let mut removed = 0;
        for key in batch {
            removed += self
                .run("clear_pattern", |mut connection| async move {
                    let kind: String = ::redis::cmd("TYPE").arg(key).query_async(&mut connection).await?;
                    if kind != "string" {
                        return Ok(0);
                    }
                    let gone: u64 = ::redis::cmd("UNLINK").arg(key).query_async(&mut connection).await?;
                    if matches!(sweep, Sweep::Leases) && gone == 1 {
                        let _: i64 = ::redis::cmd("PUBLISH")
                            .arg(channel)
                            .arg(self.stored_name(key, skip))
                            .query_async(&mut connection)
                            .await?;
                        return Ok(0);
                    }
                    Ok(gone)
                })
                .await?
                .map_err(|error| self.replied(error))?;
        }
        Ok(removed)
    }
}

/// What [`RedisProvider::sweep`] does to the keys it finds.
#[derive(Clone, Copy)]
enum Sweep {
    Leases,
    Entries,
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
            if self.near().is_none() {
                return self.get_within(key, self.inner.op_timeout, false).await;
            }
            if let Some(found) = self.near_serving().and_then(|near| near.get_direct(key.as_bytes())) {
                self.near_hit();
                return Ok(Some(found));
            }
            let (found, fill) = self.get_filling(key, self.inner.op_timeout, false).await;
            if let (Ok(Some(value)), Some(fill)) = (&found, fill) {
                self.fill_near(fill, key, value.clone());
            }
            found
        })
    }

    fn set<'a>(&'a self, key: &'a str, value: CachedValue, ttl: Duration) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            let Some(near) = self.near() else { return self.set_remote(key, &value, ttl).await };
            let ticket = near.begin_write(key);
            let result = self.set_remote(key, &value, ttl).await;
            match &result {
                Ok(()) => {
                    near.written(ticket, key, value, ttl);
                    self.publish(near, Removal::Key(key.to_owned())).await;
                }
                // What Redis holds now is unknown: the near cache forgets the key (and keeps the
                // value through an outage, as it keeps what calls compute).
                Err(error) => {
                    near.apply(&Removal::Key(key.to_owned()));
                    if near::unavailable(error) {
                        let ticket = near.ticket(key);
                        near.keep(ticket, key, value, ttl);
                    }
                }
            }
            result
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, bool> {
        Box::pin(async move {
            let removed = self.delete_one(key).await;
            match self.near() {
                None => removed,
                Some(_) => self.removed(Removal::Key(key.to_owned()), removed).await,
            }
        })
    }

    fn exists<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, bool> {
        Box::pin(async move {
            // Read, not `TYPE`: an entry a tag dropped is not there.
            match self.read(key, self.inner.op_timeout, false, false).await {
                Ok(found) => Ok(found.is_some()),
                Err(error @ CacheError::ForeignEntry { .. }) => {
                    observe::unusable(&self.inner.counters, "redis", "exists", key, &error);
                    Ok(false)
                }
                Err(error) => Err(error),
            }
        })
    }

    fn invalidate_tag<'a>(&'a self, tag: &'a str) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            crate::tags::check(tag)?;
            let marked = self.mark_tag(tag, 0).await;
            let Some(near) = self.near() else { return marked.map(drop) };
            match &marked {
                Ok(mark) => near.apply(&Removal::Tag(tag.to_owned(), *mark)),
                // Redis did not answer: the tag is dropped here at once, and in Redis (and through
                // it on every instance) when it is back.
                Err(error) if near::unavailable(error) => {
                    let mark = near.memory().invalidate_tag_now(tag);
                    near.queue(Removal::Tag(tag.to_owned(), mark));
                }
                Err(_) => {}
            }
            marked.map(drop)
        })
    }

    fn clear(&self) -> ProviderFuture<'_, u64> {
        Box::pin(async move {
            let removed = self.delete_matching(None).await;
            self.removed(Removal::All, removed).await
        })
    }

    fn clear_pattern<'a>(&'a self, pattern: &'a Pattern) -> ProviderFuture<'a, u64> {
        Box::pin(async move {
            if let Some(key) = pattern.as_literal() {
                let removed = self.delete_one(&key).await.map(u64::from);
                return self.removed(Removal::Key(key), removed).await;
            }
            let removed = self.delete_matching(Some(pattern)).await;
            self.removed(Removal::Pattern(pattern.as_str().to_owned()), removed).await
        })
    }

    fn counters(&self) -> &StatsCounters {
        &self.inner.counters
    }

    fn stats(&self) -> CacheStats {
        RedisProvider::stats(self)
    }
}

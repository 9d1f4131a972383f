//! The embedded in-memory provider, on moka.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use moka::future::Cache;
use moka::notification::RemovalCause;
use moka::Expiry;

use crate::key::Pattern;
use crate::observe;
use crate::provider::{CacheProvider, ProviderFuture};
use crate::stats::{CacheStats, StatsCounters};
use crate::value::CachedValue;

/// What a byte-bounded store adds to each entry's key and value for its own bookkeeping.
const ENTRY_OVERHEAD: usize = 96;

/// An in-memory cache on [`moka::future::Cache`]: bounded, with a time to live per entry.
///
/// Values are kept as typed objects: a hit clones the value and never decodes anything. Expired
/// entries are never returned, and moka reclaims them in its housekeeping on later reads and
/// writes of any key, so keys that are never read again do not pile up. Clones share one store.
///
/// ```
/// use cache_runtime::MemoryProvider;
///
/// let small = MemoryProvider::builder().max_capacity(1_000).build();
/// let by_size = MemoryProvider::builder().max_bytes(64 * 1024 * 1024).build();
/// cache_runtime::set_default(small.clone());
/// assert_eq!(small.stats().sets, 0);
/// # drop(by_size);
/// ```
#[derive(Clone)]
pub struct MemoryProvider {
    inner: Arc<Inner>,
}

struct Inner {
    cache: Cache<String, Entry>,
    counters: Arc<StatsCounters>,
    bound: Bound,
    max_wait: Duration,
}

#[derive(Debug, Clone, Copy)]
enum Bound {
    Entries(u64),
    Bytes(u64),
}

#[derive(Clone)]
struct Entry {
    value: CachedValue,
    ttl: Duration,
    weight: u32,
}

/// Gives each entry the time to live it was stored with.
struct PerEntryTtl;

impl Expiry<String, Entry> for PerEntryTtl {
    fn expire_after_create(&self, _: &String, entry: &Entry, _: Instant) -> Option<Duration> {
        Some(entry.ttl)
    }
    fn expire_after_update(&self, _: &String, entry: &Entry, _: Instant, _: Option<Duration>) -> Option<Duration> {
        Some(entry.ttl)
    }
}

/// Builds a [`MemoryProvider`].
///
/// ```
/// let provider = cache_runtime::MemoryProvider::builder().max_capacity(50_000).build();
/// # drop(provider);
/// ```
#[derive(Debug, Clone)]
#[must_use]
pub struct MemoryProviderBuilder {
    bound: Bound,
    max_wait: Duration,
}

impl MemoryProviderBuilder {
    /// At most this many entries ([`MemoryProvider::DEFAULT_CAPACITY`] unless set); the least likely to be used
    /// again are evicted first.
    pub fn max_capacity(mut self, entries: u64) -> Self {
        self.bound = Bound::Entries(entries);
        self
    }

    /// At most about this many bytes instead of a count of entries: each entry weighs its key,
    /// the encoded size of its value and a fixed overhead. Measuring a value walks it once when
    /// it is stored, never when it is read.
    pub fn max_bytes(mut self, bytes: u64) -> Self {
        self.bound = Bound::Bytes(bytes);
        self
    }

    /// How long a call that misses waits for another caller's computation of the same key before
    /// it computes itself ([`MemoryProvider::DEFAULT_MAX_WAIT`] unless set). A wait that runs out
    /// is logged and counted as an error of kind `wait_timeout`.
    ///
    /// ```
    /// use std::time::Duration;
    /// let provider = cache_runtime::MemoryProvider::builder().max_wait(Duration::from_secs(5)).build();
    /// # drop(provider);
    /// ```
    pub fn max_wait(mut self, max_wait: Duration) -> Self {
        self.max_wait = max_wait;
        self
    }

    /// The provider.
    pub fn build(self) -> MemoryProvider {
        let counters = Arc::new(StatsCounters::default());
        let listener_counters = Arc::clone(&counters);
        let mut builder = Cache::builder().expire_after(PerEntryTtl).eviction_listener(
            move |key: Arc<String>, _: Entry, cause: RemovalCause| match cause {
                RemovalCause::Expired => observe::expired(&listener_counters, &key),
                RemovalCause::Size => observe::evicted(&listener_counters),
                RemovalCause::Explicit | RemovalCause::Replaced => {}
            },
        );
        builder = match self.bound {
            Bound::Entries(n) => builder.max_capacity(n),
            Bound::Bytes(n) => builder.max_capacity(n).weigher(|_: &String, entry: &Entry| entry.weight),
        };
        let inner = Inner { cache: builder.build(), counters, bound: self.bound, max_wait: self.max_wait };
        MemoryProvider { inner: Arc::new(inner) }
    }
}

impl MemoryProvider {
    /// The capacity of a provider built without one, and of the embedded default: 10,000 entries.
    ///
    /// ```
    /// assert_eq!(cache_runtime::MemoryProvider::DEFAULT_CAPACITY, 10_000);
    /// ```
    pub const DEFAULT_CAPACITY: u64 = 10_000;

    /// How long a call waits for another caller's computation of its key before it computes
    /// itself, unless [`max_wait`](MemoryProviderBuilder::max_wait) says otherwise: 30 s.
    ///
    /// ```
    /// assert_eq!(cache_runtime::MemoryProvider::DEFAULT_MAX_WAIT.as_secs(), 30);
    /// ```
    pub const DEFAULT_MAX_WAIT: Duration = Duration::from_secs(30);

    /// A provider of [`DEFAULT_CAPACITY`](Self::DEFAULT_CAPACITY) entries.
    ///
    /// ```
    /// cache_runtime::register("sessions", cache_runtime::MemoryProvider::new());
    /// ```
    pub fn new() -> Self {
        Self::builder().build()
    }

    /// A builder, to set the bound.
    pub fn builder() -> MemoryProviderBuilder {
        MemoryProviderBuilder { bound: Bound::Entries(Self::DEFAULT_CAPACITY), max_wait: Self::DEFAULT_MAX_WAIT }
    }

    /// A snapshot of this store's counters.
    ///
    /// ```
    /// assert_eq!(cache_runtime::MemoryProvider::new().stats().evictions, 0);
    /// ```
    pub fn stats(&self) -> CacheStats {
        self.inner.counters.snapshot()
    }

    /// How many entries the store holds, expired ones not yet reclaimed included (moka's count,
    /// which lags behind writes until housekeeping runs).
    ///
    /// ```
    /// assert_eq!(cache_runtime::MemoryProvider::new().entry_count(), 0);
    /// ```
    pub fn entry_count(&self) -> u64 {
        self.inner.cache.entry_count()
    }

    /// Runs moka's pending housekeeping now: evictions, and reclaiming expired entries. It also
    /// runs by itself as the cache is used; call it where a test or a report needs exact counts.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// cache_runtime::MemoryProvider::new().run_pending_tasks().await;
    /// # }
    /// ```
    pub async fn run_pending_tasks(&self) {
        self.inner.cache.run_pending_tasks().await;
    }

    /// How long a call waits for another caller's computation.
    pub(crate) fn max_wait(&self) -> Duration {
        self.inner.max_wait
    }

    /// [`CacheProvider::get`] without the boxed future, for the runtime's hit path.
    pub(crate) async fn get_direct(&self, key: &str) -> Option<CachedValue> {
        self.inner.cache.get(key).await.map(|entry| entry.value)
    }

    async fn remove_live(&self, key: &str) -> bool {
        // A removed entry counts only if it had not expired yet.
        self.inner.cache.remove(key).await.is_some_and(|entry| !is_expired(&entry))
    }

    async fn remove_matching(&self, matches: impl Fn(&str) -> bool) -> u64 {
        let keys: Vec<Arc<String>> =
            self.inner.cache.iter().filter(|(key, _)| matches(key)).map(|(key, _)| key).collect();
        let mut removed = 0;
        for key in keys {
            removed += u64::from(self.remove_live(&key).await);
        }
        removed
    }
}

fn is_expired(entry: &Entry) -> bool {
    entry.value.stored_at().elapsed().is_ok_and(|age| age >= entry.ttl)
}

impl Default for MemoryProvider {
    fn default() -> Self {
        Self::new()
    }
}

impl fmt::Debug for MemoryProvider {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("MemoryProvider")
            .field("bound", &self.inner.bound)
            .field("entries", &self.inner.cache.entry_count())
            .finish()
    }
}

impl CacheProvider for MemoryProvider {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn get<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, Option<CachedValue>> {
        Box::pin(async move { Ok(self.get_direct(key).await) })
    }

    fn set<'a>(&'a self, key: &'a str, value: CachedValue, ttl: Duration) -> ProviderFuture<'a, ()> {
        Box::pin(async move {
            let weight = match self.inner.bound {
                Bound::Entries(_) => 1,
                Bound::Bytes(_) => {
                    let bytes = key.len() + value.estimated_size() + ENTRY_OVERHEAD;
                    u32::try_from(bytes).unwrap_or(u32::MAX)
                }
            };
            self.inner.cache.insert(key.to_owned(), Entry { value, ttl, weight }).await;
            Ok(())
        })
    }

    fn delete<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, bool> {
        Box::pin(async move { Ok(self.remove_live(key).await) })
    }

    fn exists<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, bool> {
        Box::pin(async move { Ok(self.inner.cache.get(key).await.is_some()) })
    }

    fn clear(&self) -> ProviderFuture<'_, u64> {
        Box::pin(async move { Ok(self.remove_matching(|_| true).await) })
    }

    fn clear_pattern<'a>(&'a self, pattern: &'a Pattern) -> ProviderFuture<'a, u64> {
        Box::pin(async move {
            if let Some(key) = pattern.as_literal() {
                return Ok(u64::from(self.remove_live(&key).await));
            }
            Ok(self.remove_matching(|key| pattern.matches(key)).await)
        })
    }

    fn counters(&self) -> &StatsCounters {
        &self.inner.counters
    }
}

//! The trait every store implements.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use crate::error::CacheError;
use crate::key::Pattern;
use crate::stats::{CacheStats, StatsCounters};
use crate::value::CachedValue;

/// The future a [`CacheProvider`] method returns.
pub type ProviderFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, CacheError>> + Send + 'a>>;

/// A store of cached values: the in-memory [`MemoryProvider`](crate::MemoryProvider), Redis, or
/// one of your own.
///
/// Methods take and return [`CachedValue`]s: a store that keeps objects in memory keeps them as
/// they are, a store that keeps bytes calls [`CachedValue::to_bytes`] and
/// [`CachedValue::from_bytes`]. The runtime counts hits, misses, sets, deletes and errors on
/// [`counters`](Self::counters); the store counts evictions and expirations it sees.
///
/// Implement it for another store and register it like the built-in ones:
///
/// ```
/// use std::collections::HashMap;
/// use std::sync::{Arc, Mutex};
/// use std::time::{Duration, Instant};
/// use cache_runtime::{key::Pattern, CacheProvider, CachedValue, ProviderFuture, StatsCounters};
///
/// /// A store for tests: a map behind a mutex.
/// #[derive(Clone, Default)]
/// struct MapStore {
///     map: Arc<Mutex<HashMap<String, (CachedValue, Instant)>>>,
///     counters: Arc<StatsCounters>,
/// }
///
/// impl CacheProvider for MapStore {
///     fn kind(&self) -> &'static str { "map" }
///     fn get<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, Option<CachedValue>> {
///         let found = self.map.lock().unwrap().get(key).filter(|(_, until)| *until > Instant::now()).map(|(v, _)| v.clone());
///         Box::pin(async move { Ok(found) })
///     }
///     fn set<'a>(&'a self, key: &'a str, value: CachedValue, ttl: Duration) -> ProviderFuture<'a, ()> {
///         self.map.lock().unwrap().insert(key.to_owned(), (value, Instant::now() + ttl));
///         Box::pin(async { Ok(()) })
///     }
///     fn delete<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, bool> {
///         let removed = self.map.lock().unwrap().remove(key).is_some();
///         Box::pin(async move { Ok(removed) })
///     }
///     fn exists<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, bool> {
///         let found = self.map.lock().unwrap().get(key).is_some_and(|(_, until)| *until > Instant::now());
///         Box::pin(async move { Ok(found) })
///     }
///     fn clear(&self) -> ProviderFuture<'_, u64> {
///         let n = self.map.lock().unwrap().drain().count() as u64;
///         Box::pin(async move { Ok(n) })
///     }
///     fn clear_pattern<'a>(&'a self, pattern: &'a Pattern) -> ProviderFuture<'a, u64> {
///         let mut map = self.map.lock().unwrap();
///         let before = map.len();
///         map.retain(|key, _| !pattern.matches(key));
///         let n = (before - map.len()) as u64;
///         Box::pin(async move { Ok(n) })
///     }
///     fn counters(&self) -> &StatsCounters { &self.counters }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cache_runtime::CacheError> {
/// cache_runtime::register("map", MapStore::default());
/// let cache = cache_runtime::named("map")?;
/// cache.set("greeting", &"hello".to_string(), Duration::from_secs(60)).await?;
/// assert_eq!(cache.get::<String>("greeting").await?.as_deref(), Some("hello"));
/// # Ok(()) }
/// ```
pub trait CacheProvider: Send + Sync + 'static {
    /// A short name of the kind of store (`memory`, `redis`), for logs.
    fn kind(&self) -> &'static str;

    /// The value under `key`, if there is one that has not expired.
    fn get<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, Option<CachedValue>>;

    /// Stores `value` under `key` for `ttl` (never zero: the runtime does not store those).
    fn set<'a>(&'a self, key: &'a str, value: CachedValue, ttl: Duration) -> ProviderFuture<'a, ()>;

    /// The value under `key`, if there is a live one, and its age: how long ago it was stored.
    /// The runtime reads it for `#[cached(stale = ...)]`, where an entry is fresh while its age
    /// is under the function's `ttl`, and kept `stale` longer.
    ///
    /// The default reads [`get`](Self::get) and takes the age from the time the value carries
    /// ([`CachedValue::stored_at`], the wall clock), so a store of your own supports `stale`
    /// without more code; override it where the store knows better.
    fn get_aged<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, Option<(CachedValue, Duration)>> {
        Box::pin(async move {
            let found = self.get(key).await?;
            Ok(found.map(|value| {
                let age = value.stored_at().elapsed().unwrap_or_default();
                (value, age)
            }))
        })
    }

    /// Removes `key`; true when there was a live entry.
    fn delete<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, bool>;

    /// Whether `key` holds a live entry.
    fn exists<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, bool>;

    /// Removes every entry of this cache (only this cache's: a shared server keeps the rest).
    fn clear(&self) -> ProviderFuture<'_, u64>;

    /// Removes the entries whose keys match `pattern`; returns how many.
    fn clear_pattern<'a>(&'a self, pattern: &'a Pattern) -> ProviderFuture<'a, u64>;

    /// Drops every entry tagged `tag`, in a time that does not grow with their number (see the
    /// crate's README, "Tags"). The memory store and Redis do; the default refuses with
    /// [`CacheError::Unsupported`], and a store of your own keeps its tagged entries until
    /// their ttl.
    fn invalidate_tag<'a>(&'a self, tag: &'a str) -> ProviderFuture<'a, ()> {
        let _ = tag;
        let kind = self.kind();
        Box::pin(async move {
            Err(CacheError::Unsupported {
                provider: kind,
                what: "tags",
                hint: "invalidate by key or pattern on it, or keep tagged functions on a memory or Redis provider",
            })
        })
    }

    /// The live counters of this store. Every clone of a handle on one store must return the same
    /// counters (hold them in an `Arc`): each `StatsCounters` carries the identity of the store it
    /// was made for, by which concurrent misses through any handle share one computation and an
    /// invalidation through any handle voids the computations in flight.
    fn counters(&self) -> &StatsCounters;

    /// A snapshot of the counters.
    fn stats(&self) -> CacheStats {
        self.counters().snapshot()
    }
}

/// A shared provider is a provider: register an `Arc<P>` (or an `Arc<dyn CacheProvider>`) as
/// you would register `P`.
///
/// ```
/// use std::sync::Arc;
/// use cache_runtime::MemoryProvider;
///
/// let shared = Arc::new(MemoryProvider::new());
/// cache_runtime::register("shared", Arc::clone(&shared));
/// ```
impl<P: CacheProvider + ?Sized> CacheProvider for Arc<P> {
    fn kind(&self) -> &'static str {
        (**self).kind()
    }
    fn get<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, Option<CachedValue>> {
        (**self).get(key)
    }
    fn set<'a>(&'a self, key: &'a str, value: CachedValue, ttl: Duration) -> ProviderFuture<'a, ()> {
        (**self).set(key, value, ttl)
    }
    fn get_aged<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, Option<(CachedValue, Duration)>> {
        (**self).get_aged(key)
    }
    fn delete<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, bool> {
        (**self).delete(key)
    }
    fn exists<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, bool> {
        (**self).exists(key)
    }
    fn clear(&self) -> ProviderFuture<'_, u64> {
        (**self).clear()
    }
    fn clear_pattern<'a>(&'a self, pattern: &'a Pattern) -> ProviderFuture<'a, u64> {
        (**self).clear_pattern(pattern)
    }
    fn invalidate_tag<'a>(&'a self, tag: &'a str) -> ProviderFuture<'a, ()> {
        (**self).invalidate_tag(tag)
    }
    fn counters(&self) -> &StatsCounters {
        (**self).counters()
    }
    fn stats(&self) -> CacheStats {
        (**self).stats()
    }
}

//! The [`Cache`] handle and the cache-aside calls, for code that reads and writes the cache
//! without the macro.
//!
//! Keys are used verbatim: `get("user:1")` reads what `#[cached(key = "user:{id}")]` stored for
//! `id = 1`. Build keys from untrusted input with [`key::escape`](crate::key::escape). Writes and
//! removals win over computations in flight, as `<fn>_invalidate` does (see
//! [`flight`](crate::flight)).

use std::sync::Arc;
use std::time::Duration;

use crate::call::{read, Read, Whole};
use crate::error::CacheError;
use crate::flight::{Scope, FLIGHTS};
use crate::key::Pattern;
use crate::observe::Origin;
use crate::registry::{self, Backend, Slot};
use crate::stats::CacheStats;
use crate::tags::{self, TagList, Tagging};
use crate::value::{CacheValue, CachedValue};

/// A handle on one registered provider with typed calls; [`cache`] and [`named`] give one.
///
/// The free functions ([`get`], [`set`], ...) are the same calls on the default provider.
///
/// ```
/// use std::time::Duration;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cache_runtime::CacheError> {
/// cache_runtime::register("pages", cache_runtime::MemoryProvider::new());
/// let pages = cache_runtime::named("pages")?;
/// pages.set("list:1", &vec![1u64, 2, 3], Duration::from_secs(60)).await?;
/// assert_eq!(pages.clear_pattern("list:*").await?, 1);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Cache {
    slot: Arc<Slot>,
}

const ASIDE: &str = "cache_aside";

impl Cache {
    fn origin(&self) -> Origin<'_> {
        Origin {
            function: ASIDE,
            provider: &self.slot.name,
            counters: self.slot.provider.counters(),
            handles: Some(&self.slot.aside_counters),
        }
    }

    /// The name the provider was asked for by (`"default"` for the default one).
    pub fn name(&self) -> &str {
        &self.slot.name
    }

    /// The value under `key`, or `None`. A value that does not decode as a `T` is a miss (counted
    /// and logged); an unreachable store is an error.
    pub async fn get<T: CacheValue>(&self, key: &str) -> Result<Option<T>, CacheError> {
        let origin = self.origin();
        let found = read::<Whole, T>(&origin, &self.slot, key, false).await;
        if !matches!(found, Read::Hit(_)) {
            origin.miss(key);
        }
        match found {
            Read::Hit(value) => Ok(Some(value)),
            Read::Empty | Read::Unusable => Ok(None),
            Read::Failed(error) => Err(error),
        }
    }

    /// Stores a clone of `value` under `key` for `ttl`. A `ttl` of zero stores nothing. A
    /// computation of `key` in flight stores nothing over it.
    pub async fn set<T: CacheValue>(&self, key: &str, value: &T, ttl: Duration) -> Result<(), CacheError> {
        if ttl.is_zero() {
            return Ok(());
        }
        let _invalidation = FLIGHTS.void(self.slot.store, &Scope::Key(key), self.slot.exclusive()).await;
        let stored = self.slot.provider.set(key, CachedValue::new(value.clone()), ttl).await;
        self.counted("set", key, stored)?;
        self.origin().stored(key, ttl);
        Ok(())
    }

    /// [`set`](Self::set), with tags: [`invalidate_tag`](Self::invalidate_tag) of any of them
    /// drops the entry, as it drops a `#[cached(tags = [...])]` function's. A tag is non-empty
    /// text without control characters, at most 1 KiB ([`CacheError::BadTag`] otherwise); use
    /// [`key::escape`](crate::key::escape) for the parts that come from user input.
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cache_runtime::CacheError> {
    /// let cache = cache_runtime::cache();
    /// cache.set_tagged("order:7", &120u64, Duration::from_secs(60), &["user:42", "orders"]).await?;
    /// cache.invalidate_tag("user:42").await?;
    /// assert_eq!(cache.get::<u64>("order:7").await?, None);
    /// # Ok(()) }
    /// ```
    pub async fn set_tagged<T: CacheValue, S: AsRef<str>>(
        &self,
        key: &str,
        value: &T,
        ttl: Duration,
        tags: &[S],
    ) -> Result<(), CacheError> {
        let list = self.counted("set", key, TagList::from_user(tags))?;
        if ttl.is_zero() {
            return Ok(());
        }
        let _invalidation = FLIGHTS.void(self.slot.store, &Scope::Key(key), self.slot.exclusive()).await;
        let tagging = list.map(|list| Tagging { start: tag_clock(&self.slot), list });
        let value = CachedValue::new(value.clone()).tagged(tagging);
        let stored = self.slot.provider.set(key, value, ttl).await;
        self.counted("set", key, stored)?;
        self.origin().stored(key, ttl);
        Ok(())
    }

    /// Drops every entry tagged `tag` on this provider (on Redis: on every instance that shares
    /// it), however many there are: the store writes one mark and touches no entry (see the
    /// README, "Tags"). Computations in flight of entries with the tag store nothing after it.
    /// The stores that functions with `max_entries` or `local` keep in place of this provider
    /// are reached too. A store of your own that does not support tags answers
    /// [`CacheError::Unsupported`].
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cache_runtime::CacheError> {
    /// cache_runtime::cache().invalidate_tag("orders").await?;
    /// # Ok(()) }
    /// ```
    pub async fn invalidate_tag(&self, tag: &str) -> Result<(), CacheError> {
        self.counted("invalidate_tag", tag, tags::check(tag))?;
        for bounded in registry::bounded_of(self.slot.store) {
            // Functions' own memory stores: they cannot fail.
            let _ = bounded.provider.invalidate_tag(tag).await;
        }
        self.counted("invalidate_tag", tag, self.slot.provider.invalidate_tag(tag).await)?;
        self.origin().tag_invalidated(tag);
        Ok(())
    }

    /// Removes `key`; true when it held a live entry. A computation of `key` in flight stores
    /// nothing after it. The stores that functions with `max_entries` or `local` keep in place
    /// of this provider are reached too.
    pub async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        let removed_there = self.remove_from_functions_stores(&Scope::Key(key)).await > 0;
        let _invalidation = FLIGHTS.void(self.slot.store, &Scope::Key(key), self.slot.exclusive()).await;
        let removed = self.counted("delete", key, self.slot.provider.delete(key).await)? || removed_there;
        self.origin().removed(key, u64::from(removed));
        Ok(removed)
    }

    /// Whether `key` holds a live entry.
    pub async fn exists(&self, key: &str) -> Result<bool, CacheError> {
        self.counted("exists", key, self.slot.provider.exists(key).await)
    }

    /// Removes the entries whose keys match the glob `pattern` (`*`, `?`, `[..]`, `\` escapes);
    /// returns how many. A malformed pattern is a [`CacheError::BadPattern`]. Computations in
    /// flight of keys it matches store nothing after it. The stores that functions with
    /// `max_entries` or `local` keep in place of this provider are reached too.
    pub async fn clear_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
        let parsed = self.counted("clear_pattern", pattern, Pattern::parse(pattern))?;
        let removed_there = self.remove_from_functions_stores(&Scope::Pattern(&parsed)).await;
        let _invalidation = FLIGHTS.void(self.slot.store, &Scope::Pattern(&parsed), self.slot.exclusive()).await;
        let removed =
            self.counted("clear_pattern", pattern, self.slot.provider.clear_pattern(&parsed).await)? + removed_there;
        self.origin().removed(pattern, removed);
        Ok(removed)
    }

    /// Removes every entry of this provider; returns how many. Computations in flight store
    /// nothing after it. The stores that functions with `max_entries` or `local` keep in place
    /// of this provider are emptied too.
    pub async fn clear(&self) -> Result<u64, CacheError> {
        let removed_there = self.remove_from_functions_stores(&Scope::All).await;
        let _invalidation = FLIGHTS.void(self.slot.store, &Scope::All, self.slot.exclusive()).await;
        let removed = self.counted("clear", "*", self.slot.provider.clear().await)? + removed_there;
        self.origin().removed("*", removed);
        Ok(removed)
    }

    /// Removes what `scope` covers from the stores that functions with `max_entries` or `local`
    /// keep in place of this provider (what reaches its entries reaches theirs), each after
    /// voiding its flights that `scope` covers; returns how many entries went.
    async fn remove_from_functions_stores(&self, scope: &Scope<'_>) -> u64 {
        let mut removed = 0;
        // One store at a time: two invalidations held at once would wait on each other's locks.
        for store in registry::bounded_of(self.slot.store) {
            let _invalidation = FLIGHTS.void(store.store, scope, store.exclusive()).await;
            let result = match scope {
                Scope::Key(key) => store.provider.delete(key).await.map(u64::from),
                Scope::Pattern(pattern) => store.provider.clear_pattern(pattern).await,
                Scope::All => store.provider.clear().await,
            };
            // Functions' own memory stores: they cannot fail.
            removed += result.unwrap_or(0);
        }
        removed
    }

    /// A snapshot of the provider's counters.
    pub fn stats(&self) -> CacheStats {
        self.slot.provider.stats()
    }

    fn counted<T>(&self, operation: &'static str, key: &str, result: Result<T, CacheError>) -> Result<T, CacheError> {
        if let Err(error) = &result {
            self.origin().failed(operation, key, error);
        }
        result
    }
}

/// The default provider (or the one [`with_provider`](crate::with_provider) put in its place).
///
/// ```
/// assert_eq!(cache_runtime::cache().name(), "default");
/// ```
pub fn cache() -> Cache {
    Cache { slot: registry::default_slot() }
}

/// The provider registered as `name`, or [`CacheError::UnknownProvider`]. Inside
/// [`with_provider`](crate::with_provider) it is that scope's provider, whatever the name.
///
/// ```
/// assert!(cache_runtime::named("nowhere").is_err());
/// ```
pub fn named(name: &str) -> Result<Cache, CacheError> {
    Ok(Cache { slot: registry::slot(name)? })
}

/// Reads `key` from the default provider; see [`Cache::get`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cache_runtime::CacheError> {
/// let user: Option<String> = cache_runtime::get("user:1").await?;
/// assert!(user.is_none());
/// # Ok(()) }
/// ```
pub async fn get<T: CacheValue>(key: &str) -> Result<Option<T>, CacheError> {
    cache().get(key).await
}

/// Stores `value` under `key` in the default provider; see [`Cache::set`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cache_runtime::CacheError> {
/// cache_runtime::set("user:1", &"Ada".to_string(), std::time::Duration::from_secs(60)).await?;
/// assert_eq!(cache_runtime::get::<String>("user:1").await?.as_deref(), Some("Ada"));
/// # Ok(()) }
/// ```
pub async fn set<T: CacheValue>(key: &str, value: &T, ttl: Duration) -> Result<(), CacheError> {
    cache().set(key, value, ttl).await
}

/// Stores `value` under `key` in the default provider, with tags; see [`Cache::set_tagged`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cache_runtime::CacheError> {
/// let ttl = std::time::Duration::from_secs(60);
/// cache_runtime::set_tagged("order:9", &"shipped".to_string(), ttl, &["user:7"]).await?;
/// # Ok(()) }
/// ```
pub async fn set_tagged<T: CacheValue, S: AsRef<str>>(
    key: &str,
    value: &T,
    ttl: Duration,
    tags: &[S],
) -> Result<(), CacheError> {
    cache().set_tagged(key, value, ttl, tags).await
}

/// Drops every entry tagged `tag`, on every provider: the default and each registered one (on
/// Redis, on every instance), however many entries carry it. Providers that do not support tags
/// (a store of your own) are skipped; the first other error is returned once every provider was
/// tried. Inside [`with_provider`](crate::with_provider), on that scope's provider only. See
/// [`Cache::invalidate_tag`] for one provider.
///
/// ```
/// #[cache_runtime::cached(key = "order:{id}", tags = ["user:{user_id}", "orders"])]
/// async fn order(id: u64, user_id: u64) -> String { format!("order {id} of {user_id}") }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cache_runtime::CacheError> {
/// order(1, 42).await;
/// cache_runtime::invalidate_tag("user:42").await?;   // order 1 is computed again
/// # Ok(()) }
/// ```
pub async fn invalidate_tag(tag: &str) -> Result<(), CacheError> {
    tags::check(tag)?;
    let mut first_error = None;
    for slot in registry::every_slot() {
        match (Cache { slot }).invalidate_tag(tag).await {
            Ok(()) | Err(CacheError::Unsupported { .. }) => {}
            Err(error) => {
                first_error.get_or_insert(error);
            }
        }
    }
    first_error.map_or(Ok(()), Err)
}

/// The start of a value written now on `slot`'s store, on its tag clock (Redis stamps its own
/// when it stores; the near cache's copy keeps the near cache's).
fn tag_clock(slot: &Slot) -> u64 {
    match &slot.backend {
        Backend::Memory(memory) => memory.tag_clock(),
        #[cfg(feature = "redis")]
        Backend::Redis(redis) => redis.near_tag_clock(),
        Backend::Other => 0,
    }
}

/// Removes `key` from the default provider; see [`Cache::delete`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cache_runtime::CacheError> {
/// assert!(!cache_runtime::delete("never-stored").await?);
/// # Ok(()) }
/// ```
pub async fn delete(key: &str) -> Result<bool, CacheError> {
    cache().delete(key).await
}

/// Whether `key` holds a live entry in the default provider.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cache_runtime::CacheError> {
/// assert!(!cache_runtime::exists("never-stored").await?);
/// # Ok(()) }
/// ```
pub async fn exists(key: &str) -> Result<bool, CacheError> {
    cache().exists(key).await
}

/// Removes the default provider's entries that match a glob; see [`Cache::clear_pattern`].
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cache_runtime::CacheError> {
/// let removed = cache_runtime::clear_pattern("user_list:*").await?;
/// # let _ = removed;
/// # Ok(()) }
/// ```
pub async fn clear_pattern(pattern: &str) -> Result<u64, CacheError> {
    cache().clear_pattern(pattern).await
}

/// Removes every entry of the default provider.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cache_runtime::CacheError> {
/// cache_runtime::clear().await?;
/// # Ok(()) }
/// ```
pub async fn clear() -> Result<u64, CacheError> {
    cache().clear().await
}

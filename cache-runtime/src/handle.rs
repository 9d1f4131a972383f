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
use crate::registry::{self, Slot};
use crate::stats::CacheStats;
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
        let found = read::<Whole, T>(&origin, &self.slot, key).await;
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

    /// Removes `key`; true when it held a live entry. A computation of `key` in flight stores
    /// nothing after it.
    pub async fn delete(&self, key: &str) -> Result<bool, CacheError> {
        let _invalidation = FLIGHTS.void(self.slot.store, &Scope::Key(key), self.slot.exclusive()).await;
        let removed = self.counted("delete", key, self.slot.provider.delete(key).await)?;
        self.origin().removed(key, u64::from(removed));
        Ok(removed)
    }

    /// Whether `key` holds a live entry.
    pub async fn exists(&self, key: &str) -> Result<bool, CacheError> {
        self.counted("exists", key, self.slot.provider.exists(key).await)
    }

    /// Removes the entries whose keys match the glob `pattern` (`*`, `?`, `[..]`, `\` escapes);
    /// returns how many. A malformed pattern is a [`CacheError::BadPattern`]. Computations in
    /// flight of keys it matches store nothing after it.
    pub async fn clear_pattern(&self, pattern: &str) -> Result<u64, CacheError> {
        let parsed = self.counted("clear_pattern", pattern, Pattern::parse(pattern))?;
        let _invalidation = FLIGHTS.void(self.slot.store, &Scope::Pattern(&parsed), self.slot.exclusive()).await;
        let removed = self.counted("clear_pattern", pattern, self.slot.provider.clear_pattern(&parsed).await)?;
        self.origin().removed(pattern, removed);
        Ok(removed)
    }

    /// Removes every entry of this provider; returns how many. Computations in flight store
    /// nothing after it.
    pub async fn clear(&self) -> Result<u64, CacheError> {
        let _invalidation = FLIGHTS.void(self.slot.store, &Scope::All, self.slot.exclusive()).await;
        let removed = self.counted("clear", "*", self.slot.provider.clear().await)?;
        self.origin().removed("*", removed);
        Ok(removed)
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

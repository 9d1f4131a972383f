//! What the macro's generated code calls: the cached call with single-flight, and invalidation.

use std::future::Future;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::OnceLock;
use std::time::Duration;

use crate::flight::{Join, FLIGHTS};
use crate::observe::{self, Origin, SiteCounters};
use crate::registry::{self, Slot};
use crate::{CacheError, CacheValue, CachedValue};

/// A `#[cached]` function: its name, its provider, and its counter handles.
pub struct CallSite {
    function: &'static str,
    provider: &'static str,
    counters: OnceLock<SiteCounters>,
    warned_unknown_provider: AtomicBool,
}

impl CallSite {
    /// A call site of `function` on the provider registered as `provider`.
    pub const fn new(function: &'static str, provider: &'static str) -> Self {
        CallSite { function, provider, counters: OnceLock::new(), warned_unknown_provider: AtomicBool::new(false) }
    }

    fn origin<'a>(&'a self, slot: &'a Slot) -> Origin<'a> {
        Origin { function: self.function, provider: &slot.name, site_counters: Some(&self.counters) }
    }
}

/// How a return type is cached: which part is kept, and how a kept value becomes a return value.
pub trait Mode<R> {
    /// The type stored.
    type Value: CacheValue;
    /// The part of `out` to store, if any.
    fn keep(out: &R) -> Option<Self::Value>;
    /// A return value from a stored one.
    fn restore(value: Self::Value) -> R;
}

/// Caches the whole return value.
pub struct Whole;
/// Caches `Ok` values of a `Result`; `Err` is returned and never stored.
pub struct OkOnly;
/// Caches `Some` values of an `Option`; `None` is returned and never stored.
pub struct SomeOnly;

impl<T: CacheValue> Mode<T> for Whole {
    type Value = T;
    fn keep(out: &T) -> Option<T> {
        Some(out.clone())
    }
    fn restore(value: T) -> T {
        value
    }
}

impl<T: CacheValue, E> Mode<Result<T, E>> for OkOnly {
    type Value = T;
    fn keep(out: &Result<T, E>) -> Option<T> {
        out.as_ref().ok().cloned()
    }
    fn restore(value: T) -> Result<T, E> {
        Ok(value)
    }
}

impl<T: CacheValue> Mode<Option<T>> for SomeOnly {
    type Value = T;
    fn keep(out: &Option<T>) -> Option<T> {
        out.clone()
    }
    fn restore(value: T) -> Option<T> {
        Some(value)
    }
}

/// How many times a caller reads the cache again because flights ended while it looked, before
/// it computes anyway.
const READ_AGAIN_LIMIT: usize = 3;

/// Runs a cached call: a hit returns the stored value; on a miss one caller per key runs `body`
/// and the others wait for its value. A cache that fails is skipped: `body` runs.
pub async fn call<M, R, F>(site: &'static CallSite, key: String, ttl: Duration, body: F) -> R
where
    M: Mode<R>,
    F: Future<Output = R>,
{
    let slot = match registry::slot(site.provider) {
        Ok(slot) => slot,
        Err(error) => {
            if !site.warned_unknown_provider.swap(true, Ordering::Relaxed) {
                tracing::warn!(target: "cache_runtime", function = site.function, "[CACHE ERROR] {error}; calls run uncached");
            }
            metrics::counter!("cache_errors_total", "function" => site.function, "provider" => site.provider, "kind" => error.kind()).increment(1);
            return body.await;
        }
    };
    let origin = site.origin(&slot);
    let mut epoch = Some(FLIGHTS.epoch());
    if let Ok(Some(value)) = read::<M::Value>(&origin, &slot, &key).await {
        return M::restore(value);
    }
    let mut body = Some(body);
    let mut reads_again = 0;
    loop {
        match FLIGHTS.join(slot.store, &key, epoch) {
            Join::Leader(leader) => {
                let body = body.take().expect("a caller leads at most once");
                let out = body.await;
                if let Some(kept) = M::keep(&out) {
                    let value = CachedValue::new(kept);
                    leader.publish(value.clone());
                    store(&origin, &slot, &key, value, ttl).await;
                }
                return out;
            }
            Join::Wait(waiter) => {
                if let Some(value) = waiter.wait().await {
                    match value.to_typed::<M::Value>(&key) {
                        Ok(value) => return M::restore(value),
                        Err(error) => {
                            slot.provider.counters().record_error();
                            observe::error(&origin, "join", &key, &error);
                        }
                    }
                }
                // The leader ended without a value: start over, one of us leads next.
            }
            Join::ReadAgain => {
                reads_again += 1;
                epoch = (reads_again < READ_AGAIN_LIMIT).then(|| FLIGHTS.epoch());
                if let Ok(Some(value)) = read::<M::Value>(&origin, &slot, &key).await {
                    return M::restore(value);
                }
            }
        }
    }
}

/// Removes the entry of a cached function; true when there was one.
pub async fn invalidate(function: &'static str, provider: &'static str, key: String) -> bool {
    let slot = match registry::slot(provider) {
        Ok(slot) => slot,
        Err(error) => {
            tracing::warn!(target: "cache_runtime", function, "[CACHE ERROR] {error}");
            return false;
        }
    };
    let origin = Origin { function, provider: &slot.name, site_counters: None };
    match slot.provider.delete(&key).await {
        Ok(removed) => {
            slot.provider.counters().record_deletes(u64::from(removed));
            observe::invalidate(&origin, &key, u64::from(removed));
            removed
        }
        Err(error) => {
            slot.provider.counters().record_error();
            observe::error(&origin, "delete", &key, &error);
            false
        }
    }
}

/// Reads `key` as a `V`. An entry that cannot be used (it does not decode as a `V`, or the store
/// says it is not ours) is a miss; a store that fails is an error. Both are counted and logged.
pub(crate) async fn read<V: CacheValue>(origin: &Origin<'_>, slot: &Slot, key: &str) -> Result<Option<V>, CacheError> {
    let counters = slot.provider.counters();
    let found = match slot.provider.as_memory() {
        Some(memory) => Ok(memory.get_direct(key).await),
        None => slot.provider.get(key).await,
    };
    let error = match found {
        Ok(Some(value)) => match value.to_typed::<V>(key) {
            Ok(typed) => {
                counters.record_hit();
                observe::hit(origin, key, value.stored_at());
                return Ok(Some(typed));
            }
            Err(error) => error,
        },
        Ok(None) => {
            counters.record_miss();
            observe::miss(origin, key);
            return Ok(None);
        }
        Err(error) => error,
    };
    counters.record_error();
    counters.record_miss();
    observe::error(origin, "get", key, &error);
    observe::miss(origin, key);
    if error.is_unusable_entry() {
        Ok(None)
    } else {
        Err(error)
    }
}

/// Stores `value`; a failure is counted and logged, never returned.
pub(crate) async fn store(origin: &Origin<'_>, slot: &Slot, key: &str, value: CachedValue, ttl: Duration) {
    if ttl.is_zero() {
        tracing::debug!(target: "cache_runtime", function = origin.function, "[CACHE SKIP] key={key}: a ttl of zero stores nothing");
        return;
    }
    match slot.provider.set(key, value, ttl).await {
        Ok(()) => {
            slot.provider.counters().record_set();
            observe::store(origin, key, ttl);
        }
        Err(error) => {
            slot.provider.counters().record_error();
            observe::error(origin, "set", key, &error);
        }
    }
}

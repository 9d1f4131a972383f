//! What the macro's generated code calls: the cached call and the invalidation helper.
//!
//! A call reads the store once. A hit returns. A miss joins the key's flight (see
//! [`flight`](crate::flight)): the leader runs the body under a lease, the others receive its
//! value. On Redis the leader also takes the lease in Redis, so that one instance of a fleet
//! computes a cold key and the others wait for its value (see [`redis`](crate::redis)).

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::time::Instant;

use crate::error::CacheError;
use crate::flight::{Join, Leader, Scope, Waited, FLIGHTS};
use crate::key::Pattern;
use crate::key_builder::{KeyBuilder, KeyText};
use crate::observe::{self, Origin, SiteCounters};
use crate::outcome::{self, Outcome, StaleReason};
#[cfg(feature = "redis")]
use crate::redis::{Acquired, Lease, NearTicket};
use crate::registry::{self, Backend, Slot};
use crate::tags::{TagList, TagSource, Tagging};
use crate::value::{CacheValue, CachedValue, LocalValue};

/// A `#[cached]` function (or one of its companions): its name, its provider, its bound, and its
/// metric handles.
pub struct CallSite {
    function: &'static str,
    provider: &'static str,
    /// Whether `provider` is `"default"`, found when the site is compiled.
    default_provider: bool,
    /// The default provider, without a bound or local values of the function's own: a hit reads
    /// this thread's copy of the default's slot. Kept by the constructors, checked by every call.
    plain: bool,
    /// `max_entries`: on a memory store, the function keeps its entries in a store of its own
    /// bounded to this many (see [`registry::bounded`]).
    max_entries: Option<u64>,
    /// What tells this function's bounded store from another's: see [`CallSite::max_entries`].
    bounded_as: &'static str,
    /// `local`: the values never leave the process; on a provider that is not a memory store,
    /// the function keeps its entries in a memory store of its own.
    local: bool,
    counters: OnceLock<SiteCounters>,
    warned_unknown_provider: AtomicBool,
}

impl CallSite {
    /// A call site of `function` on the provider registered as `provider`.
    pub const fn new(function: &'static str, provider: &'static str) -> Self {
        CallSite {
            function,
            provider,
            default_provider: registry::is_default(provider),
            plain: registry::is_default(provider),
            max_entries: None,
            bounded_as: function,
            local: false,
            counters: OnceLock::new(),
            warned_unknown_provider: AtomicBool::new(false),
        }
    }

    /// The same site, its entries bounded to `max_entries` where they are kept in memory, in the
    /// bounded store named `bounded_as`: one per function (its label alone is shared by two
    /// methods of one name in one module), the same for the function and its companions.
    pub const fn max_entries(mut self, max_entries: u64, bounded_as: &'static str) -> Self {
        self.max_entries = Some(max_entries);
        self.bounded_as = bounded_as;
        self.plain = false;
        self
    }

    /// The same site, its values local: kept in memory, whatever the provider (in the function's
    /// own store named `bounded_as` where the provider is not a memory store).
    pub const fn local(mut self, bounded_as: &'static str) -> Self {
        self.local = true;
        self.bounded_as = bounded_as;
        self.plain = false;
        self
    }

    /// The slot of this site's provider; an unknown name is counted, logged once, and `None`.
    /// With `max_entries`, a memory store gives way to the function's own bounded store; Redis
    /// (and a store of the user's) is used as it is, unless the values are local: then the
    /// function keeps its entries in a memory store of its own in place of that provider, bounded
    /// to `max_entries` or [`MemoryProvider::DEFAULT_CAPACITY`](crate::MemoryProvider::DEFAULT_CAPACITY).
    #[inline]
    pub(crate) fn slot(&self) -> Option<Arc<Slot>> {
        match registry::slot_of(self.provider, self.default_provider) {
            Ok(slot) => match (self.max_entries, &slot.backend) {
                (Some(max_entries), Backend::Memory(_)) => Some(registry::bounded(self.bounded_as, &slot, max_entries)),
                (_, Backend::Memory(_)) => Some(slot),
                (max_entries, _) if self.local => Some(registry::bounded(
                    self.bounded_as,
                    &slot,
                    max_entries.unwrap_or(crate::MemoryProvider::DEFAULT_CAPACITY),
                )),
                _ => Some(slot),
            },
            Err(error) => {
                let first = !self.warned_unknown_provider.swap(true, Ordering::Relaxed);
                observe::unknown_provider(self.function, self.provider, &error, first);
                None
            }
        }
    }

    /// The function's name, as its metrics and logs label it.
    pub(crate) fn function(&self) -> &'static str {
        self.function
    }

    #[inline]
    pub(crate) fn origin<'a>(&'a self, slot: &'a Slot) -> Origin<'a> {
        Origin {
            function: self.function,
            provider: &slot.name,
            counters: slot.provider.counters(),
            handles: Some(&self.counters),
        }
    }
}

/// How a return type is cached: which part is kept, how a kept value becomes a return value, and
/// how it is stored (serde values as typed objects that a store may encode, local values as
/// objects that never leave the process).
pub trait Mode<R> {
    /// The type stored.
    type Value: Clone + Send + Sync + 'static;
    /// The part of `out` to store, if any.
    fn keep(out: &R) -> Option<Self::Value>;
    /// A return value from a stored one.
    fn restore(value: Self::Value) -> R;
    /// The value as a store takes it.
    fn wrap(value: Self::Value) -> CachedValue;
    /// A stored value as a `Value`: a clone, or a decode.
    fn typed<K: KeyText + ?Sized>(found: &CachedValue, key: &K) -> Result<Self::Value, CacheError>;
    /// Why a stale value is served in place of a return value that is not kept.
    const FAILURE: StaleReason = StaleReason::Error;
    /// Whether `out` would be kept, without the clone [`keep`](Self::keep) makes.
    fn kept(out: &R) -> bool {
        Self::keep(out).is_some()
    }
}

/// Caches the whole return value.
pub struct Whole;
/// Caches `Ok` values of a `Result`; `Err` is returned and never stored.
pub struct OkOnly;
/// Caches `Some` values of an `Option`; `None` is returned and never stored.
pub struct SomeOnly;
/// [`Whole`], for values that are local (`#[cached(local)]`): [`LocalValue`], not serde.
pub struct LocalWhole;
/// [`OkOnly`], for local values.
pub struct LocalOkOnly;
/// [`SomeOnly`], for local values.
pub struct LocalSomeOnly;

// The impls are written out rather than generated: rustc quotes them in the error about a type
// that cannot be cached, and a `macro_rules!` would add its invocation to every such error.

impl<T: CacheValue> Mode<T> for Whole {
    type Value = T;
    fn keep(out: &T) -> Option<T> {
        Some(out.clone())
    }
    fn restore(value: T) -> T {
        value
    }
    fn wrap(value: T) -> CachedValue {
        CachedValue::new(value)
    }
    #[inline]
    fn typed<K: KeyText + ?Sized>(found: &CachedValue, key: &K) -> Result<T, CacheError> {
        found.to_typed::<T, K>(key)
    }
}

impl<T: CacheValue, E> Mode<Result<T, E>> for OkOnly {
    type Value = T;
    fn kept(out: &Result<T, E>) -> bool {
        out.is_ok()
    }
    fn keep(out: &Result<T, E>) -> Option<T> {
        out.as_ref().ok().cloned()
    }
    fn restore(value: T) -> Result<T, E> {
        Ok(value)
    }
    fn wrap(value: T) -> CachedValue {
        CachedValue::new(value)
    }
    #[inline]
    fn typed<K: KeyText + ?Sized>(found: &CachedValue, key: &K) -> Result<T, CacheError> {
        found.to_typed::<T, K>(key)
    }
}

impl<T: CacheValue> Mode<Option<T>> for SomeOnly {
    type Value = T;
    const FAILURE: StaleReason = StaleReason::None;
    fn kept(out: &Option<T>) -> bool {
        out.is_some()
    }
    fn keep(out: &Option<T>) -> Option<T> {
        out.clone()
    }
    fn restore(value: T) -> Option<T> {
        Some(value)
    }
    fn wrap(value: T) -> CachedValue {
        CachedValue::new(value)
    }
    #[inline]
    fn typed<K: KeyText + ?Sized>(found: &CachedValue, key: &K) -> Result<T, CacheError> {
        found.to_typed::<T, K>(key)
    }
}

impl<T: LocalValue> Mode<T> for LocalWhole {
    type Value = T;
    fn keep(out: &T) -> Option<T> {
        Some(out.clone())
    }
    fn restore(value: T) -> T {
        value
    }
    fn wrap(value: T) -> CachedValue {
        CachedValue::local(value)
    }
    #[inline]
    fn typed<K: KeyText + ?Sized>(found: &CachedValue, key: &K) -> Result<T, CacheError> {
        found.to_local::<T, K>(key)
    }
}

impl<T: LocalValue, E> Mode<Result<T, E>> for LocalOkOnly {
    type Value = T;
    fn kept(out: &Result<T, E>) -> bool {
        out.is_ok()
    }
    fn keep(out: &Result<T, E>) -> Option<T> {
        out.as_ref().ok().cloned()
    }
    fn restore(value: T) -> Result<T, E> {
        Ok(value)
    }
    fn wrap(value: T) -> CachedValue {
        CachedValue::local(value)
    }
    #[inline]
    fn typed<K: KeyText + ?Sized>(found: &CachedValue, key: &K) -> Result<T, CacheError> {
        found.to_local::<T, K>(key)
    }
}

impl<T: LocalValue> Mode<Option<T>> for LocalSomeOnly {
    type Value = T;
    const FAILURE: StaleReason = StaleReason::None;
    fn kept(out: &Option<T>) -> bool {
        out.is_some()
    }
    fn keep(out: &Option<T>) -> Option<T> {
        out.clone()
    }
    fn restore(value: T) -> Option<T> {
        Some(value)
    }
    fn wrap(value: T) -> CachedValue {
        CachedValue::local(value)
    }
    #[inline]
    fn typed<K: KeyText + ?Sized>(found: &CachedValue, key: &K) -> Result<T, CacheError> {
        found.to_local::<T, K>(key)
    }
}

/// What [`call`] returns: the value at once (a hit on the memory store, found before any future
/// was built), or the rest of the call, to await.
pub enum Called<R, L> {
    /// The value.
    Done(R),
    /// The rest of the call: a read of another store, or a miss.
    Later(L),
}

/// Runs a cached call: a hit returns the stored value; on a miss one caller per key runs `body`
/// and the others wait for its value. A cache that fails is skipped: `body` runs.
///
/// A hit on the memory store is answered here, synchronously: no future of the call is built or
/// moved, and the key stays in the caller's buffer. Anything else is [`Called::Later`], a boxed
/// future (one allocation, as the miss path always took). `cache_if`, when given, decides whether
/// a value is stored. With `refresh` (`<fn>_refresh`) the call is a refresh (see `refresh` in
/// this module): one entry point for both, so that a type that cannot be cached is reported once.
#[inline]
pub fn call<M, R, F, T>(
    site: &'static CallSite,
    key: KeyBuilder,
    tags: T,
    ttl: Duration,
    cache_if: Option<fn(&M::Value) -> bool>,
    refresh: bool,
    body: F,
) -> Called<R, Pin<Box<impl Future<Output = R>>>>
where
    M: Mode<R>,
    F: Future<Output = R>,
    T: TagSource,
{
    let probe = match refresh {
        true => Probe::Refresh,
        false => {
            // The default provider, registered: read through this thread's copy of its slot,
            // which a hit does not even clone.
            let fast =
                if site.plain { registry::with_local_default(|slot| look::<M, R>(site, slot, &key)) } else { None };
            if let Some(Looked::Hit(value)) = fast {
                outcome::hit();
                return Called::Done(M::restore(value));
            }
            match site.slot() {
                None => Probe::NoStore,
                Some(slot) => match fast.unwrap_or_else(|| look::<M, R>(site, &slot, &key)) {
                    Looked::Hit(value) => {
                        outcome::hit();
                        return Called::Done(M::restore(value));
                    }
                    Looked::Empty => Probe::Read(slot, Read::Empty),
                    Looked::Unusable => Probe::Read(slot, Read::Unusable),
                    Looked::NotMemory => Probe::Unread(slot),
                },
            }
        }
    };
    Called::Later(Box::pin(later::<M, R, F, T>(site, probe, key, tags, ttl, cache_if, body)))
}

/// What [`look`] found: small, so that a hit moves nothing but its value.
enum Looked<V> {
    Hit(V),
    Empty,
    /// An entry this call cannot use (counted and logged).
    Unusable,
    /// The store is not the memory store: the future reads it.
    NotMemory,
}

/// Reads the memory store of `slot` at once; a hit and an unusable entry are counted and logged.
#[inline(always)]
fn look<M: Mode<R>, R>(site: &CallSite, slot: &Slot, key: &KeyBuilder) -> Looked<M::Value> {
    let Backend::Memory(memory) = &slot.backend else { return look_near::<M, R>(site, slot, key) };
    // The value is read in place, under the store's lock: only the typed clone is made there, the
    // hit is counted and logged after.
    let found =
        memory.read_direct(key.as_bytes(), |found| found.map(|found| (M::typed(found, key), found.stored_at_ms())));
    match found {
        None => Looked::Empty,
        Some((Ok(value), stored_at_ms)) => {
            let counters = crate::CacheProvider::counters(memory);
            observe::memory_hit(&site.counters, counters, || site.origin(slot), key, stored_at_ms);
            Looked::Hit(value)
        }
        Some((Err(error), _)) => {
            unusable(&site.origin(slot), key.key_text(), error);
            Looked::Unusable
        }
    }
}

/// Reads the near cache of a Redis provider at once, when it has one that serves: a hit is
/// counted and logged (as a hit, and as a near hit); anything else reads Redis.
#[inline]
#[cfg_attr(not(feature = "redis"), allow(unused_variables))]
fn look_near<M: Mode<R>, R>(site: &CallSite, slot: &Slot, key: &KeyBuilder) -> Looked<M::Value> {
    #[cfg(feature = "redis")]
    if let Backend::Redis(redis) = &slot.backend {
        if let Some(found) = redis.near_serving().and_then(|near| near.get_direct(key.as_bytes())) {
            if let Ok(value) = M::typed(&found, key) {
                site.origin(slot).near_hit(key, &found);
                redis.near_hit();
                return Looked::Hit(value);
            }
        }
    }
    Looked::NotMemory
}

/// How far [`call`] got before it needed a future.
enum Probe<V> {
    /// A refresh: it reads nothing.
    Refresh,
    /// The provider is unknown (counted and logged): the body runs.
    NoStore,
    /// The memory store was read, and had no usable entry.
    Read(Arc<Slot>, Read<V>),
    /// A store that is read asynchronously.
    Unread(Arc<Slot>),
}

/// The rest of a call that [`call`] could not answer at once.
async fn later<M, R, F, T>(
    site: &'static CallSite,
    probe: Probe<M::Value>,
    key: KeyBuilder,
    tags: T,
    ttl: Duration,
    cache_if: Option<fn(&M::Value) -> bool>,
    body: F,
) -> R
where
    M: Mode<R>,
    F: Future<Output = R>,
    T: TagSource,
{
    let (slot, read) = match probe {
        Probe::Refresh => return Box::pin(refresh::<M, R, F>(site, key, tags.into_list(), ttl, cache_if, body)).await,
        Probe::NoStore => {
            outcome::record(Outcome::Bypass);
            return body.await;
        }
        Probe::Read(slot, read) => (slot, read),
        Probe::Unread(slot) => {
            let read = Box::pin(read::<M, R>(&site.origin(&slot), &slot, key.as_str(), T::TAGGED)).await;
            (slot, read)
        }
    };
    match read {
        Read::Hit(value) => {
            outcome::record(Outcome::Hit);
            M::restore(value)
        }
        read => missed::<M, R, F>(site, slot, key.as_str(), tags.into_list(), ttl, cache_if, body, read).await,
    }
}

/// A call that found no usable entry: it joins the key's flight, or leads it.
// Each argument is a part of the call that the miss carries on; a struct would only rename them.
#[allow(clippy::too_many_arguments)]
pub(crate) async fn missed<M, R, F>(
    site: &'static CallSite,
    slot: Arc<Slot>,
    key: &str,
    tags: Option<TagList>,
    ttl: Duration,
    cache_if: Option<fn(&M::Value) -> bool>,
    body: F,
    read: Read<M::Value>,
) -> R
where
    M: Mode<R>,
    F: Future<Output = R>,
{
    let origin = site.origin(&slot);
    // The store failed: the call goes on without it.
    let computed = if matches!(read, Read::Failed(_)) { Outcome::Bypass } else { Outcome::Miss };
    match settle::<M, R>(&origin, &slot, key, tags, &read).await {
        Settled::Value(value) => {
            origin.joined(key);
            outcome::record(Outcome::Joined);
            M::restore(value)
        }
        Settled::Lead(lead) => {
            origin.miss(key);
            outcome::record(computed);
            lead.compute::<M, R, F>(&origin, &slot, key, ttl, cache_if, body).await
        }
        Settled::Alone => {
            origin.miss(key);
            outcome::record(computed);
            body.await
        }
    }
}

/// `<fn>_refresh`: runs `body` and stores its value under `key`, whatever the store holds.
///
/// A refresh leads a flight of its own and never waits for one: a computation of the key already
/// running may have read what the refresh is meant to replace, so the refresh voids it, as an
/// invalidation does (it stores nothing, its waiters start over), and then leads. Callers that
/// miss the key meanwhile join the refresh and receive its value. The invalidation rules hold for
/// the refresh itself: an invalidation while it computes voids it, and it stores nothing. The
/// entry in place stays readable until the refresh stores over it; on Redis it is deleted first,
/// which is how the computations of other instances are voided.
async fn refresh<M, R, F>(
    site: &'static CallSite,
    key: KeyBuilder,
    tags: Option<TagList>,
    ttl: Duration,
    cache_if: Option<fn(&M::Value) -> bool>,
    body: F,
) -> R
where
    M: Mode<R>,
    F: Future<Output = R>,
{
    let Some(slot) = site.slot() else { return body.await };
    let origin = site.origin(&slot);
    let key = key.finish();
    let leader = loop {
        let invalidation = FLIGHTS.void(slot.store, &Scope::Key(&key), slot.exclusive()).await;
        #[cfg(feature = "redis")]
        if let Backend::Redis(_) = &slot.backend {
            if let Err(error) = slot.provider.delete(&key).await {
                origin.failed("delete", &key, &error);
            }
        }
        // A caller that missed between the void and this join started a flight: void it too.
        if let Join::Lead(leader) = FLIGHTS.join(slot.store, &key) {
            drop(invalidation);
            break leader;
        }
    };
    // Not a read that found nothing, so that the lease does not look for a value again.
    let right =
        match lease::<M::Value>(&origin, &slot, &key, &Read::Unusable, &mut || Instant::now() + slot.max_wait).await {
            Leased::Right(right) => right,
            // Only a lease that looks again returns a value.
            Leased::Value(_) => StoreRight::Detached,
        };
    let mut leader = leader;
    if matches!(right, StoreRight::Detached) {
        leader.detach();
    }
    origin.miss(&key);
    outcome::record(Outcome::Miss);
    let mut right = right;
    let tagging = stamp(&slot, &mut right, tags).await;
    Lead { leader, right, replaces: true, tagging }.compute::<M, R, F>(&origin, &slot, &key, ttl, cache_if, body).await
}

/// Removes the entry of a cached function; true when there was one. Computations of the key in
/// flight store nothing and hand their value to no one (see the `flight` module).
pub async fn invalidate(site: &'static CallSite, key: String) -> bool {
    let Some(slot) = site.slot() else { return false };
    let origin =
        Origin { function: site.function, provider: &slot.name, counters: slot.provider.counters(), handles: None };
    let _invalidation = FLIGHTS.void(slot.store, &Scope::Key(&key), slot.exclusive()).await;
    match slot.provider.delete(&key).await {
        Ok(removed) => {
            origin.removed(&key, u64::from(removed));
            removed
        }
        Err(error) => {
            origin.failed("delete", &key, &error);
            false
        }
    }
}

/// `<fn>_clear`: removes every entry whose key matches `pattern` on the function's store; returns
/// how many (0 when the store failed: logged and counted). Computations in flight of keys it
/// covers store nothing after it.
pub async fn clear(site: &'static CallSite, pattern: String) -> u64 {
    let Some(slot) = site.slot() else { return 0 };
    let origin =
        Origin { function: site.function, provider: &slot.name, counters: slot.provider.counters(), handles: None };
    let parsed = match Pattern::parse(&pattern) {
        Ok(parsed) => parsed,
        Err(error) => {
            origin.failed("clear_pattern", &pattern, &error);
            return 0;
        }
    };
    let _invalidation = FLIGHTS.void(slot.store, &Scope::Pattern(&parsed), slot.exclusive()).await;
    match slot.provider.clear_pattern(&parsed).await {
        Ok(removed) => {
            origin.removed(&pattern, removed);
            removed
        }
        Err(error) => {
            origin.failed("clear_pattern", &pattern, &error);
            0
        }
    }
}

/// What one read of the store found.
pub(crate) enum Read<V> {
    Hit(V),
    /// No entry.
    Empty,
    /// An entry that cannot be used (another type, a format that is not ours): counted, a miss.
    Unusable,
    /// The store failed: counted.
    Failed(CacheError),
}

/// Reads `key` as a `V`; a hit, an unusable entry and a failure are counted and logged here.
///
/// `tagged`: the caller's function has tags, so a Redis read checks their marks in its round trip
/// (see [`RedisProvider::read`](crate::RedisProvider)).
#[cfg_attr(not(feature = "redis"), allow(unused_variables))]
pub(crate) async fn read<M: Mode<R>, R>(origin: &Origin<'_>, slot: &Slot, key: &str, tagged: bool) -> Read<M::Value> {
    let found = match &slot.backend {
        // Read in place, under the store's lock: only the typed clone is made there, the hit is
        // counted and logged after.
        Backend::Memory(memory) => {
            let found = memory
                .read_direct(key.as_bytes(), |found| found.map(|found| (M::typed(found, key), found.stored_at_ms())));
            return match found {
                Some((Ok(value), stored_at_ms)) => {
                    origin.hit_stored_at(key, stored_at_ms);
                    Read::Hit(value)
                }
                Some((Err(error), _)) => failed(origin, key, error),
                None => Read::Empty,
            };
        }
        #[cfg(feature = "redis")]
        Backend::Redis(redis) => {
            if let Some(found) = redis.near_serving().and_then(|near| near.get_direct(key.as_bytes())) {
                if let Ok(value) = M::typed(&found, key) {
                    origin.near_hit(key, &found);
                    redis.near_hit();
                    return Read::Hit(value);
                }
            }
            // With a near cache, what Redis holds goes there, as the value this call uses (a
            // decoded value, not bytes), so that the next hit is a memory hit.
            let (found, fill) = Box::pin(redis.get_filling(key, redis.op_timeout(), tagged)).await;
            // The copy keeps the tags and start of what Redis holds, for the near cache's marks.
            let tagging = found.as_ref().ok().and_then(|found| found.as_ref()?.tagging().cloned());
            let read = typed::<M, R>(origin, key, found);
            if let (Read::Hit(value), Some(fill)) = (&read, fill) {
                redis.fill_near(fill, key, M::wrap(value.clone()).tagged(tagging));
            }
            return read;
        }
        Backend::Other => slot.provider.get(key).await,
    };
    typed::<M, R>(origin, key, found)
}

/// What a read found, as a `V`; counted and logged.
fn typed<M: Mode<R>, R>(
    origin: &Origin<'_>,
    key: &str,
    found: Result<Option<CachedValue>, CacheError>,
) -> Read<M::Value> {
    match found {
        Ok(Some(found)) => usable::<M, R, _>(origin, key, &found),
        Ok(None) => Read::Empty,
        Err(error) => failed(origin, key, error),
    }
}

/// A value found under `key`, as a `V` (a hit), or an unusable entry; counted and logged. The
/// key's text is made only for a log line or an error.
#[inline]
fn usable<M: Mode<R>, R, K: KeyText + ?Sized>(origin: &Origin<'_>, key: &K, found: &CachedValue) -> Read<M::Value> {
    match M::typed(found, key) {
        Ok(typed) => {
            origin.hit(key, found);
            Read::Hit(typed)
        }
        Err(error) => failed(origin, key.key_text(), error),
    }
}

/// An entry of the memory store this call cannot use: counted and logged. The memory store
/// treats every such error alike (the call computes and stores over the entry).
#[cold]
fn unusable(origin: &Origin<'_>, key: &str, error: CacheError) {
    origin.failed("get", key, &error);
}

/// A read that failed, or found an entry this call cannot use: counted and logged.
#[cold]
pub(crate) fn failed<V>(origin: &Origin<'_>, key: &str, error: CacheError) -> Read<V> {
    origin.failed("get", key, &error);
    if error.is_unusable_entry() {
        Read::Unusable
    } else {
        Read::Failed(error)
    }
}

/// Reads `key` again after a leader stored it, without counting the read: the caller counts as
/// joined if it finds the value. Anything else (nothing there, an error) reads as nothing.
pub(crate) async fn read_again<M: Mode<R>, R>(slot: &Slot, key: &str) -> Option<M::Value> {
    let found = match &slot.backend {
        Backend::Memory(memory) => memory.get_direct(key.as_bytes()),
        #[cfg(feature = "redis")]
        Backend::Redis(redis) => match redis.near_serving().and_then(|near| near.get_direct(key.as_bytes())) {
            Some(found) => Some(found),
            None => Box::pin(redis.get_within(key, redis.op_timeout(), false)).await.ok().flatten(),
        },
        Backend::Other => slot.provider.get(key).await.ok().flatten(),
    };
    found.and_then(|value| M::typed(&value, key).ok())
}

/// How a call that missed goes on.
pub(crate) enum Settled<V> {
    /// Another caller's value.
    Value(V),
    /// This caller computes, as the leader of the key's flight.
    Lead(Lead),
    /// This caller computes for itself: it stores nothing and hands its value to no one.
    Alone,
}

/// A leader, and where it may store what it computes.
pub(crate) struct Lead {
    pub(crate) leader: Leader,
    pub(crate) right: StoreRight,
    /// A refresh: the value is to replace the entry, so a value `cache_if` refuses removes it
    /// rather than leave the one from before the refresh in place.
    pub(crate) replaces: bool,
    /// The call's tags, and the start of its computation on the store's tag clock, read before
    /// the body runs (see [`tags`](crate::tags)).
    pub(crate) tagging: Option<Tagging>,
}

/// The tagging of a value about to be computed under `right`: the start is the tag clock of the
/// store it goes to, now.
pub(crate) async fn stamp(slot: &Slot, right: &mut StoreRight, tags: Option<TagList>) -> Option<Tagging> {
    let list = tags?;
    let start = match (right, &slot.backend) {
        (StoreRight::Local, Backend::Memory(memory)) => memory.tag_clock(),
        #[cfg(feature = "redis")]
        (StoreRight::Fleet(lease), _) => Box::pin(lease.tag_start()).await,
        #[cfg(feature = "redis")]
        (StoreRight::HandOut(_), Backend::Redis(redis)) => redis.near_tag_clock(),
        _ => 0,
    };
    Some(Tagging { start, list })
}

/// What a leader may do with its value.
pub(crate) enum StoreRight {
    /// Store it through the provider; the flight is the lease (one process owns the store).
    Local,
    /// Store it in Redis under this lease, which an invalidation on any instance voids. Boxed:
    /// a lead is moved on every miss, and the memory store's leads have no lease.
    #[cfg(feature = "redis")]
    Fleet(Box<Lease>),
    /// Hand it to this process's waiters only: Redis is unavailable from here (the one
    /// exception to "an invalidation wins": an invalidation that cannot reach Redis cannot reach
    /// this flight either). A near cache keeps it too, if no removal of the key reached it since
    /// the ticket was taken, before the body started.
    #[cfg(feature = "redis")]
    HandOut(Option<NearTicket>),
    /// Hand it to this process's waiters only if the lease another instance holds is still the
    /// one it held when this leader started: were it voided by an invalidation, a waiter may have
    /// come after that.
    #[cfg(feature = "redis")]
    HandOutIfHeld(String),
    /// Keep it: the flight was detached when the body started, and its waiters compute for
    /// themselves.
    Detached,
}

/// Joins the key's flight until this caller has a value or leads; waits are bounded by the
/// slot's `max_wait` in all.
async fn settle<M: Mode<R>, R>(
    origin: &Origin<'_>,
    slot: &Slot,
    key: &str,
    tags: Option<TagList>,
    read: &Read<M::Value>,
) -> Settled<M::Value> {
    // `max_wait` from the first wait (or Redis lease) on: a leader on the memory store never
    // waits, and does not read the clock for it.
    let mut first_wait = None;
    let mut deadline = || *first_wait.get_or_insert_with(|| Instant::now() + slot.max_wait);
    loop {
        let leader = match FLIGHTS.join(slot.store, key) {
            Join::Lead(leader) => leader,
            Join::Cycle => {
                origin.recursion(key);
                return Settled::Alone;
            }
            Join::AfterStore(stored) => {
                // Whatever the leader hands out, this caller reads what the store holds.
                let _ = stored.wait(deadline().saturating_duration_since(Instant::now())).await;
                match read_again::<M, R>(slot, key).await {
                    Some(value) => return Settled::Value(value),
                    None => continue,
                }
            }
            Join::Wait(waiter) => match waiter.wait(deadline().saturating_duration_since(Instant::now())).await {
                Waited::Value(value) => match M::typed(&value, key) {
                    Ok(value) => return Settled::Value(value),
                    Err(error) => {
                        // Another function stores another type under this key: compute once.
                        origin.failed("join", key, &error);
                        return Settled::Alone;
                    }
                },
                // Another instance stored the value: every waiter reads it at once.
                Waited::InStore => match read_again::<M, R>(slot, key).await {
                    Some(value) => return Settled::Value(value),
                    None => continue,
                },
                // The leader ended without a value: start over, one of the waiters leads next.
                Waited::NoValue | Waited::Failed(_) => continue,
                Waited::TimedOut => {
                    origin.wait_timed_out(key, slot.max_wait);
                    return Settled::Alone;
                }
            },
        };
        let right = match lease(origin, slot, key, read, &mut deadline).await {
            // Not handed to this flight's waiters: a read of the store is this caller's alone (an
            // invalidation may remove the value right after it, and a waiter may come after
            // that). They start over and read the store themselves.
            Leased::Value(value) => match M::typed(&value, key) {
                Ok(typed) => {
                    let mut leader = leader;
                    leader.send_to_store();
                    return Settled::Value(typed);
                }
                Err(error) => {
                    origin.failed("get", key, &error);
                    StoreRight::Detached
                }
            },
            Leased::Right(right) => right,
        };
        let mut leader = leader;
        if matches!(right, StoreRight::Detached) {
            leader.detach();
        }
        let mut right = right;
        let tagging = stamp(slot, &mut right, tags).await;
        return Settled::Lead(Lead { leader, right, replaces: false, tagging });
    }
}

/// What a new leader finds when it takes its lease.
pub(crate) enum Leased {
    /// A value stored since the caller read the store.
    Value(CachedValue),
    /// The key is still cold: compute, and store as this says.
    Right(StoreRight),
}

/// Takes the lease of a new leader, and looks again for a value stored since the caller read the
/// store (the leader of a flight that ended meanwhile stored it): on Redis in one script, on
/// another store by a second read, which is not counted.
#[cfg_attr(not(feature = "redis"), allow(unused_variables))]
pub(crate) async fn lease<V>(
    origin: &Origin<'_>,
    slot: &Slot,
    key: &str,
    read: &Read<V>,
    deadline: &mut impl FnMut() -> Instant,
) -> Leased {
    let look_again = matches!(read, Read::Empty);
    match &slot.backend {
        // Redis did not answer the read: the lease is skipped, and so is the write.
        #[cfg(feature = "redis")]
        Backend::Redis(redis) if matches!(read, Read::Failed(_)) => redis_unavailable(redis, key),
        #[cfg(feature = "redis")]
        Backend::Redis(redis) => {
            match Box::pin(redis.acquire(key, look_again, deadline())).await {
                Ok(Acquired::Value(value)) => Leased::Value(value),
                Ok(Acquired::Leased(lease)) => Leased::Right(StoreRight::Fleet(Box::new(lease))),
                Ok(Acquired::TimedOut { holder }) => {
                    origin.wait_timed_out(key, slot.max_wait);
                    Leased::Right(holder.map_or(StoreRight::Detached, StoreRight::HandOutIfHeld))
                }
                Ok(Acquired::Held { holder }) => {
                    Leased::Right(holder.map_or(StoreRight::Detached, StoreRight::HandOutIfHeld))
                }
                Ok(Acquired::Foreign) => Leased::Right(StoreRight::Detached),
                Err(error) => {
                    // The lease is skipped while Redis is unavailable; the call still computes.
                    origin.failed("lease", key, &error);
                    redis_unavailable(redis, key)
                }
            }
        }
        Backend::Memory(memory) if look_again => match memory.get_direct(key.as_bytes()) {
            Some(value) => Leased::Value(value),
            None => Leased::Right(StoreRight::Local),
        },
        Backend::Other if look_again => match slot.provider.get(key).await {
            Ok(Some(value)) => Leased::Value(value),
            _ => Leased::Right(StoreRight::Local),
        },
        _ => Leased::Right(StoreRight::Local),
    }
}

/// A new leader's right when Redis does not answer: hand out only, and keep in the near cache
/// if there is one. A leader of a flight that ended meanwhile may have kept its value there: it
/// is looked for again, after the ticket is taken.
#[cfg(feature = "redis")]
fn redis_unavailable(redis: &crate::RedisProvider, key: &str) -> Leased {
    let ticket = redis.near_ticket(key);
    match ticket.and_then(|_| redis.near_serving()?.get_direct(key.as_bytes())) {
        Some(value) => Leased::Value(value),
        None => Leased::Right(StoreRight::HandOut(ticket)),
    }
}

impl Lead {
    /// Runs `body` as the leader, stores what `M` keeps of its value unless `cache_if` refuses
    /// it, and returns the value. A refused value is counted and handed to the callers that
    /// joined (it is as fresh as a stored one), never stored.
    async fn compute<M, R, F>(
        mut self,
        origin: &Origin<'_>,
        slot: &Slot,
        key: &str,
        ttl: Duration,
        cache_if: Option<fn(&M::Value) -> bool>,
        body: F,
    ) -> R
    where
        M: Mode<R>,
        F: Future<Output = R>,
    {
        let out = self.run_body(body).await;
        let kept = M::keep(&out);
        self.conclude::<M, R>(origin, slot, key, ttl, cache_if, kept).await;
        out
    }

    /// Runs `body` as the leader (renewing its lease in Redis while it runs).
    pub(crate) async fn run_body<F: Future>(&mut self, body: F) -> F::Output {
        match &mut self.right {
            #[cfg(feature = "redis")]
            StoreRight::Fleet(lease) => Box::pin(lease.keep_alive(self.leader.run(body))).await,
            _ => self.leader.run(body).await,
        }
    }

    /// Stores what the body gave (`kept`, what `M` keeps of its value) unless `cache_if`
    /// refuses it, and ends the flight: with the value, or (nothing kept) as failed, so that a
    /// waiter with a stale value at hand serves it.
    ///
    /// It works on the lead in place, as [`finish`](Self::finish) does: each level of a miss's
    /// future that took the lead by value kept a copy of it, moved on every miss. The flight
    /// ends when the lead is dropped, right after.
    pub(crate) async fn conclude<M: Mode<R>, R>(
        &mut self,
        origin: &Origin<'_>,
        slot: &Slot,
        key: &str,
        ttl: Duration,
        cache_if: Option<fn(&M::Value) -> bool>,
        kept: Option<M::Value>,
    ) {
        if let Some(kept) = kept {
            if cache_if.is_none_or(|keep| keep(&kept)) {
                let value = M::wrap(kept).tagged(self.tagging.take());
                self.finish(origin, slot, key, value, ttl).await;
            } else {
                origin.refused(key);
                if self.replaces {
                    // What the refresh was to replace is no longer the function's answer.
                    match slot.provider.delete(key).await {
                        Ok(removed) => origin.removed(key, u64::from(removed)),
                        Err(error) => origin.failed("delete", key, &error),
                    }
                }
                self.refused(slot, key, M::wrap(kept)).await;
            }
        } else {
            // The lease is given up before the flight ends, so that the caller who leads next
            // finds the key free rather than held by a computation that is over.
            #[cfg(feature = "redis")]
            if let (StoreRight::Fleet(_), Backend::Redis(redis)) = (&self.right, &slot.backend) {
                if let StoreRight::Fleet(lease) = std::mem::replace(&mut self.right, StoreRight::Detached) {
                    Box::pin(redis.give_up(*lease, key)).await;
                }
            }
            self.leader.fail(M::FAILURE);
        }
    }

    /// Hands a value that is not stored to the callers that joined, unless an invalidation voided
    /// the flight; on Redis the lease is given up so that other instances stop waiting.
    #[cfg_attr(not(feature = "redis"), allow(unused_variables))]
    async fn refused(&mut self, slot: &Slot, key: &str, value: CachedValue) {
        if let (Some(tagging), Backend::Memory(memory)) = (&self.tagging, &slot.backend) {
            if !memory.tags_hold(tagging) {
                // A tag was invalidated meanwhile: a waiter may have come after that.
                return;
            }
        }
        match std::mem::replace(&mut self.right, StoreRight::Detached) {
            #[cfg(feature = "redis")]
            StoreRight::Fleet(lease) => {
                if let Backend::Redis(redis) = &slot.backend {
                    if Box::pin(redis.give_up(*lease, key)).await {
                        self.leader.hand_out(value);
                    }
                }
            }
            #[cfg(feature = "redis")]
            StoreRight::HandOutIfHeld(_) => {}
            StoreRight::Detached => {}
            _ => self.leader.hand_out(value),
        }
    }

    /// Stores the value the leader computed, unless an invalidation voided its lease meanwhile,
    /// and hands it to the waiters. A store that fails is counted and logged, never returned.
    #[cfg_attr(not(feature = "redis"), allow(unused_variables))]
    pub(crate) async fn finish(
        &mut self,
        origin: &Origin<'_>,
        slot: &Slot,
        key: &str,
        value: CachedValue,
        ttl: Duration,
    ) {
        let Some(storing) = self.leader.begin_store(slot.exclusive()).await else {
            origin.not_stored(key, "an invalidation covered the key while it was computed");
            return;
        };
        // A tag invalidated since the body started: after `begin_store`, so that a caller who
        // comes after the invalidation reads the store (which drops the value) rather than wait
        // for this one.
        if let (Some(tagging), Backend::Memory(memory)) = (value.tagging(), &slot.backend) {
            if !memory.tags_hold(tagging) {
                origin.not_stored(key, "one of its tags was invalidated while it was computed");
                return;
            }
        }
        let stored = match std::mem::replace(&mut self.right, StoreRight::Detached) {
            StoreRight::Local if ttl.is_zero() => Ok(false),
            StoreRight::Local => match &slot.backend {
                Backend::Memory(memory) => {
                    memory.insert(key, value.clone(), ttl);
                    Ok(true)
                }
                _ => slot.provider.set(key, value.clone(), ttl).await.map(|()| true),
            },
            #[cfg(feature = "redis")]
            StoreRight::Fleet(lease) => match &slot.backend {
                // A ttl of zero stores nothing, but the lease says whether an invalidation came.
                Backend::Redis(redis) if ttl.is_zero() => {
                    if Box::pin(redis.give_up(*lease, key)).await {
                        self.leader.hand_out(value);
                    }
                    return;
                }
                Backend::Redis(redis) => Box::pin(redis.store_leased(*lease, key, &value, ttl)).await,
                _ => Ok(false),
            },
            #[cfg(feature = "redis")]
            StoreRight::HandOut(ticket) => {
                // Redis does not answer: a near cache keeps the value through the outage.
                if let (Backend::Redis(redis), Some(ticket)) = (&slot.backend, ticket) {
                    redis.keep_near(ticket, key, value.clone(), ttl);
                }
                self.leader.hand_out(value);
                return;
            }
            #[cfg(feature = "redis")]
            StoreRight::HandOutIfHeld(holder) => {
                if let Backend::Redis(redis) = &slot.backend {
                    if Box::pin(redis.still_held(key, &holder)).await {
                        self.leader.hand_out(value);
                    } else {
                        // The holder ended (and may have stored), or an invalidation voided it:
                        // what the store holds now is the waiters' answer.
                        self.leader.send_to_store();
                    }
                }
                return;
            }
            StoreRight::Detached => return,
        };
        if ttl.is_zero() {
            origin.not_stored(key, "a ttl of zero stores nothing");
            self.leader.hand_out(value);
            return;
        }
        drop(storing);
        match stored {
            Ok(true) => {
                origin.stored(key, ttl);
                self.leader.hand_out(value);
            }
            // Another instance invalidated the key while it was computed: its waiters here may
            // have joined after that, so they start over instead.
            Ok(false) => {
                origin.not_stored(key, "an invalidation on another instance covered the key while it was computed")
            }
            Err(error) => {
                origin.failed("set", key, &error);
                self.leader.hand_out(value);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tags::NoTags;

    /// What a miss on the memory store moves into its box: the future of the rest of the call,
    /// with room for every await it may reach. Redis's awaits are boxed where they are reached,
    /// so they add nothing here; unboxed, they made it 4,016 bytes (on Redis builds), and the
    /// copy into the box was the largest single cost of a miss. Sizes are the compiler's, so the
    /// bound leaves room; it fails when a Redis await is added to the call path unboxed.
    #[test]
    fn the_rest_of_a_call_stays_small() {
        static SITE: CallSite = CallSite::new("f", "default");
        let later = later::<Whole, u64, _, NoTags>(
            &SITE,
            Probe::NoStore,
            KeyBuilder::with_capacity(4),
            NoTags,
            Duration::from_secs(1),
            None,
            async { 1u64 },
        );
        let size = std::mem::size_of_val(&later);
        assert!(size <= 2_048, "the boxed rest of a call is {size} bytes");
    }
}

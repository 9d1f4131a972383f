//! The embedded in-memory provider, on quick_cache.

mod store;

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::fmt;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use quick_cache::{Lifecycle, Weighter};
use tokio::time::Instant;

use crate::key::Pattern;
use crate::observe;
use crate::provider::{CacheProvider, ProviderFuture};
use crate::stats::{CacheStats, StatsCounters};
use crate::tags::{Marks, Tagging};
use crate::value::CachedValue;
use store::{reentered, Key, Sizing, Store};

/// What a byte-bounded store adds to each entry's key and value for its own bookkeeping.
const ENTRY_OVERHEAD: usize = 96;

/// The least share of a byte bound one shard holds: a store bounded by bytes accepts values up to
/// about this size (or its whole bound, when that is smaller).
const MIN_SHARD_BYTES: u64 = 16 * 1024 * 1024;

/// Beyond twice the entries, how many stale expiries the heap may hold before it is compacted.
const COMPACT_SLACK: usize = 1_024;

/// How many expired entries a write reclaims at most, besides storing its own: reclaiming is
/// spread over the writes, so that none of them pays for a long sweep.
const RECLAIM_PER_WRITE: usize = 8;

/// An in-memory cache on [`quick_cache`]: bounded by entries or bytes, with a time to live per
/// entry, following tokio's clock.
///
/// Values are kept as typed objects: a hit clones the value and never decodes anything. The clone
/// is made in place, under the read lock of the entry's shard: a cached type's `Clone` should be
/// quick, and must not use the cache (a store call made from there is skipped, and logged, rather
/// than left to wait on the lock its own thread holds), nor take a lock that another thread may
/// hold while it calls the cache. Expired entries are never returned, and writes reclaim them a
/// few at a time, oldest first, so keys that are never read again do not pile up. Its policy (CLOCK-Pro-like, with a memory of keys
/// recently evicted) keeps the entries most likely to be used again, and always stores a new key.
/// Clones share one store.
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

/// The entries, by key.
type Entries = Store<Entry, EntryWeight, Dropped>;

/// When each stored entry expires, soonest first.
type Expiries = BinaryHeap<Reverse<(Tick, Key)>>;

/// Why an entry found is not returned.
enum Gone {
    Expired,
    /// One of its tags was invalidated since its computation started.
    Dropped,
}

/// A time on tokio's clock, in nanoseconds since the store was built: 8 bytes in every entry and
/// every expiry, where an `Instant` takes 16. It reaches 584 years, as good as never.
type Tick = u64;

struct Inner {
    cache: Entries,
    /// When each stored entry expires, soonest first: what the writes reclaim.
    expiries: Mutex<Expiries>,
    counters: Arc<StatsCounters>,
    bound: Bound,
    max_wait: Duration,
    /// Tick 0.
    epoch: Instant,
    /// The tags' clock and marks (see [`tags`](crate::tags)).
    marks: Marks,
    /// The longest lifetime of a tagged entry stored, in nanoseconds: marks older than that are
    /// pruned.
    longest_tagged: AtomicU64,
}

impl Inner {
    /// Whether `now` comes before `tick`: the hit path's test, which adds the tick to the epoch
    /// (a third of what turning `now` into a tick costs).
    #[inline]
    fn is_before(&self, now: Instant, tick: Tick) -> bool {
        match self.epoch.checked_add(Duration::from_nanos(tick)) {
            Some(at) => now < at,
            None => true,
        }
    }

    fn now(&self) -> Tick {
        let since = Instant::now().saturating_duration_since(self.epoch);
        since.as_secs().saturating_mul(1_000_000_000).saturating_add(u64::from(since.subsec_nanos()))
    }
}

#[derive(Debug, Clone, Copy)]
enum Bound {
    Entries(u64),
    Bytes(u64),
}

#[derive(Clone)]
struct Entry {
    value: CachedValue,
    expires: Tick,
    weight: u32,
    /// The ttl it was stored with, [packed](Lifetime) in the 4 bytes that the entry's alignment
    /// left unused: with `expires`, it tells the entry's age (see [`CacheProvider::get_aged`]).
    lifetime: Lifetime,
}

/// A ttl in 4 bytes: whole milliseconds up to 2^31 - 1 (24 days), whole seconds beyond (the top
/// bit set), rounded up, so that an entry never reads younger than it is.
#[derive(Clone, Copy)]
struct Lifetime(u32);

impl Lifetime {
    const SECONDS: u32 = 1 << 31;

    /// The longest ttl kept (about 68 years): a longer one is stored as this, so that the
    /// entry's expiry and its lifetime agree on when it was stored.
    const LONGEST: Duration = Duration::from_secs(Self::SECONDS as u64 - 1);

    fn pack(ttl: Duration) -> Lifetime {
        let ms = ttl.as_nanos().div_ceil(1_000_000);
        match u32::try_from(ms) {
            Ok(ms) if ms < Self::SECONDS => Lifetime(ms),
            _ => {
                let secs = ttl.as_nanos().div_ceil(1_000_000_000);
                Lifetime(u32::try_from(secs).unwrap_or(u32::MAX).min(Self::SECONDS - 1) | Self::SECONDS)
            }
        }
    }

    fn unpack(self) -> Duration {
        match self.0 & Self::SECONDS {
            0 => Duration::from_millis(u64::from(self.0)),
            _ => Duration::from_secs(u64::from(self.0 & !Self::SECONDS)),
        }
    }
}

impl Entry {
    fn is_live(&self, now: Tick) -> bool {
        now < self.expires
    }
}

/// Each entry's weight: 1 in a store bounded by entries, its bytes in one bounded by bytes.
#[derive(Clone)]
struct EntryWeight;

impl Weighter<Key, Entry> for EntryWeight {
    fn weight(&self, _: &Key, entry: &Entry) -> u64 {
        u64::from(entry.weight)
    }
}

/// Collects what a write made the store drop, for [`MemoryProvider::insert`] to count: quick_cache
/// also reports the value a write replaces, which is no eviction.
#[derive(Clone)]
struct Dropped;

impl Lifecycle<Key, Entry> for Dropped {
    type RequestState = DroppedEntries;

    fn on_evict(&self, dropped: &mut Self::RequestState, key: Key, entry: Entry) {
        match dropped.first {
            None => dropped.first = Some((key, entry)),
            Some(_) => dropped.rest.push((key, entry)),
        }
    }
}

/// What one write made the store drop: most drop one entry (the evicted one, or the replaced
/// value), kept without allocating.
#[derive(Default)]
struct DroppedEntries {
    first: Option<(Key, Entry)>,
    rest: Vec<(Key, Entry)>,
}

impl IntoIterator for DroppedEntries {
    type Item = (Key, Entry);
    type IntoIter = std::iter::Chain<std::option::IntoIter<(Key, Entry)>, std::vec::IntoIter<(Key, Entry)>>;

    fn into_iter(self) -> Self::IntoIter {
        self.first.into_iter().chain(self.rest)
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
    /// At most this many entries ([`MemoryProvider::DEFAULT_CAPACITY`] unless set); the least
    /// likely to be used again are evicted first.
    pub fn max_capacity(mut self, entries: u64) -> Self {
        self.bound = Bound::Entries(entries);
        self
    }

    /// At most about this many bytes instead of a count of entries: each entry weighs its key,
    /// the encoded size of its value (for a [local](crate::CachedValue::local) value,
    /// `size_of::<T>()`) and a fixed overhead. Measuring a value walks it once when
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
        let (items, weight) = match self.bound {
            Bound::Entries(n) => (n, n),
            // An estimate of the count, for the store's shards and its memory of evicted keys.
            Bound::Bytes(n) => ((n / 512).max(1), n),
        };
        let items = usize::try_from(items).unwrap_or(usize::MAX).max(1);
        // Each shard holds a share of the bound, and refuses a value heavier than its share. A
        // small store keeps one shard, so that its bound is its own; a store bounded by bytes
        // gets shards of at least `MIN_SHARD_BYTES`, so that what it accepts does not depend on
        // the machine's core count; others get four per core.
        let shards = match self.bound {
            Bound::Entries(_) if items < 1_024 => 1,
            Bound::Bytes(n) => usize::try_from(n / MIN_SHARD_BYTES).unwrap_or(usize::MAX).clamp(1, 64),
            Bound::Entries(_) => 4 * cores(),
        };
        let cache = Store::new(Sizing { items, weight, shards }, EntryWeight, Dropped);
        MemoryProvider {
            inner: Arc::new(Inner {
                cache,
                expiries: Mutex::new(BinaryHeap::new()),
                counters,
                bound: self.bound,
                max_wait: self.max_wait,
                epoch: Instant::now(),
                marks: Marks::default(),
                longest_tagged: AtomicU64::new(0),
            }),
        }
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

    /// How many entries the store holds, expired ones not yet reclaimed included.
    ///
    /// ```
    /// assert_eq!(cache_runtime::MemoryProvider::new().entry_count(), 0);
    /// ```
    pub fn entry_count(&self) -> u64 {
        self.inner.cache.len() as u64
    }

    /// Reclaims every expired entry now. Writes also reclaim them, a few at a time; call it where
    /// a test or a report needs exact counts.
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")] async fn main() {
    /// cache_runtime::MemoryProvider::new().run_pending_tasks().await;
    /// # }
    /// ```
    pub async fn run_pending_tasks(&self) {
        self.reclaim(usize::MAX);
    }

    /// How long a call waits for another caller's computation.
    pub(crate) fn max_wait(&self) -> Duration {
        self.inner.max_wait
    }

    /// [`CacheProvider::get`] without a future: `key` is the bytes of the key's text.
    pub(crate) fn get_direct(&self, key: &[u8]) -> Option<CachedValue> {
        self.read_direct(key, |found| found.cloned())
    }

    /// `read` of the live value under `key` (`None` when there is none), in place, for the
    /// runtime's hit path: `key` is the bytes of the key's text. The value is read under its
    /// shard's read lock, so that a hit clones what it returns without writing to the value's
    /// shared reference count; `read` must not call this store.
    #[inline]
    pub(crate) fn read_direct<R>(&self, key: &[u8], read: impl FnOnce(Option<&CachedValue>) -> R) -> R {
        self.read_live(key, |entry| read(entry.map(|entry| &entry.value)))
    }

    /// `read` of the entry under `key` when it is live and none of its tags was invalidated since
    /// its computation started; an entry found that is not is removed, and read as `None`.
    #[inline]
    fn read_live<R>(&self, key: &[u8], read: impl FnOnce(Option<&Entry>) -> R) -> R {
        let mut gone = None;
        let out = self.inner.cache.read(key, |entry| {
            let usable = entry.filter(|entry| {
                gone = match self.inner.is_before(Instant::now(), entry.expires) {
                    false => Some(Gone::Expired),
                    true => self.check_tags(&entry.value).err(),
                };
                gone.is_none()
            });
            read(usable)
        });
        if let Some(why) = gone {
            self.remove_gone(key, why);
        }
        out
    }

    /// Whether a value found may be returned: none of its tags was invalidated since its
    /// computation started.
    #[inline]
    fn check_tags(&self, value: &CachedValue) -> Result<(), Gone> {
        match value.tagging() {
            Some(tagging) if !self.inner.marks.holds(tagging) => Err(Gone::Dropped),
            _ => Ok(()),
        }
    }

    /// Removes the entry under `key` that could not be read, unless another was stored there
    /// since: an expired entry, or one a tag dropped (which does not hold its room, and its place
    /// in the policy, until its ttl).
    #[cold]
    fn remove_gone(&self, key: &[u8], why: Gone) {
        match why {
            Gone::Expired => self.remove_expired(key),
            Gone::Dropped => {
                self.inner.cache.remove_if(key, |entry| self.check_tags(&entry.value).is_err());
            }
        }
    }

    /// The start of a computation about to run, on this store's tag clock.
    pub(crate) fn tag_clock(&self) -> u64 {
        self.inner.marks.now()
    }

    /// Whether a value with `tagging`, computed from the start it holds, may still be stored:
    /// none of its tags was invalidated since.
    pub(crate) fn tags_hold(&self, tagging: &Tagging) -> bool {
        self.inner.marks.holds(tagging)
    }

    /// Drops every entry tagged `tag`, in constant time: see [`tags`](crate::tags). Returns the
    /// tag's new mark.
    pub(crate) fn invalidate_tag_now(&self, tag: &str) -> u64 {
        let longest = self.inner.longest_tagged.load(Ordering::Relaxed);
        self.inner.marks.invalidate(tag, self.inner.now(), longest)
    }

    /// Takes a mark set on Redis (a near cache's channel said so).
    #[cfg(feature = "redis")]
    pub(crate) fn note_tag(&self, tag: &str, at: u64) {
        let longest = self.inner.longest_tagged.load(Ordering::Relaxed);
        self.inner.marks.note(tag, at, self.inner.now(), longest);
    }

    /// The live value under `key` and its age, on tokio's clock: how long ago it was stored.
    pub(crate) fn get_aged_direct(&self, key: &[u8]) -> Option<(CachedValue, Duration)> {
        self.read_live(key, |entry| {
            let entry = entry?;
            let now = self.inner.now();
            let lifetime = u64::try_from(entry.lifetime.unpack().as_nanos()).unwrap_or(Tick::MAX);
            let stored = entry.expires.saturating_sub(lifetime);
            Some((entry.value.clone(), Duration::from_nanos(now.saturating_sub(stored))))
        })
    }

    fn expiries(&self) -> MutexGuard<'_, Expiries> {
        // Each critical section is one push or pop: a panic cannot leave the heap half-written.
        self.inner.expiries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    pub(crate) fn insert(&self, key: &str, value: CachedValue, ttl: Duration) {
        // From a value's `Clone` under a shard's lock: nothing is stored, and the expiry heap's
        // lock is not taken (a compaction holds it while it takes the shards' locks).
        if reentered("insert") {
            return;
        }
        let weight = match self.inner.bound {
            Bound::Entries(_) => 1,
            Bound::Bytes(_) => {
                let bytes = key.len() + value.estimated_size() + ENTRY_OVERHEAD;
                u32::try_from(bytes).unwrap_or(u32::MAX)
            }
        };
        let now = self.inner.now();
        let ttl = ttl.min(Lifetime::LONGEST);
        let lifetime = u64::try_from(ttl.as_nanos()).unwrap_or(Tick::MAX);
        let expires = now.saturating_add(lifetime);
        if value.tagging().is_some() {
            self.inner.longest_tagged.fetch_max(lifetime, Ordering::Relaxed);
        }
        let key = Key::new(key.as_bytes());
        // Expired entries go first, so that the policy never evicts a live one to make room
        // that they hold.
        self.reclaim_at(now, RECLAIM_PER_WRITE);
        let mut dropped = DroppedEntries::default();
        let entry = Entry { value, expires, weight, lifetime: Lifetime::pack(ttl) };
        self.inner.cache.insert(key.clone(), entry, &mut dropped);
        let mut own_key_seen = false;
        for (dropped_key, entry) in dropped {
            if dropped_key == key {
                // The value this write replaced, or this very value, refused as heavier than the
                // store's share for it (the one it replaced is then dropped too): one eviction,
                // for the refusal, and none when the new value is held.
                if !std::mem::replace(&mut own_key_seen, true) && !self.inner.cache.contains(key.bytes()) {
                    observe::evicted(&self.inner.counters);
                }
                continue;
            }
            // Evicted to make room, or an entry that had expired meanwhile.
            if entry.is_live(now) {
                observe::evicted(&self.inner.counters);
            } else {
                observe::expired(&self.inner.counters, text(dropped_key.bytes()));
            }
        }
        let mut expiries = self.expiries();
        expiries.push(Reverse((expires, key)));
        // A key stored again, evicted or removed leaves its expiry in the heap until that time
        // comes: keys stored again and again with long ttls would grow it without bound. When it
        // holds twice the entries, it is rebuilt from the entries themselves, one expiry each
        // (amortized: each rebuild follows at least as many writes as the entries it reads, and
        // reading an entry costs a third of looking its key up). An entry stored while the
        // rebuild runs pushes its own expiry after it: at worst a copy, never a missing one.
        if expiries.len() > 2 * self.inner.cache.len() + COMPACT_SLACK {
            let mut kept = Vec::with_capacity(self.inner.cache.len());
            self.inner.cache.for_each(|key, entry| kept.push(Reverse((entry.expires, key.clone()))));
            *expiries = BinaryHeap::from(kept);
        }
    }

    /// Removes up to `most` expired entries, soonest-expired first.
    fn reclaim(&self, most: usize) {
        self.reclaim_at(self.inner.now(), most);
    }

    /// [`reclaim`](Self::reclaim), with the time already read.
    fn reclaim_at(&self, now: Tick, most: usize) {
        if reentered("reclaim") {
            return;
        }
        for _ in 0..most {
            let key = {
                let mut expiries = self.expiries();
                match expiries.peek() {
                    Some(Reverse((expires, _))) if *expires <= now => expiries.pop().map(|Reverse((_, key))| key),
                    _ => None,
                }
            };
            let Some(key) = key else { return };
            // The key may have been stored again since, with a later expiry: only an expired
            // entry goes.
            self.remove_expired(key.bytes());
        }
    }

    fn remove_expired(&self, key: &[u8]) {
        let now = self.inner.now();
        if let Some((key, _)) = self.inner.cache.remove_if(key, |entry| !entry.is_live(now)) {
            observe::expired(&self.inner.counters, text(key.bytes()));
        }
    }

    /// Removes `key`; true when it held a live entry (an expired one is counted as expired).
    pub(crate) fn remove_live(&self, key: &[u8]) -> bool {
        let now = self.inner.now();
        match self.inner.cache.remove(key) {
            Some((_, entry)) if entry.is_live(now) => true,
            Some((key, _)) => {
                observe::expired(&self.inner.counters, text(key.bytes()));
                false
            }
            None => false,
        }
    }

    pub(crate) fn remove_matching(&self, matches: impl Fn(&str) -> bool) -> u64 {
        let mut keys: Vec<Key> = Vec::new();
        self.inner.cache.for_each(|key, _| {
            if matches(text(key.bytes())) {
                keys.push(key.clone());
            }
        });
        keys.iter().map(|key| u64::from(self.remove_live(key.bytes()))).sum()
    }
}

/// The machine's cores, read once: on Linux it reads the process's cgroup quota, and a store is
/// built per function bounded by `max_entries`.
fn cores() -> usize {
    static CORES: std::sync::OnceLock<usize> = std::sync::OnceLock::new();
    *CORES.get_or_init(|| std::thread::available_parallelism().map_or(1, usize::from))
}

/// A stored key as text: every key was stored from a `str`.
fn text(key: &[u8]) -> &str {
    std::str::from_utf8(key).unwrap_or("<not text>")
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
            .field("entries", &self.inner.cache.len())
            .finish()
    }
}

impl CacheProvider for MemoryProvider {
    fn kind(&self) -> &'static str {
        "memory"
    }

    fn get<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, Option<CachedValue>> {
        let found = self.get_direct(key.as_bytes());
        Box::pin(async move { Ok(found) })
    }

    fn set<'a>(&'a self, key: &'a str, value: CachedValue, ttl: Duration) -> ProviderFuture<'a, ()> {
        self.insert(key, value, ttl);
        Box::pin(async { Ok(()) })
    }

    fn delete<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, bool> {
        let removed = self.remove_live(key.as_bytes());
        Box::pin(async move { Ok(removed) })
    }

    fn get_aged<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, Option<(CachedValue, Duration)>> {
        let found = self.get_aged_direct(key.as_bytes());
        Box::pin(async move { Ok(found) })
    }

    fn exists<'a>(&'a self, key: &'a str) -> ProviderFuture<'a, bool> {
        let found = self.get_direct(key.as_bytes()).is_some();
        Box::pin(async move { Ok(found) })
    }

    fn clear(&self) -> ProviderFuture<'_, u64> {
        let removed = self.remove_matching(|_| true);
        Box::pin(async move { Ok(removed) })
    }

    fn clear_pattern<'a>(&'a self, pattern: &'a Pattern) -> ProviderFuture<'a, u64> {
        let removed = match pattern.as_literal() {
            Some(key) => u64::from(self.remove_live(key.as_bytes())),
            None => self.remove_matching(|key| pattern.matches(key)),
        };
        Box::pin(async move { Ok(removed) })
    }

    fn invalidate_tag<'a>(&'a self, tag: &'a str) -> ProviderFuture<'a, ()> {
        self.invalidate_tag_now(tag);
        Box::pin(async { Ok(()) })
    }

    fn counters(&self) -> &StatsCounters {
        &self.inner.counters
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::INLINE_KEY;

    #[test]
    fn a_key_stored_again_and_again_does_not_grow_the_expiry_heap() {
        let provider = MemoryProvider::new();
        for i in 0..100_000u32 {
            provider.insert("hot", CachedValue::new(i), Duration::from_secs(3_600));
        }
        let heap = provider.expiries().len();
        assert!(heap <= 2 * provider.inner.cache.len() + COMPACT_SLACK + 1, "{heap} expiries for one entry");
        // The live entry's own expiry is kept: it is still reclaimed when its time comes.
        assert!(provider.expiries().iter().any(|Reverse((expires, key))| key.bytes() == b"hot"
            && provider.inner.cache.peek(b"hot", |entry| entry.expires == *expires) == Some(true)));
    }

    #[test]
    fn keys_on_both_sides_of_the_inline_length_are_stored_found_and_removed() {
        let provider = MemoryProvider::new();
        let keys: Vec<String> = (0..=2 * INLINE_KEY).map(|len| "k".repeat(len)).collect();
        for (i, key) in keys.iter().enumerate() {
            provider.insert(key, CachedValue::new(i), Duration::from_secs(60));
        }
        for (i, key) in keys.iter().enumerate() {
            let found = provider.get_direct(key.as_bytes()).map(|value| value.to_typed::<usize, str>(key.as_str()));
            assert!(matches!(found, Some(Ok(n)) if n == i), "{} bytes: {found:?}", key.len());
        }
        assert!(provider.get_direct(&[b'k'; 2 * INLINE_KEY + 1]).is_none());
        for key in &keys {
            assert!(provider.remove_live(key.as_bytes()), "{} bytes", key.len());
        }
        assert_eq!(provider.entry_count(), 0);
    }

    #[tokio::test(start_paused = true)]
    async fn on_a_paused_clock_the_heap_keeps_one_expiry_per_key() {
        // Every write has the same expiry: compaction must still drop the copies.
        let provider = MemoryProvider::new();
        for i in 0..20_000u32 {
            provider.insert("same", CachedValue::new(i), Duration::from_secs(3_600));
        }
        assert!(provider.expiries().len() <= 2 * provider.inner.cache.len() + COMPACT_SLACK + 1);
    }

    #[test]
    fn a_packed_lifetime_never_reads_shorter_than_the_ttl_and_stays_close() {
        for ttl in [
            Duration::from_nanos(1),
            Duration::from_millis(1),
            Duration::from_micros(1_500),
            Duration::from_secs(300),
            Duration::from_millis(u64::from(u32::MAX >> 1)),
            Duration::from_secs(90 * 86_400),
        ] {
            let back = Lifetime::pack(ttl).unpack();
            assert!(back >= ttl && back - ttl <= Duration::from_secs(1), "{ttl:?} read back as {back:?}");
        }
        assert_eq!(Lifetime::pack(Duration::MAX).unpack(), Duration::from_secs(u64::from(u32::MAX >> 1)));
    }

    #[tokio::test(start_paused = true)]
    async fn an_entry_tells_its_age_on_the_paused_clock() {
        let provider = MemoryProvider::new();
        provider.insert("k", CachedValue::new(1u8), Duration::from_secs(60));
        tokio::time::advance(Duration::from_secs(25)).await;
        let (_, age) = provider.get_aged_direct(b"k").unwrap();
        assert!(age >= Duration::from_secs(25) && age < Duration::from_secs(26), "{age:?}");
        tokio::time::advance(Duration::from_secs(35)).await;
        assert!(provider.get_aged_direct(b"k").is_none());
    }

    #[test]
    fn a_ttl_too_long_for_the_clock_is_kept_not_a_panic() {
        let provider = MemoryProvider::new();
        provider.insert("forever", CachedValue::new(1u8), Duration::MAX);
        assert!(provider.get_direct(b"forever").is_some());
    }
}

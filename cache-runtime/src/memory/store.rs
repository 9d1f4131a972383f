//! The memory provider's store: shards of [`quick_cache::unsync::Cache`], each behind a
//! parking_lot `RwLock`, read in place.
//!
//! Why not `quick_cache::sync::Cache`: its only read clones the stored value out of the shard.
//! A hit then wrote the reference count of the value's `Arc`, a cache line that every thread
//! reading the value shares: on a hot set read by two threads, each write found the line in the
//! other core's cache, and a hit cost twice its single-thread time (BENCHMARKS.md, "Issue 12,
//! fifth step"). Here a hit reads the entry in place, under the shard's read lock, and clones
//! only the typed value it returns. The read lock's word is still shared; a reader-sharded lock
//! (crossbeam's `ShardedLock`) was measured too: hits scaled further, but cost 28 instructions
//! more each and a write locked eight slots.

use std::cell::Cell;
use std::hash::{BuildHasher, Hash, Hasher};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::LazyLock;

use ahash::RandomState;
use parking_lot::{RwLock, RwLockReadGuard, RwLockWriteGuard};
use quick_cache::unsync::Cache;
use quick_cache::{Equivalent, Lifecycle, OptionsBuilder, Weighter};

/// A stored key: the bytes of its text (every key comes from a `str`), so that the hit path looks
/// one up from the macro's key buffer without checking that the buffer is text.
///
/// A key of up to [`INLINE_KEY`] bytes (most keys: `user:42`, `page:3:20`) is kept in the entry
/// itself: a shared one costs an allocation on every write and 48 bytes of heap per entry (glibc's
/// chunk for a short `Arc<[u8]>`), where inline it costs the entry 8 bytes more.
#[derive(Clone)]
pub(super) enum Key {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Shared(std::sync::Arc<[u8]>),
}

/// The longest key kept inline: what fits beside the length in the 24 bytes a [`Key`] takes.
pub(super) const INLINE_KEY: usize = 22;

impl Key {
    pub(super) fn new(text: &[u8]) -> Key {
        match u8::try_from(text.len()) {
            Ok(len) if text.len() <= INLINE_KEY => {
                let mut bytes = [0; INLINE_KEY];
                bytes[..text.len()].copy_from_slice(text);
                Key::Inline { len, bytes }
            }
            _ => Key::Shared(std::sync::Arc::from(text)),
        }
    }

    #[inline]
    pub(super) fn bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..usize::from(*len)],
            Key::Shared(bytes) => bytes,
        }
    }
}

impl PartialEq for Key {
    fn eq(&self, other: &Key) -> bool {
        self.bytes() == other.bytes()
    }
}

impl Eq for Key {}

impl PartialOrd for Key {
    fn partial_cmp(&self, other: &Key) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Key {
    fn cmp(&self, other: &Key) -> std::cmp::Ordering {
        self.bytes().cmp(other.bytes())
    }
}

/// The keyed hash of every store's keys, drawn at random once per process: keys come from user
/// input, and a hash whose keys an attacker cannot know resists hash flooding.
static KEY_HASH: LazyLock<RandomState> = LazyLock::new(RandomState::new);

/// The hash of a key's bytes.
#[inline(always)]
fn hash_bytes(hasher: &RandomState, key: &[u8]) -> u64 {
    let mut state = hasher.build_hasher();
    state.write(key);
    state.finish()
}

impl Hash for Key {
    /// Its keyed hash, which the shard's [`Prehashed`] hasher takes as it is: a stored key is
    /// hashed when it is inserted, never when it is looked up.
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(hash_bytes(&KEY_HASH, self.bytes()));
    }
}

/// A key to look up, hashed once by the store (to pick its shard) and not again by the shard.
struct Lookup<'a> {
    bytes: &'a [u8],
    hash: u64,
}

impl Hash for Lookup<'_> {
    fn hash<H: Hasher>(&self, state: &mut H) {
        state.write_u64(self.hash);
    }
}

impl Equivalent<Key> for Lookup<'_> {
    #[inline]
    fn equivalent(&self, key: &Key) -> bool {
        self.bytes == key.bytes()
    }
}

/// The shards' hasher: a key's hash is already computed ([`Key`]'s and [`Lookup`]'s `Hash`
/// write it as one `u64`), and is taken as it is.
#[derive(Clone, Copy, Default)]
struct Prehashed;

impl BuildHasher for Prehashed {
    type Hasher = PrehashedHasher;

    fn build_hasher(&self) -> PrehashedHasher {
        PrehashedHasher(0)
    }
}

struct PrehashedHasher(u64);

impl Hasher for PrehashedHasher {
    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }

    /// Not reached: keys and lookups write one `u64`. Mixes the bytes in (FNV-1a), so that the
    /// hasher stays a hasher if it ever is.
    fn write(&mut self, bytes: &[u8]) {
        for byte in bytes {
            self.0 = (self.0 ^ u64::from(*byte)).wrapping_mul(0x0000_0100_0000_01b3);
        }
    }

    fn finish(&self) -> u64 {
        self.0
    }
}

type Shard<V, W, L> = Cache<Key, V, W, Prehashed, L>;

thread_local! {
    /// Whether this thread runs a read's closure, under a shard's read lock.
    static READING: Cell<bool> = const { Cell::new(false) };
}

/// Marks this thread as reading under a shard's lock, until dropped (on a panic's unwinding too).
///
/// A read's closure runs the value's `Clone` (or its `Deserialize` and codec); were one of them to
/// call the cache, a second lock of the same shard by this thread would wait on itself (a write
/// waits for this thread's read; a read waits behind a writer queued meanwhile). Store operations
/// made from there do not lock: a read finds nothing, a write is skipped (see [`reentered`]).
struct Reading;

impl Reading {
    /// `None` if this thread is reading already.
    #[inline]
    fn enter() -> Option<Reading> {
        match READING.replace(true) {
            false => Some(Reading),
            true => None,
        }
    }
}

impl Drop for Reading {
    #[inline]
    fn drop(&mut self) {
        READING.set(false);
    }
}

/// Whether this thread is inside a read's closure: then `operation` is to be skipped, and it is
/// logged. The memory provider checks it too, before it takes locks of its own (its expiry heap's).
#[inline]
pub(super) fn reentered(operation: &'static str) -> bool {
    if !READING.get() {
        return false;
    }
    skipped(operation);
    true
}

/// Logs the first skipped operation of the process, once: a `Clone` that calls the cache would
/// log on every hit, and a subscriber that called the cache on each log line would loop.
#[cold]
fn skipped(operation: &'static str) {
    static WARNED: AtomicBool = AtomicBool::new(false);
    if WARNED.swap(true, Ordering::Relaxed) {
        return;
    }
    tracing::warn!(
        target: crate::observe::TARGET,
        operation,
        "[CACHE] a memory store operation made while a value was read under the store's lock (its \
         Clone, Deserialize or codec called the cache) was skipped instead of waiting on itself, \
         and such operations will be skipped without this warning: a cached type's Clone must \
         not use the cache"
    );
}

/// Shards of quick_cache's single-threaded cache, each behind a `RwLock`.
pub(super) struct Store<V, W, L> {
    shards: Box<[RwLock<Shard<V, W, L>>]>,
    mask: u64,
    hasher: RandomState,
    /// The entries of all shards, kept by the writers: read without taking any lock.
    len: AtomicUsize,
}

/// How a [`Store`] is sized.
pub(super) struct Sizing {
    /// About how many entries it holds: each shard gets its share, and a memory of as many keys
    /// recently evicted.
    pub(super) items: usize,
    /// The sum of the entries' weights it holds at most.
    pub(super) weight: u64,
    /// How many shards at most (a power of two is taken); a shard holds at least 32 entries.
    pub(super) shards: usize,
}

impl<V, W, L> Store<V, W, L>
where
    W: Weighter<Key, V> + Clone,
    L: Lifecycle<Key, V> + Clone,
{
    pub(super) fn new(sizing: Sizing, weighter: W, lifecycle: L) -> Self {
        let items = sizing.items.max(1) as u64;
        let mut count = sizing.shards.max(1).next_power_of_two() as u64;
        while count > 1 && items.div_ceil(count) < 32 {
            count /= 2;
        }
        let shard_items = usize::try_from(items.div_ceil(count)).unwrap_or(usize::MAX);
        let shards = (0..count)
            .map(|index| {
                // The weight is shared out exactly (the first shards take one more of what does
                // not divide): the shards together never hold more than the bound.
                let shard_weight = sizing.weight / count + u64::from(index < sizing.weight % count);
                let mut options = OptionsBuilder::new();
                options.estimated_items_capacity(shard_items).weight_capacity(shard_weight);
                // `build` fails only for a capacity left unset, and both are set above.
                let shard = match options.build() {
                    Ok(options) => Cache::with_options(options, weighter.clone(), Prehashed, lifecycle.clone()),
                    Err(_) => Cache::with(shard_items, shard_weight, weighter.clone(), Prehashed, lifecycle.clone()),
                };
                RwLock::new(shard)
            })
            .collect();
        Store { shards, mask: count - 1, hasher: KEY_HASH.clone(), len: AtomicUsize::new(0) }
    }

    /// The shard of `key`, and the key ready to look up there. Always inlined: it is small, and
    /// called out of line it costs a hit about 10 instructions.
    #[inline(always)]
    fn locate<'k>(&self, key: &'k [u8]) -> (&RwLock<Shard<V, W, L>>, Lookup<'k>) {
        let hash = hash_bytes(&self.hasher, key);
        (self.shard_of(hash), Lookup { bytes: key, hash })
    }

    #[inline(always)]
    fn shard_of(&self, hash: u64) -> &RwLock<Shard<V, W, L>> {
        // The middle bits pick the shard: hashbrown uses the lowest and the highest 7 in it.
        &self.shards[(hash.rotate_right(32) & self.mask) as usize]
    }

    // parking_lot's locks do not poison: a panic under a shard's lock (a value's `Clone` on a
    // hit) must not fail every later call. quick_cache's operations finish before they call into
    // our code, which only collects what they drop.
    fn read_shard(shard: &RwLock<Shard<V, W, L>>) -> RwLockReadGuard<'_, Shard<V, W, L>> {
        shard.read()
    }

    fn write_shard(shard: &RwLock<Shard<V, W, L>>) -> RwLockWriteGuard<'_, Shard<V, W, L>> {
        shard.write()
    }

    /// `read` of the entry under `key` (`None` when there is none), in place, under the shard's
    /// read lock; an entry found counts as used for the eviction policy. `read` must not call
    /// the store.
    #[inline]
    pub(super) fn read<R>(&self, key: &[u8], read: impl FnOnce(Option<&V>) -> R) -> R {
        let Some(_reading) = Reading::enter() else {
            skipped("read");
            return read(None);
        };
        let (shard, lookup) = self.locate(key);
        let shard = Self::read_shard(shard);
        read(Self::get(&shard, &lookup))
    }

    /// quick_cache's lookup, kept out of line: where the compiler inlines it or not otherwise
    /// moves with unrelated changes to this crate, by up to 10 instructions a hit.
    #[inline(never)]
    fn get<'s>(shard: &'s Shard<V, W, L>, lookup: &Lookup<'_>) -> Option<&'s V> {
        shard.get(lookup)
    }

    /// [`read`](Self::read) without counting as a use.
    #[cfg(test)]
    pub(super) fn peek<R>(&self, key: &[u8], read: impl FnOnce(&V) -> R) -> Option<R> {
        let (shard, lookup) = self.locate(key);
        let shard = Self::read_shard(shard);
        let _reading = Reading::enter();
        shard.peek(&lookup).map(read)
    }

    /// Stores `value` under `key`; what the write drops (the value it replaced, entries evicted to
    /// make room, or this very value when it is heavier than the shard's share) goes to
    /// `dropped`.
    pub(super) fn insert(&self, key: Key, value: V, dropped: &mut L::RequestState) {
        if reentered("insert") {
            return;
        }
        let hash = hash_bytes(&self.hasher, key.bytes());
        let mut shard = Self::write_shard(self.shard_of(hash));
        let before = shard.len();
        shard.insert_with_lifecycle(key, value, dropped);
        self.count(before, shard.len());
    }

    /// Whether `key` holds an entry.
    pub(super) fn contains(&self, key: &[u8]) -> bool {
        if reentered("contains") {
            return false;
        }
        let (shard, lookup) = self.locate(key);
        Self::read_shard(shard).contains_key(&lookup)
    }

    /// Removes the entry under `key`.
    pub(super) fn remove(&self, key: &[u8]) -> Option<(Key, V)> {
        self.remove_if(key, |_| true)
    }

    /// Removes the entry under `key` when `remove` says so.
    pub(super) fn remove_if(&self, key: &[u8], remove: impl FnOnce(&V) -> bool) -> Option<(Key, V)> {
        if reentered("remove") {
            return None;
        }
        let (shard, lookup) = self.locate(key);
        let mut shard = Self::write_shard(shard);
        let removed = shard.remove_if(&lookup, remove);
        if removed.is_some() {
            self.len.fetch_sub(1, Ordering::Relaxed);
        }
        removed
    }

    /// Calls `visit` on every entry, one shard at a time under its read lock. `visit` must not
    /// call the store.
    pub(super) fn for_each(&self, mut visit: impl FnMut(&Key, &V)) {
        if reentered("scan") {
            return;
        }
        for shard in &*self.shards {
            for (key, value) in Self::read_shard(shard).iter() {
                visit(key, value);
            }
        }
    }

    /// How many entries the store holds.
    pub(super) fn len(&self) -> usize {
        self.len.load(Ordering::Relaxed)
    }

    fn count(&self, before: usize, after: usize) {
        match after.checked_sub(before) {
            Some(added) if added > 0 => {
                self.len.fetch_add(added, Ordering::Relaxed);
            }
            Some(_) => {}
            None => {
                self.len.fetch_sub(before - after, Ordering::Relaxed);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::Arc;

    use quick_cache::UnitWeighter;

    use super::*;

    /// Collects what the writes drop.
    #[derive(Clone)]
    struct Collect;

    impl Lifecycle<Key, u64> for Collect {
        type RequestState = Vec<(Key, u64)>;

        fn on_evict(&self, dropped: &mut Self::RequestState, key: Key, value: u64) {
            dropped.push((key, value));
        }
    }

    fn store(items: usize, shards: usize) -> Store<u64, UnitWeighter, Collect> {
        Store::new(Sizing { items, weight: items as u64, shards }, UnitWeighter, Collect)
    }

    fn entries(store: &Store<u64, UnitWeighter, Collect>) -> usize {
        let mut count = 0;
        store.for_each(|_, _| count += 1);
        count
    }

    #[test]
    fn the_count_follows_inserts_replacements_evictions_and_removals() {
        let store = store(256, 4);
        let mut dropped = Vec::new();
        for i in 0..1_000u64 {
            store.insert(Key::new(format!("k{}", i % 700).as_bytes()), i, &mut dropped);
            if i % 7 == 0 {
                store.remove(format!("k{}", i / 2).as_bytes());
            }
            if i % 11 == 0 {
                store.remove_if(format!("k{}", i / 3).as_bytes(), |value| value % 2 == 0);
            }
            assert_eq!(store.len(), entries(&store), "after write {i}");
        }
        assert!(!dropped.is_empty() && store.len() <= 256 + 64, "{} entries, {} dropped", store.len(), dropped.len());
    }

    #[test]
    fn a_lookup_finds_the_key_stored_and_no_other() {
        let store = store(1_024, 8);
        let long = "x".repeat(3 * INLINE_KEY);
        for (i, key) in ["", "a", "user:42", long.as_str()].iter().enumerate() {
            store.insert(Key::new(key.as_bytes()), i as u64, &mut Vec::new());
        }
        for (i, key) in ["", "a", "user:42", long.as_str()].iter().enumerate() {
            assert_eq!(store.read(key.as_bytes(), |found| found.copied()), Some(i as u64), "{key:?}");
            assert!(store.contains(key.as_bytes()));
        }
        assert_eq!(store.read(b"user:4", |found| found.copied()), None);
        assert_eq!(store.read(&long.as_bytes()[1..], |found| found.copied()), None);
    }

    #[test]
    fn readers_on_many_threads_see_only_the_values_of_their_keys_while_writers_churn() {
        // Each value says which key it was stored under: a read of one key that returned another
        // key's value would be caught, as would a count that drifts under concurrent writes.
        let store = Arc::new(store(512, 8));
        let threads: Vec<_> = (0..4u64)
            .map(|thread| {
                let store = Arc::clone(&store);
                std::thread::spawn(move || {
                    let mut found = 0;
                    for i in 0..20_000u64 {
                        let id = (i * 7 + thread * 13) % 2_000;
                        let key = format!("user:{id}");
                        match (i + thread) % 4 {
                            0 => store.insert(Key::new(key.as_bytes()), id * 1_000 + thread, &mut Vec::new()),
                            1 => drop(store.remove(key.as_bytes())),
                            _ => {
                                if let Some(value) = store.read(key.as_bytes(), |found| found.copied()) {
                                    assert_eq!(value / 1_000, id, "{key} read another key's value");
                                    found += 1;
                                }
                            }
                        }
                    }
                    found
                })
            })
            .collect();
        let found: u64 = threads.into_iter().map(|thread| thread.join().unwrap()).sum();
        assert!(found > 0, "no read found a value");
        assert_eq!(store.len(), entries(&store));
    }
}

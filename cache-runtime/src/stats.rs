//! Counters of a provider and their snapshot.

use std::cell::Cell;
use std::fmt;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::Relaxed};

/// A snapshot of a provider's counters.
///
/// ```
/// let stats = cache_runtime::MemoryProvider::new().stats();
/// assert_eq!(stats.hits, 0);
/// assert_eq!(stats.hit_rate(), 0.0);
/// ```
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
#[non_exhaustive]
pub struct CacheStats {
    /// Reads that found a usable value.
    pub hits: u64,
    /// Calls that ran the body for lack of a usable entry (an empty store, an entry that could not
    /// be used, a store that failed).
    pub misses: u64,
    /// Calls that found no entry and received the value another caller was computing for the same
    /// key (single-flight), without running the body.
    pub joined: u64,
    /// Values stored.
    pub sets: u64,
    /// Entries removed by `delete`, `clear`, `clear_pattern` and the invalidation helpers.
    pub deletes: u64,
    /// Entries the store dropped to stay within its capacity.
    pub evictions: u64,
    /// Entries dropped because their time to live ran out.
    pub expirations: u64,
    /// Operations that failed: provider errors, timeouts, values that did not decode.
    pub errors: u64,
    /// Values a function's `cache_if` predicate refused: returned to the caller, not stored.
    pub refused: u64,
    /// Of the `hits`, those a Redis provider's near cache served without asking Redis (see
    /// [`near_cache`](crate::redis::RedisProviderBuilder::near_cache)); 0 on other stores.
    pub near_hits: u64,
}

impl CacheStats {
    /// Hits over reads, between 0.0 and 1.0; 0.0 before the first read. A call that joined
    /// another's computation counts as a read that did not hit.
    ///
    /// ```
    /// let mut stats = cache_runtime::CacheStats::default();
    /// stats.hits = 3;
    /// stats.misses = 1;
    /// assert_eq!(stats.hit_rate(), 0.75);
    /// ```
    pub fn hit_rate(&self) -> f64 {
        let reads = self.hits + self.misses + self.joined;
        if reads == 0 {
            0.0
        } else {
            self.hits as f64 / reads as f64
        }
    }
}

/// The live counters behind [`CacheStats`], shared by all clones of a provider.
///
/// The runtime records reads, writes and errors on the counters of the provider it used, so a
/// [`CacheProvider`](crate::CacheProvider) written outside this crate only has to hold one (in an
/// `Arc` shared by its clones) and return it from [`counters`](crate::CacheProvider::counters);
/// the store itself records what only it sees (evictions, expirations).
///
/// Counting is spread over stripes of one cache line each, picked per thread, so that hits on
/// many threads do not contend on one line; a snapshot adds the stripes up.
///
/// ```
/// let counters = cache_runtime::StatsCounters::default();
/// counters.record_hit();
/// assert_eq!(counters.snapshot().hits, 1);
/// ```
pub struct StatsCounters {
    stripes: Box<[Stripe]>,
    store: StoreId,
}

/// Identifies one store: every handle on it returns the same [`StatsCounters`], and each
/// `StatsCounters` gets an id of its own when it is made, never reused (an address could be).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub(crate) struct StoreId(u64);

static NEXT_STORE: AtomicU64 = AtomicU64::new(1);

const STRIPES: usize = 16;

/// One thread's share of the counters, alone on its cache line.
#[derive(Default)]
#[repr(align(64))]
struct Stripe {
    hits: AtomicU64,
    misses: AtomicU64,
    joined: AtomicU64,
    sets: AtomicU64,
    deletes: AtomicU64,
    evictions: AtomicU64,
    expirations: AtomicU64,
    errors: AtomicU64,
    refused: AtomicU64,
}

/// Hands each thread the next stripe index in turn.
static NEXT_STRIPE: AtomicUsize = AtomicUsize::new(0);

thread_local! {
    /// This thread's stripe, `usize::MAX` until its first count: a `const` local without a
    /// destructor, read with no lazy-initialisation check (a tenth of a hit's counting).
    static STRIPE: Cell<usize> = const { Cell::new(usize::MAX) };
}

/// This thread's stripe index.
#[inline]
fn stripe_index() -> usize {
    let index = STRIPE.get();
    if index < STRIPES {
        return index;
    }
    let index = NEXT_STRIPE.fetch_add(1, Relaxed) % STRIPES;
    STRIPE.set(index);
    index
}

impl Default for StatsCounters {
    fn default() -> Self {
        StatsCounters {
            stripes: (0..STRIPES).map(|_| Stripe::default()).collect(),
            store: StoreId(NEXT_STORE.fetch_add(1, Relaxed)),
        }
    }
}

impl fmt::Debug for StatsCounters {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_tuple("StatsCounters").field(&self.snapshot()).finish()
    }
}

impl StatsCounters {
    #[inline]
    fn stripe(&self) -> &Stripe {
        &self.stripes[stripe_index()]
    }

    /// Counts one hit on each of `counters` (a store's and a function's), finding this thread's
    /// stripe once: the memory hit path's counting.
    #[inline]
    pub(crate) fn record_hit_on(counters: [&StatsCounters; 2]) {
        let stripe = stripe_index();
        for counters in counters {
            counters.stripes[stripe].hits.fetch_add(1, Relaxed);
        }
    }

    /// Counts a read that found a usable value.
    #[inline]
    pub fn record_hit(&self) {
        self.stripe().hits.fetch_add(1, Relaxed);
    }
    /// Counts a call that ran the body for lack of a usable entry.
    pub fn record_miss(&self) {
        self.stripe().misses.fetch_add(1, Relaxed);
    }
    /// Counts a call that received another caller's value.
    pub fn record_joined(&self) {
        self.stripe().joined.fetch_add(1, Relaxed);
    }
    /// The store these counters belong to.
    pub(crate) fn store(&self) -> StoreId {
        self.store
    }
    /// Counts a stored value.
    pub fn record_set(&self) {
        self.stripe().sets.fetch_add(1, Relaxed);
    }
    /// Counts `n` removed entries.
    pub fn record_deletes(&self, n: u64) {
        self.stripe().deletes.fetch_add(n, Relaxed);
    }
    /// Counts an entry dropped for capacity.
    pub fn record_eviction(&self) {
        self.stripe().evictions.fetch_add(1, Relaxed);
    }
    /// Counts an entry dropped because it expired.
    pub fn record_expiration(&self) {
        self.stripe().expirations.fetch_add(1, Relaxed);
    }
    /// Counts a failed operation.
    pub fn record_error(&self) {
        self.stripe().errors.fetch_add(1, Relaxed);
    }
    /// Counts a value that a `cache_if` predicate refused to store.
    pub fn record_refused(&self) {
        self.stripe().refused.fetch_add(1, Relaxed);
    }
    /// The counters as they are now.
    pub fn snapshot(&self) -> CacheStats {
        let sum = |field: fn(&Stripe) -> &AtomicU64| self.stripes.iter().map(|s| field(s).load(Relaxed)).sum();
        CacheStats {
            hits: sum(|s| &s.hits),
            misses: sum(|s| &s.misses),
            joined: sum(|s| &s.joined),
            sets: sum(|s| &s.sets),
            deletes: sum(|s| &s.deletes),
            evictions: sum(|s| &s.evictions),
            expirations: sum(|s| &s.expirations),
            errors: sum(|s| &s.errors),
            refused: sum(|s| &s.refused),
            near_hits: 0,
        }
    }
}

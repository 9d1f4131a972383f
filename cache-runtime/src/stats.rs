//! Counters of a provider and their snapshot.

use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

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
    /// Reads that found nothing (or something that could not be used).
    pub misses: u64,
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
}

impl CacheStats {
    /// Hits over reads, between 0.0 and 1.0; 0.0 before the first read.
    ///
    /// ```
    /// let mut stats = cache_runtime::CacheStats::default();
    /// stats.hits = 3;
    /// stats.misses = 1;
    /// assert_eq!(stats.hit_rate(), 0.75);
    /// ```
    pub fn hit_rate(&self) -> f64 {
        let reads = self.hits + self.misses;
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
/// [`CacheProvider`](crate::CacheProvider) written outside this crate only has to hold one and
/// return it from [`counters`](crate::CacheProvider::counters); the store itself records what only
/// it sees (evictions, expirations).
///
/// ```
/// let counters = cache_runtime::StatsCounters::default();
/// counters.record_hit();
/// assert_eq!(counters.snapshot().hits, 1);
/// ```
#[derive(Debug, Default)]
pub struct StatsCounters {
    hits: AtomicU64,
    misses: AtomicU64,
    sets: AtomicU64,
    deletes: AtomicU64,
    evictions: AtomicU64,
    expirations: AtomicU64,
    errors: AtomicU64,
}

impl StatsCounters {
    /// Counts a read that found a usable value.
    pub fn record_hit(&self) {
        self.hits.fetch_add(1, Relaxed);
    }
    /// Counts a read that found nothing usable.
    pub fn record_miss(&self) {
        self.misses.fetch_add(1, Relaxed);
    }
    /// Counts a stored value.
    pub fn record_set(&self) {
        self.sets.fetch_add(1, Relaxed);
    }
    /// Counts `n` removed entries.
    pub fn record_deletes(&self, n: u64) {
        self.deletes.fetch_add(n, Relaxed);
    }
    /// Counts an entry dropped for capacity.
    pub fn record_eviction(&self) {
        self.evictions.fetch_add(1, Relaxed);
    }
    /// Counts an entry dropped because it expired.
    pub fn record_expiration(&self) {
        self.expirations.fetch_add(1, Relaxed);
    }
    /// Counts a failed operation.
    pub fn record_error(&self) {
        self.errors.fetch_add(1, Relaxed);
    }
    /// The counters as they are now.
    pub fn snapshot(&self) -> CacheStats {
        CacheStats {
            hits: self.hits.load(Relaxed),
            misses: self.misses.load(Relaxed),
            sets: self.sets.load(Relaxed),
            deletes: self.deletes.load(Relaxed),
            evictions: self.evictions.load(Relaxed),
            expirations: self.expirations.load(Relaxed),
            errors: self.errors.load(Relaxed),
        }
    }
}

//! A hostile review of the memory store (`memory/store.rs`, `memory.rs`) and of the invalidation
//! rules on it: bounds and their counters, expiry, invalidations racing hits and misses, the
//! re-entrancy guard, a value's `Clone` that panics, and keys of every shape.
//!
//! The invalidation rule under test, as a model: a row has a version; a writer bumps it, then
//! invalidates; once the invalidation returns, every call that starts afterwards returns at least
//! the version bumped before it.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_runtime::{cached, with_provider, CacheProvider, CachedValue, MemoryProvider};
use cache_tests::{spawn_on, within_deadline, Rng};
use serde::{Deserialize, Serialize};

const MINUTE: Duration = Duration::from_secs(60);

// ---------------------------------------------------------------------------------------------
// Tags: a mark pruned while a computation that it must void is still running.
// ---------------------------------------------------------------------------------------------

static SLOW_TAGGED_VERSION: AtomicU64 = AtomicU64::new(1);

/// A slow read (10 s, a slow query) of a tagged row: the version it saw when it started.
#[cached(ttl = "1h", key = "adv_store_slow_tagged:{id}", tags = ["adv_store_slow_row:{id}"])]
async fn slow_tagged(id: u64) -> u64 {
    let seen = SLOW_TAGGED_VERSION.load(SeqCst);
    tokio::time::sleep(Duration::from_secs(10)).await;
    let _ = id;
    seen
}

/// A tag invalidated while a computation of a tagged entry runs must void that computation,
/// whatever else is invalidated meanwhile. Here the store invalidates many other tags (4,096
/// users, say) while the 10 s body runs: the store prunes marks older than the longest lifetime
/// of a tagged entry *stored* (none yet) plus 1 s, the mark that voids the running body among
/// them. The body's value from before the invalidation must still be refused (it was stored
/// and served before `pruned_up_to`, tags.rs).
#[tokio::test(start_paused = true)]
async fn a_tag_invalidation_still_voids_a_slow_computation_after_many_other_tags_are_invalidated() {
    let store = MemoryProvider::new();
    SLOW_TAGGED_VERSION.store(1, SeqCst);
    let slow = spawn_on(&store, slow_tagged(1));
    // The body starts and reads version 1.
    tokio::time::sleep(Duration::from_millis(1)).await;

    SLOW_TAGGED_VERSION.store(2, SeqCst);
    with_provider(store.clone(), cache_runtime::invalidate_tag("adv_store_slow_row:1")).await.unwrap();

    // Other rows are written and invalidated while the slow body still runs.
    tokio::time::sleep(Duration::from_secs(2)).await;
    with_provider(store.clone(), async {
        for user in 0..4_200u32 {
            cache_runtime::invalidate_tag(&format!("adv_store_user:{user}")).await.unwrap();
        }
    })
    .await;

    assert_eq!(slow.await.unwrap(), 1, "the in-flight caller keeps what it computed");
    let after = with_provider(store.clone(), slow_tagged(1)).await;
    assert_eq!(after, 2, "a call made after invalidate_tag returned was served the value computed before it");
}

// ---------------------------------------------------------------------------------------------
// `max_entries` functions and the provider-wide invalidations.
// ---------------------------------------------------------------------------------------------

static BOUNDED_VERSION: AtomicU64 = AtomicU64::new(1);

#[cached(ttl = 60, key = "adv_store_bounded:{id}", max_entries = 100)]
async fn bounded_row(id: u64) -> u64 {
    let _ = id;
    BOUNDED_VERSION.load(SeqCst)
}

/// `cache_runtime::clear()` "removes every entry" of the default provider, and the invalidation
/// rule names it: a `max_entries` function keeps its entries in a store of its own in place of
/// that provider, and a call after `clear` returned must not be served what was cached before.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clear_reaches_the_entries_of_a_max_entries_function() {
    with_provider(MemoryProvider::new(), async {
        BOUNDED_VERSION.store(1, SeqCst);
        assert_eq!(bounded_row(1).await, 1);
        BOUNDED_VERSION.store(2, SeqCst);
        cache_runtime::clear().await.unwrap();
        assert_eq!(bounded_row(1).await, 2, "clear() returned, and the old value was served");
    })
    .await;
}

/// The same for `clear_pattern` and for `delete`, both named by the invalidation rule; the key is
/// the macro's key, which cache-aside calls use verbatim.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn clear_pattern_and_delete_reach_the_entries_of_a_max_entries_function() {
    with_provider(MemoryProvider::new(), async {
        BOUNDED_VERSION.store(10, SeqCst);
        assert_eq!(bounded_row(2).await, 10);
        BOUNDED_VERSION.store(11, SeqCst);
        cache_runtime::clear_pattern("adv_store_bounded:*").await.unwrap();
        let after_pattern = bounded_row(2).await;
        BOUNDED_VERSION.store(12, SeqCst);
        cache_runtime::delete("adv_store_bounded:2").await.unwrap();
        let after_delete = bounded_row(2).await;
        assert_eq!(
            (after_pattern, after_delete),
            (11, 12),
            "values cached before clear_pattern / delete returned were served after"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Bounds and their counters.
// ---------------------------------------------------------------------------------------------

/// "At most this many entries", with a bound that does not divide into the store's shards (each
/// shard's share was rounded up, and the shares added up to more than the bound).
#[tokio::test]
async fn an_entry_bound_that_does_not_divide_into_the_shards_still_holds() {
    for bound in [1_024u64, 1_025, 1_031, 3_001, 10_001] {
        let provider = MemoryProvider::builder().max_capacity(bound).build();
        for i in 0..bound * 30 {
            provider.insert_now(&format!("k:{i}"), i);
        }
        provider.run_pending_tasks().await;
        assert!(provider.entry_count() <= bound, "max_capacity({bound}) holds {} entries", provider.entry_count());
    }
}

trait InsertNow {
    fn insert_now(&self, key: &str, value: u64);
}

impl InsertNow for MemoryProvider {
    /// A write of the memory store: it acts before its future is polled.
    fn insert_now(&self, key: &str, value: u64) {
        drop(self.set(key, CachedValue::new(value), MINUTE));
    }
}

async fn get_now(provider: &MemoryProvider, key: &str) -> Option<u64> {
    let cache = with_provider(provider.clone(), async { cache_runtime::cache() }).await;
    cache.get::<u64>(key).await.expect("the memory store does not fail")
}

/// Every key written is readable right after its write, whatever the bound and whatever is hot;
/// and with distinct keys that never expire, what was written is what is held plus what was
/// evicted.
#[tokio::test]
async fn a_new_key_is_always_stored_and_evictions_add_up() {
    for (bound, bytes) in [(1u64, false), (2, false), (7, false), (100, false), (2_000, false), (20_000, true)] {
        let provider = match bytes {
            false => MemoryProvider::builder().max_capacity(bound).build(),
            true => MemoryProvider::builder().max_bytes(bound).build(),
        };
        let mut rng = Rng(0x9e37_79b9 ^ bound);
        let written = 5_000u64;
        for i in 0..written {
            let key = format!("fresh:{i}");
            provider.insert_now(&key, i);
            assert_eq!(get_now(&provider, &key).await, Some(i), "bound {bound}: key {i} not stored");
            // Make some old keys hot, so that the policy has favourites.
            for _ in 0..3 {
                let old = rng.below(i + 1);
                let _ = get_now(&provider, &format!("fresh:{old}")).await;
            }
        }
        provider.run_pending_tasks().await;
        let stats = provider.stats();
        assert_eq!(
            provider.entry_count() + stats.evictions + stats.expirations,
            written,
            "bound {bound}: {} held, {stats:?}",
            provider.entry_count()
        );
    }
}

/// Overwrites of one key are not evictions; expired entries are counted as expired, once; and
/// the entry count comes back to what is live after a reclaim, with no read.
#[tokio::test(start_paused = true)]
async fn overwrites_expiries_and_evictions_are_counted_apart() {
    let provider = MemoryProvider::builder().max_capacity(50).build();
    for round in 0..100u64 {
        for i in 0..10u64 {
            drop(provider.set(&format!("same:{i}"), CachedValue::new(round), Duration::from_secs(1)));
        }
    }
    assert_eq!(provider.stats().evictions, 0, "{:?}", provider.stats());
    tokio::time::advance(Duration::from_secs(2)).await;
    provider.run_pending_tasks().await;
    assert_eq!(provider.entry_count(), 0);
    assert_eq!(provider.stats().expirations, 10, "{:?}", provider.stats());
    for i in 0..10u64 {
        assert_eq!(get_now(&provider, &format!("same:{i}")).await, None);
    }
}

// ---------------------------------------------------------------------------------------------
// Per-entry ttl.
// ---------------------------------------------------------------------------------------------

/// An entry is never returned at or past its ttl, by any read (get, exists, the macro's hit),
/// and an entry stored again with a shorter ttl expires at the shorter one.
#[tokio::test(start_paused = true)]
async fn an_expired_entry_is_never_returned_at_the_boundary() {
    let provider = MemoryProvider::new();
    drop(provider.set("t", CachedValue::new(1u64), Duration::from_millis(1_000)));
    tokio::time::advance(Duration::from_millis(999)).await;
    assert_eq!(get_now(&provider, "t").await, Some(1));
    tokio::time::advance(Duration::from_millis(1)).await;
    assert_eq!(get_now(&provider, "t").await, None, "returned at its ttl");
    assert!(!futures_bool(provider.exists("t")));

    drop(provider.set("u", CachedValue::new(1u64), Duration::from_secs(3_600)));
    drop(provider.set("u", CachedValue::new(2u64), Duration::from_secs(1)));
    tokio::time::advance(Duration::from_secs(1)).await;
    assert_eq!(get_now(&provider, "u").await, None, "the shorter ttl of the last write holds");
    // The stale long expiry of the first write does not bring anything back or break reclaiming.
    drop(provider.set("u", CachedValue::new(3u64), Duration::from_secs(10)));
    assert_eq!(get_now(&provider, "u").await, Some(3));
}

fn futures_bool(future: cache_runtime::ProviderFuture<'_, bool>) -> bool {
    let waker = std::task::Waker::noop();
    let mut cx = std::task::Context::from_waker(waker);
    let mut future = future;
    match future.as_mut().poll(&mut cx) {
        std::task::Poll::Ready(found) => found.expect("the memory store does not fail"),
        std::task::Poll::Pending => panic!("a memory store future was pending"),
    }
}

/// Churn of a few keys with a long ttl, overwritten, removed and stored again, on a paused clock:
/// then a ttl passes and the writes of other keys (no reads) reclaim what expired.
#[tokio::test(start_paused = true)]
async fn churn_of_the_same_keys_is_reclaimed_without_reads() {
    let provider = MemoryProvider::builder().max_capacity(1_000_000).build();
    for round in 0..20_000u64 {
        let key = format!("churn:{}", round % 16);
        drop(provider.set(&key, CachedValue::new(round), Duration::from_secs(5)));
        if round % 3 == 0 {
            drop(provider.delete(&key));
        }
    }
    assert!(provider.entry_count() <= 16);
    tokio::time::advance(Duration::from_secs(6)).await;
    // Writes of other keys, a few reclaimed per write.
    for i in 0..64u64 {
        drop(provider.set(&format!("other:{i}"), CachedValue::new(i), Duration::from_secs(60)));
    }
    assert_eq!(provider.entry_count(), 64, "the churned keys were not reclaimed by the writes");
}

// ---------------------------------------------------------------------------------------------
// Invalidations racing hits and misses, on a multi-threaded runtime.
// ---------------------------------------------------------------------------------------------

const ROWS: usize = 3;
static RACE_VERSIONS: [AtomicU64; ROWS] = [const { AtomicU64::new(1) }; ROWS];
/// Per row: the version every call that starts now must return at least (raised once an
/// invalidation that followed a write of that version has returned).
static RACE_FLOORS: [AtomicU64; ROWS] = [const { AtomicU64::new(1) }; ROWS];
static RACE_TICK: AtomicU64 = AtomicU64::new(0);

#[cached(ttl = 60, key = "adv_store_race:{id}", tags = ["adv_store_race_of:{id}", "adv_store_race_all"])]
async fn race_read(id: u64) -> u64 {
    let seen = RACE_VERSIONS[id as usize].load(SeqCst);
    // A body of varied length: none, a few yields, or a short sleep.
    let tick = RACE_TICK.fetch_add(1, SeqCst).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 59;
    match tick % 4 {
        0 => {}
        1 | 2 => {
            for _ in 0..tick {
                tokio::task::yield_now().await;
            }
        }
        _ => tokio::time::sleep(Duration::from_micros(200 + 50 * tick)).await,
    }
    seen
}

async fn race_invalidate(how: u64, id: u64) {
    match how {
        0 => {
            race_read_invalidate(id).await;
        }
        1 => {
            cache_runtime::delete(&format!("adv_store_race:{id}")).await.unwrap();
        }
        2 => {
            cache_runtime::clear_pattern(&format!("adv_store_race:{id}")).await.unwrap();
        }
        3 => {
            cache_runtime::clear_pattern("adv_store_race:*").await.unwrap();
        }
        4 => {
            cache_runtime::clear().await.unwrap();
        }
        5 => {
            cache_runtime::invalidate_tag(&format!("adv_store_race_of:{id}")).await.unwrap();
        }
        _ => {
            cache_runtime::invalidate_tag("adv_store_race_all").await.unwrap();
        }
    }
}

/// Readers hit and miss six rows on four worker threads while writers bump versions and
/// invalidate by every means (key, delete, literal and glob pattern, clear, own tag, shared tag),
/// on a randomized schedule. No call that starts after an invalidation returned may return a
/// version older than the one written before it.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn invalidations_of_every_kind_win_over_concurrent_hits_and_misses() {
    let store = MemoryProvider::new();
    let violations = Arc::new(Mutex::new(Vec::<String>::new()));
    let mut tasks = Vec::new();
    for reader in 0..8u64 {
        let violations = Arc::clone(&violations);
        tasks.push(spawn_on(&store, async move {
            let mut rng = Rng(0x1234_5678 + reader * 7_919);
            for _ in 0..5_000 {
                let id = rng.below(ROWS as u64);
                let floor = RACE_FLOORS[id as usize].load(SeqCst);
                let got = race_read(id).await;
                if got < floor {
                    violations.lock().unwrap().push(format!("row {id}: got {got}, floor {floor}"));
                }
            }
        }));
    }
    for writer in 0..2u64 {
        tasks.push(spawn_on(&store, async move {
            let mut rng = Rng(0xdead_beef + writer * 104_729);
            for _ in 0..1_000 {
                let id = rng.below(ROWS as u64);
                let how = rng.below(7);
                let new = RACE_VERSIONS[id as usize].fetch_add(1, SeqCst) + 1;
                race_invalidate(how, id).await;
                RACE_FLOORS[id as usize].fetch_max(new, SeqCst);
                if rng.below(4) == 0 {
                    tokio::time::sleep(Duration::from_micros(300)).await;
                }
            }
        }));
    }
    tokio::time::timeout(Duration::from_secs(120), async {
        for task in tasks {
            task.await.unwrap();
        }
    })
    .await
    .expect("the race finished within 120 s");
    let violations = violations.lock().unwrap();
    assert!(
        violations.is_empty(),
        "{} stale reads, first: {:?}",
        violations.len(),
        &violations[..violations.len().min(5)]
    );
}

// ---------------------------------------------------------------------------------------------
// The re-entrancy guard, and a value's `Clone` that panics.
// ---------------------------------------------------------------------------------------------

static FRAGILE_PANICS: AtomicBool = AtomicBool::new(false);
static FRAGILE_RUNS: AtomicUsize = AtomicUsize::new(0);

/// A value whose `Clone` panics while `FRAGILE_PANICS` is set.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Fragile(u64);

impl Clone for Fragile {
    fn clone(&self) -> Self {
        if FRAGILE_PANICS.load(SeqCst) {
            panic!("Fragile::clone");
        }
        Fragile(self.0)
    }
}

#[cached(ttl = 60, key = "adv_store_fragile:{n}")]
async fn fragile(n: u64) -> Fragile {
    FRAGILE_RUNS.fetch_add(1, SeqCst);
    Fragile(n)
}

/// A hit whose `Clone` panics fails that call only: on the same thread afterwards, writes,
/// removals and invalidations still act (none is skipped as if a read were still under way), the
/// store's lock is not poisoned, and the counters go on counting.
#[test]
fn a_panicking_clone_on_a_hit_leaves_the_thread_and_the_store_usable() {
    within_deadline(Duration::from_secs(30), || {
        // One thread: every task below runs on the thread the panic unwound.
        let rt = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
        let store = MemoryProvider::builder().max_capacity(100).build();
        rt.block_on(async {
            FRAGILE_PANICS.store(false, SeqCst);
            assert_eq!(spawn_on(&store, fragile(1)).await.unwrap(), Fragile(1));
            let hits_before = store.stats().hits;
            FRAGILE_PANICS.store(true, SeqCst);
            for _ in 0..3 {
                let failed = spawn_on(&store, fragile(1)).await;
                assert!(failed.is_err_and(|error| error.is_panic()), "the hit's clone panicked");
            }
            FRAGILE_PANICS.store(false, SeqCst);
            // The same thread: a hit, a write, an invalidation, a tag, a clear all act.
            assert_eq!(spawn_on(&store, fragile(1)).await.unwrap(), Fragile(1));
            assert!(store.stats().hits > hits_before, "a hit after the panics is counted: {:?}", store.stats());
            store.insert_now("after-panic", 5);
            assert_eq!(get_now(&store, "after-panic").await, Some(5), "a write after the panic was skipped");
            assert!(with_provider(store.clone(), fragile_invalidate(1)).await, "the invalidation found the entry");
            let runs = FRAGILE_RUNS.load(SeqCst);
            assert_eq!(spawn_on(&store, fragile(1)).await.unwrap(), Fragile(1));
            assert_eq!(FRAGILE_RUNS.load(SeqCst), runs + 1, "the invalidated entry was computed again");
            assert_eq!(with_provider(store.clone(), cache_runtime::clear()).await.unwrap(), 2);
            assert_eq!(store.entry_count(), 0);
        });
    });
}

/// The store a `Clone` below calls into, set by the one test that uses it.
static ECHO_STORE: Mutex<Option<MemoryProvider>> = Mutex::new(None);

/// A value whose `Clone` calls every operation of the store it is read from.
#[derive(Serialize, Deserialize, Debug, PartialEq)]
struct Echo(u64);

impl Clone for Echo {
    fn clone(&self) -> Self {
        let store = ECHO_STORE.lock().unwrap().clone();
        if let Some(store) = store {
            drop(store.delete("adv_store_echo:1"));
            drop(store.exists("adv_store_echo:1"));
            drop(store.get_aged("adv_store_echo:1"));
            drop(store.invalidate_tag("adv_store_echo_tag"));
            let pattern = cache_runtime::key::Pattern::parse("adv_store_echo:*").unwrap();
            drop(store.clear_pattern(&pattern));
            drop(store.clear());
            drop(store.set("adv_store_echo:side", CachedValue::new(self.0), MINUTE));
        }
        Echo(self.0)
    }
}

#[cached(ttl = 60, key = "adv_store_echo:{n}", tags = ["adv_store_echo_tag"])]
async fn echo(n: u64) -> Echo {
    Echo(n)
}

/// A value whose `Clone` calls back into every store operation (on hits, on many threads at once)
/// never hangs, and the hits keep their value.
#[test]
fn a_clone_that_calls_every_store_operation_never_hangs() {
    within_deadline(Duration::from_secs(30), || {
        let provider = MemoryProvider::builder().max_capacity(100).build();
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(4).enable_all().build().unwrap();
        rt.block_on(async {
            assert_eq!(spawn_on(&provider, echo(1)).await.unwrap(), Echo(1));
            *ECHO_STORE.lock().unwrap() = Some(provider.clone());
            let callers: Vec<_> = (0..64).map(|i| spawn_on(&provider, echo(1 + i % 2))).collect();
            for (i, caller) in callers.into_iter().enumerate() {
                assert_eq!(caller.await.unwrap(), Echo(1 + i as u64 % 2));
            }
            *ECHO_STORE.lock().unwrap() = None;
        });
    });
}

// ---------------------------------------------------------------------------------------------
// Keys.
// ---------------------------------------------------------------------------------------------

static KEYED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "adv_store_keyed:{text}")]
async fn keyed(text: String) -> String {
    KEYED_RUNS.fetch_add(1, SeqCst);
    text
}

/// Empty keys, keys that differ only past the macro's 64-byte key buffer (or only in its last
/// byte, or at the boundary between inline and stored-inline lengths), very long keys, unicode
/// (and unicode that normalizes alike): each is its own entry, and each hit returns its own value.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn keys_of_every_shape_are_their_own_entries() {
    let long = "x".repeat(100_000);
    let mut texts: Vec<String> = vec![
        String::new(),
        " ".into(),
        "%".into(),
        "*".into(),
        "é".into(),
        "e\u{301}".into(),
        "日本語".into(),
        "🦀".repeat(40),
        long.clone(),
        format!("{long}y"),
    ];
    for len in [21usize, 22, 23, 40, 47, 48, 49, 63, 64, 65, 127, 128, 129] {
        let base = "a".repeat(len);
        texts.push(base.clone());
        texts.push(format!("{base}b"));
        texts.push(format!("{}b", &base[..len - 1]));
    }
    texts.sort();
    texts.dedup();
    with_provider(MemoryProvider::new(), async {
        let before = KEYED_RUNS.load(SeqCst);
        for _ in 0..3 {
            for text in &texts {
                assert_eq!(&keyed(text.clone()).await, text, "{} bytes", text.len());
            }
        }
        assert_eq!(KEYED_RUNS.load(SeqCst) - before, texts.len(), "each key computed once, then hit");
        for text in &texts {
            assert!(keyed_invalidate(text.clone()).await, "{} bytes: invalidate found it", text.len());
        }
        for text in &texts {
            assert!(!keyed_invalidate(text.clone()).await, "{} bytes: removed once", text.len());
        }
    })
    .await;
}

/// A value refused as heavier than the byte bound, written over a key that held a small value:
/// one write is refused, so one eviction is counted (the small value it replaces is no more an
/// eviction than any overwrite is), and nothing stays under the key.
#[tokio::test]
async fn a_refused_overweight_write_over_a_key_counts_one_eviction() {
    let provider = MemoryProvider::builder().max_bytes(10_000).build();
    drop(provider.set("heavy", CachedValue::new(vec![0u8; 100]), MINUTE));
    assert_eq!(provider.entry_count(), 1);
    drop(provider.set("heavy", CachedValue::new(vec![0u8; 20_000]), MINUTE));
    assert_eq!(provider.entry_count(), 0, "the refused value is not held, nor the one it replaced");
    assert_eq!(provider.stats().evictions, 1, "one write refused: {:?}", provider.stats());
}

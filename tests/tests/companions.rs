//! The companions of a cached function, used as an application would: `_refresh` (write-through
//! and warming), `_uncached`, `_clear`, and `max_entries` and `stats_for` beside them.

use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::{cached, stats_for, with_provider, MemoryProvider};
use cache_tests::spawn_on;

/// What the "database" holds; the bodies read it.
static PRICE: AtomicU64 = AtomicU64::new(10);
static PRICE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "price:{sku}")]
async fn price(sku: u32) -> u64 {
    PRICE_RUNS.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(5)).await;
    PRICE.load(SeqCst) + u64::from(sku)
}

#[tokio::test]
async fn refresh_stores_over_an_entry_and_uncached_leaves_the_cache_alone() {
    with_provider(MemoryProvider::new(), async {
        PRICE.store(10, SeqCst);
        assert_eq!(price(1).await, 11);
        PRICE.store(20, SeqCst);
        assert_eq!(price(1).await, 11, "a hit");
        assert_eq!(price_uncached(1).await, 21, "the body, not the entry");
        assert_eq!(price(1).await, 11, "uncached stored nothing");
        assert_eq!(price_refresh(1).await, 21);
        assert_eq!(price(1).await, 21, "the refreshed value");
        assert_eq!(cache_runtime::get::<u64>("price:1").await.unwrap(), Some(21));
    })
    .await;
}

static SLOW_VERSION: AtomicU64 = AtomicU64::new(0);
static SLOW_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "slow:{id}")]
async fn slow(id: u32) -> u64 {
    SLOW_RUNS.fetch_add(1, SeqCst);
    let seen = SLOW_VERSION.load(SeqCst);
    tokio::time::sleep(Duration::from_millis(30)).await;
    seen + u64::from(id)
}

/// A refresh never takes the value of a computation that started before it: the running one is
/// voided (it returns its value to its caller but stores nothing) and the refresh stores its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_voids_the_computation_in_flight_and_stores_its_own() {
    let store = MemoryProvider::new();
    SLOW_VERSION.store(1, SeqCst);
    let old = spawn_on(&store, slow(1));
    tokio::time::sleep(Duration::from_millis(10)).await;
    SLOW_VERSION.store(2, SeqCst);
    let refreshed = with_provider(store.clone(), slow_refresh(1)).await;
    assert_eq!(refreshed, 3);
    assert_eq!(old.await.unwrap(), 2, "the old computation returns to its own caller");
    assert_eq!(with_provider(store.clone(), slow(1)).await, 3, "and did not store over the refresh");
}

static MIXED_RUNS: AtomicUsize = AtomicUsize::new(0);
static MIXED_VERSION: AtomicU64 = AtomicU64::new(0);

#[cached(key = "mixed:{id}")]
async fn mixed(id: u32) -> u64 {
    MIXED_RUNS.fetch_add(1, SeqCst);
    let seen = MIXED_VERSION.load(SeqCst);
    tokio::time::sleep(Duration::from_millis(3)).await;
    seen * 100 + u64::from(id)
}

/// 25 tasks refresh and 25 call the function, all at once, while the "database" changes: every
/// body run (a refresh's too) is a counted miss, calls never outnumber runs by leading on their own,
/// and once all are done the store holds the last refresh's version or a later one.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn fifty_tasks_refreshing_and_calling_at_once() {
    let store = MemoryProvider::new();
    let mut tasks = Vec::new();
    for i in 0..50u64 {
        let refresh = i % 2 == 0;
        tasks.push(spawn_on(&store, async move {
            if refresh {
                MIXED_VERSION.fetch_add(1, SeqCst);
                mixed_refresh(7).await
            } else {
                mixed(7).await
            }
        }));
    }
    for task in tasks {
        let value = task.await.unwrap();
        assert_eq!(value % 100, 7);
    }
    let stats = stats_for(concat!(module_path!(), "::mixed")).unwrap();
    let runs = MIXED_RUNS.load(SeqCst) as u64;
    assert_eq!(runs, stats.misses, "every run, the 25 refreshes included, is a counted miss");
    assert!(stats.misses - 25 < 25, "calls join the refreshes or hit: {stats:?}");
    let last = MIXED_VERSION.load(SeqCst);
    assert_eq!(last, 25);
    // The final entry comes from a refresh that started after every version bump but the last
    // ones that were still in flight; refreshing once more settles it.
    let settled = with_provider(store.clone(), async { mixed_refresh(7).await }).await;
    assert_eq!(settled, 2507);
    assert_eq!(with_provider(store.clone(), mixed(7)).await, 2507);
}

static RACE_VERSION: AtomicU64 = AtomicU64::new(0);

#[cached(key = "race:{id}")]
async fn race(id: u64) -> u64 {
    let seen = RACE_VERSION.load(SeqCst);
    tokio::time::sleep(Duration::from_millis(2)).await;
    seen * 1000 + id
}

/// An `_invalidate` that comes while a `_refresh` computes wins: the refresh's value, read before
/// the invalidation, is never left in the store.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalidation_racing_a_refresh_never_leaves_a_value_from_before_it() {
    let store = MemoryProvider::new();
    for round in 1..=60u64 {
        RACE_VERSION.store(round, SeqCst);
        let refresh = spawn_on(&store, race_refresh(1));
        // Somewhere inside the refresh's computation, or before or after it.
        tokio::time::sleep(Duration::from_micros(round * 50)).await;
        RACE_VERSION.store(round + 1_000, SeqCst);
        let _removed = with_provider(store.clone(), race_invalidate(1)).await;
        refresh.await.unwrap();
        let held: Option<u64> = with_provider(store.clone(), cache_runtime::get("race:1")).await.unwrap();
        assert_ne!(held, Some(round * 1000 + 1), "round {round}: a value read before the invalidation was stored");
    }
}

#[cached(key = "tag:{a}")]
async fn tag(a: u32) -> u32 {
    a
}

/// Shares the literal text before `tag`'s placeholder: `tag_clear` must not touch it.
#[cached(key = "tag_v2:{a}")]
async fn tag_v2(a: u32) -> u32 {
    a
}

#[cached]
async fn area(w: u32, h: u32) -> u32 {
    w * h
}

#[cached]
async fn area_total(w: u32) -> u32 {
    w
}

#[tokio::test]
async fn clear_drops_every_entry_of_its_function_and_no_other() {
    let store = MemoryProvider::new();
    with_provider(store.clone(), async {
        for a in 0..5 {
            tag(a).await;
            tag_v2(a).await;
            area(a, a + 1).await;
            area_total(a).await;
        }
        assert_eq!(tag_clear().await, 5);
        assert_eq!(tag_clear().await, 0);
        assert!(cache_runtime::exists("tag_v2:3").await.unwrap());
        assert_eq!(area_clear().await, 5);
        assert_eq!(area_total_clear().await, 5);
        assert_eq!(tag_v2_clear().await, 5);
        assert_eq!(store.entry_count(), 0);
    })
    .await;
}

static BOUNDED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "bounded:{n}", max_entries = 10)]
async fn bounded(n: u32) -> u32 {
    BOUNDED_RUNS.fetch_add(1, SeqCst);
    n
}

#[tokio::test]
async fn max_entries_bounds_the_function_and_keeps_the_newest_key() {
    let shared = MemoryProvider::new();
    with_provider(shared.clone(), async {
        for n in 0..15 {
            bounded(n).await;
        }
        let label = concat!(module_path!(), "::bounded");
        let before = stats_for(label).unwrap();
        assert_eq!(before.misses, 15);
        // The newest key first: it is always there.
        bounded(14).await;
        assert_eq!(stats_for(label).unwrap().hits, before.hits + 1, "the newest key was stored");
        for n in 0..14 {
            bounded(n).await;
        }
        let after = stats_for(label).unwrap();
        assert!(after.hits - before.hits <= 10, "at most 10 entries were kept: {after:?}");
        assert_eq!(shared.entry_count(), 0, "the entries live in the function's own store");
        assert!(bounded_clear().await <= 10);
    })
    .await;
}

#[cached(key = "counted:{n}")]
async fn counted(n: u32) -> u32 {
    tokio::time::sleep(Duration::from_millis(20)).await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn stats_for_counts_one_function() {
    let store = MemoryProvider::new();
    let label = concat!(module_path!(), "::counted");
    let tasks: Vec<_> = (0..10).map(|_| spawn_on(&store, counted(1))).collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 1);
    }
    with_provider(store.clone(), counted(1)).await;
    let stats = stats_for(label).unwrap();
    assert_eq!((stats.misses, stats.joined, stats.hits, stats.sets), (1, 9, 1, 1), "{stats:?}");
    assert!(stats_for(concat!(module_path!(), "::never_called")).is_none());
}

static STOCK: AtomicU64 = AtomicU64::new(0);

fn in_stock(count: &u64) -> bool {
    *count > 0
}

#[cached(key = "stock:{sku}", cache_if = in_stock)]
async fn stock(sku: u32) -> u64 {
    let _ = sku;
    STOCK.load(SeqCst)
}

/// A refresh whose value `cache_if` refuses removes the entry it was to replace: the value from
/// before the refresh is no longer served (found by the third review). Its body counts as a miss.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_refused_refresh_removes_the_entry_it_was_to_replace() {
    with_provider(MemoryProvider::new(), async {
        STOCK.store(5, SeqCst);
        assert_eq!(stock(1).await, 5);
        let misses = stats_for("companions::stock").expect("stats of a called function").misses;
        STOCK.store(0, SeqCst);
        assert_eq!(stock_refresh(1).await, 0, "the refresh returns its value");
        assert_eq!(stats_for("companions::stock").unwrap().misses, misses + 1, "a refresh runs the body: a miss");
        assert_eq!(cache_runtime::get::<u64>("stock:1").await.unwrap(), None, "the old entry is gone");
        STOCK.store(7, SeqCst);
        assert_eq!(stock(1).await, 7, "the next call runs the body again");
    })
    .await;
}

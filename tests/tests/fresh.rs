//! Fresh, stale, refreshed: `stale`, `soft_timeout`, `hard_timeout`, `refresh_ahead`, and what
//! `cache_runtime::outcome` tells, on the memory store with tokio's clock paused (and real time
//! where many threads hit one key).

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::{cached, outcome, with_provider, MemoryProvider, Outcome, StaleReason};
use cache_tests::{spawn_on, Rng};
use tokio::time::{advance, sleep, Instant};

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

// ---- stale on error, on None, on a panic ----------------------------------------------------

static QUOTE_RUNS: AtomicU64 = AtomicU64::new(0);
static QUOTE_FAILS: AtomicBool = AtomicBool::new(false);

#[cached(ttl = 10, stale = 60, key = "quote:{id}")]
async fn quote(id: u64) -> Result<u64, String> {
    let run = QUOTE_RUNS.fetch_add(1, SeqCst) + 1;
    if QUOTE_FAILS.load(SeqCst) {
        return Err(format!("source down for {id}"));
    }
    Ok(run)
}

#[tokio::test(start_paused = true)]
async fn an_error_serves_the_stale_value_until_ttl_plus_stale() {
    with_provider(MemoryProvider::new(), async {
        assert_eq!(outcome(quote(1)).await, (Ok(1), Some(Outcome::Miss)));
        advance(secs(5)).await;
        assert_eq!(outcome(quote(1)).await, (Ok(1), Some(Outcome::Hit)), "fresh under ttl");
        advance(secs(6)).await;
        QUOTE_FAILS.store(true, SeqCst);
        assert_eq!(outcome(quote(1)).await, (Ok(1), Some(Outcome::Stale(StaleReason::Error))));
        assert_eq!(QUOTE_RUNS.load(SeqCst), 2, "a stale entry runs the body");
        // Once ttl + stale have passed, there is nothing to fall back on: the error is returned.
        advance(secs(60)).await;
        let (out, how) = outcome(quote(1)).await;
        assert!(out.is_err());
        assert_eq!(how, Some(Outcome::Miss));
        // A success after a stale entry replaces it, fresh again.
        QUOTE_FAILS.store(false, SeqCst);
        assert_eq!(outcome(quote(1)).await, (Ok(4), Some(Outcome::Miss)));
        assert_eq!(outcome(quote(1)).await, (Ok(4), Some(Outcome::Hit)));
    })
    .await;
}

static NAME_NONE: AtomicBool = AtomicBool::new(false);

#[cached(ttl = 10, stale = 60, key = "name:{id}")]
async fn name(id: u64) -> Option<String> {
    (!NAME_NONE.load(SeqCst)).then(|| format!("name {id}"))
}

#[tokio::test(start_paused = true)]
async fn none_serves_the_stale_value() {
    with_provider(MemoryProvider::new(), async {
        assert_eq!(name(1).await.as_deref(), Some("name 1"));
        advance(secs(11)).await;
        NAME_NONE.store(true, SeqCst);
        let (out, how) = outcome(name(1)).await;
        assert_eq!((out.as_deref(), how), (Some("name 1"), Some(Outcome::Stale(StaleReason::None))));
    })
    .await;
}

static PANICS: AtomicBool = AtomicBool::new(false);

#[cached(ttl = 10, stale = 60, key = "fragile:{id}")]
async fn fragile(id: u64) -> u64 {
    if PANICS.load(SeqCst) {
        panic!("the source broke for {id}");
    }
    id * 10
}

#[tokio::test(start_paused = true)]
async fn a_panic_serves_the_stale_value_and_without_one_it_reaches_the_caller() {
    let store = MemoryProvider::new();
    with_provider(store.clone(), async {
        assert_eq!(fragile(1).await, 10);
        advance(secs(11)).await;
        PANICS.store(true, SeqCst);
        assert_eq!(outcome(fragile(1)).await, (10, Some(Outcome::Stale(StaleReason::Panic))));
    })
    .await;
    // No stale value: the cache does not hide the panic.
    let cold = spawn_on(&store, fragile(2)).await;
    assert!(cold.unwrap_err().is_panic());
    PANICS.store(false, SeqCst);
    assert_eq!(spawn_on(&store, fragile(2)).await.unwrap(), 20, "the flight of the panicked call ended");
}

// ---- timeouts --------------------------------------------------------------------------------

static SLOW_FOR: AtomicU64 = AtomicU64::new(0);
static SLOW_DONE: AtomicU64 = AtomicU64::new(0);

#[cached(ttl = 10, stale = 60, hard_timeout = "2s", key = "slow:{id}")]
async fn slow(id: u64) -> Result<u64, String> {
    sleep(Duration::from_millis(SLOW_FOR.load(SeqCst))).await;
    Ok(id + SLOW_DONE.fetch_add(1, SeqCst))
}

#[tokio::test(start_paused = true)]
async fn hard_timeout_drops_the_body_with_a_stale_value_and_does_nothing_without() {
    with_provider(MemoryProvider::new(), async {
        // Cold: no stale value at hand, the caller waits for the body, however long.
        SLOW_FOR.store(5_000, SeqCst);
        let started = Instant::now();
        assert_eq!(outcome(slow(100)).await, (Ok(100), Some(Outcome::Miss)));
        assert_eq!(started.elapsed(), secs(5));
        advance(secs(11)).await;
        let started = Instant::now();
        assert_eq!(outcome(slow(100)).await, (Ok(100), Some(Outcome::Stale(StaleReason::HardTimeout))));
        assert_eq!(started.elapsed(), secs(2), "the caller waited hard_timeout");
        advance(secs(10)).await;
        assert_eq!(SLOW_DONE.load(SeqCst), 1, "the body was dropped, it never finished");
    })
    .await;
}

static LATE_FOR: AtomicU64 = AtomicU64::new(0);
static LATE_RUNS: AtomicU64 = AtomicU64::new(0);

#[cached(ttl = 10, stale = 60, soft_timeout = "1s", hard_timeout = "5s", key = "late:{id}")]
async fn late(id: u64) -> Result<u64, String> {
    let run = LATE_RUNS.fetch_add(1, SeqCst) + 1;
    sleep(Duration::from_millis(LATE_FOR.load(SeqCst))).await;
    Ok(id * 1_000 + run)
}

#[tokio::test(start_paused = true)]
async fn soft_timeout_serves_stale_and_the_body_stores_its_value_in_the_background() {
    with_provider(MemoryProvider::new(), async {
        assert_eq!(late(1).await, Ok(1_001));
        advance(secs(11)).await;
        LATE_FOR.store(3_000, SeqCst);
        let started = Instant::now();
        assert_eq!(outcome(late(1)).await, (Ok(1_001), Some(Outcome::Stale(StaleReason::SoftTimeout))));
        assert_eq!(started.elapsed(), secs(1));
        sleep(secs(3)).await;
        assert_eq!(outcome(late(1)).await, (Ok(1_002), Some(Outcome::Hit)), "the background body stored its value");
        assert_eq!(LATE_RUNS.load(SeqCst), 2);
        // A body past hard_timeout in the background is dropped: the stale value stays.
        advance(secs(11)).await;
        LATE_FOR.store(60_000, SeqCst);
        assert_eq!(outcome(late(1)).await, (Ok(1_002), Some(Outcome::Stale(StaleReason::SoftTimeout))));
        sleep(secs(10)).await;
        assert_eq!(outcome(late(1)).await.0, Ok(1_002), "nothing stored by the dropped body");
    })
    .await;
}

// ---- refresh ahead ---------------------------------------------------------------------------

static AHEAD_RUNS: AtomicU64 = AtomicU64::new(0);

#[cached(ttl = 10, refresh_ahead = 6, key = "ahead:{id}")]
async fn ahead(id: u64) -> u64 {
    sleep(Duration::from_millis(500)).await;
    id * 100 + AHEAD_RUNS.fetch_add(1, SeqCst) + 1
}

#[tokio::test(start_paused = true)]
async fn refresh_ahead_answers_at_once_and_refreshes_once() {
    let store = MemoryProvider::new();
    assert_eq!(spawn_on(&store, ahead(1)).await.unwrap(), 101);
    advance(secs(7)).await;
    let started = Instant::now();
    let hits: Vec<_> = (0..50).map(|_| spawn_on(&store, outcome(ahead(1)))).collect();
    for hit in hits {
        assert_eq!(hit.await.unwrap(), (101, Some(Outcome::Hit)));
    }
    assert_eq!(started.elapsed(), Duration::ZERO, "hits never wait for the refresh");
    sleep(secs(1)).await;
    assert_eq!(AHEAD_RUNS.load(SeqCst), 2, "one refresh for fifty hits");
    assert_eq!(spawn_on(&store, outcome(ahead(1))).await.unwrap(), (102, Some(Outcome::Hit)));
    // The refreshed entry is young again: no refresh until refresh_ahead has passed anew.
    advance(secs(5)).await;
    assert_eq!(spawn_on(&store, ahead(1)).await.unwrap(), 102);
    sleep(secs(1)).await;
    assert_eq!(AHEAD_RUNS.load(SeqCst), 2);
}

static BUSY_RUNS: AtomicU64 = AtomicU64::new(0);

#[cached(ttl = "3s", refresh_ahead = "1s", key = "busy:{id}")]
async fn busy(id: u64) -> u64 {
    tokio::time::sleep(Duration::from_millis(200)).await;
    id + BUSY_RUNS.fetch_add(1, SeqCst)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_ahead_runs_the_body_once_for_many_threads() {
    let store = MemoryProvider::new();
    assert_eq!(spawn_on(&store, busy(7)).await.unwrap(), 7);
    tokio::time::sleep(Duration::from_millis(1_100)).await;
    let hits: Vec<_> = (0..64).map(|_| spawn_on(&store, busy(7))).collect();
    for hit in hits {
        assert_eq!(hit.await.unwrap(), 7, "every hit gets the entry in place");
    }
    cache_tests::wait_until("the refresh", secs(5), || async { BUSY_RUNS.load(SeqCst) == 2 }).await;
    tokio::time::sleep(Duration::from_millis(100)).await;
    assert_eq!(BUSY_RUNS.load(SeqCst), 2, "one body run for 64 concurrent hits");
    assert_eq!(spawn_on(&store, busy(7)).await.unwrap(), 8);
}

static ROW_VERSION: AtomicU64 = AtomicU64::new(1);
static ROW_RUNS: AtomicU64 = AtomicU64::new(0);

#[cached(ttl = 10, refresh_ahead = 5, key = "row:{id}")]
async fn row(id: u64) -> u64 {
    ROW_RUNS.fetch_add(1, SeqCst);
    let seen = ROW_VERSION.load(SeqCst);
    sleep(secs(2)).await;
    id * 1_000 + seen
}

#[tokio::test(start_paused = true)]
async fn an_invalidation_during_a_background_refresh_wins() {
    let store = MemoryProvider::new();
    assert_eq!(spawn_on(&store, row(1)).await.unwrap(), 1_001);
    advance(secs(6)).await;
    // The hit starts a refresh that reads version 1 and takes 2 s.
    assert_eq!(spawn_on(&store, row(1)).await.unwrap(), 1_001);
    sleep(secs(1)).await;
    ROW_VERSION.store(2, SeqCst);
    assert!(spawn_on(&store, row_invalidate(1)).await.unwrap());
    sleep(secs(2)).await;
    assert_eq!(ROW_RUNS.load(SeqCst), 2, "the refresh ran to its end");
    // It stored nothing: the next call computes the new version.
    assert_eq!(spawn_on(&store, outcome(row(1))).await.unwrap(), (1_002, Some(Outcome::Miss)));
}

static REFRESH_FAILS: AtomicBool = AtomicBool::new(false);
static REFRESH_RUNS: AtomicU64 = AtomicU64::new(0);

#[cached(ttl = 10, refresh_ahead = 5, key = "flaky:{id}")]
async fn flaky(id: u64) -> Result<u64, String> {
    REFRESH_RUNS.fetch_add(1, SeqCst);
    if REFRESH_FAILS.load(SeqCst) {
        panic!("refresh of {id} panicked");
    }
    Ok(id)
}

#[tokio::test(start_paused = true)]
async fn a_background_refresh_that_panics_is_contained() {
    let store = MemoryProvider::new();
    assert_eq!(spawn_on(&store, flaky(3)).await.unwrap(), Ok(3));
    advance(secs(6)).await;
    REFRESH_FAILS.store(true, SeqCst);
    assert_eq!(spawn_on(&store, flaky(3)).await.unwrap(), Ok(3));
    sleep(secs(1)).await;
    assert_eq!(REFRESH_RUNS.load(SeqCst), 2, "the refresh ran, and panicked");
    // The process goes on, the entry in place stays, and the next hit tries again.
    assert_eq!(spawn_on(&store, outcome(flaky(3))).await.unwrap(), (Ok(3), Some(Outcome::Hit)));
    sleep(secs(1)).await;
    assert_eq!(REFRESH_RUNS.load(SeqCst), 3);
}

// ---- outcome ---------------------------------------------------------------------------------

#[cached(key = "plain:{id}")]
async fn plain(id: u64) -> u64 {
    sleep(secs(1)).await;
    id
}

#[cached(key = "elsewhere:{id}", provider = "not-registered")]
async fn elsewhere(id: u64) -> u64 {
    id
}

#[tokio::test(start_paused = true)]
async fn outcome_tells_hit_miss_joined_and_bypass() {
    let store = MemoryProvider::new();
    let first = spawn_on(&store, outcome(plain(1)));
    tokio::task::yield_now().await;
    let second = spawn_on(&store, outcome(plain(1)));
    assert_eq!(first.await.unwrap(), (1, Some(Outcome::Miss)));
    assert_eq!(second.await.unwrap(), (1, Some(Outcome::Joined)));
    assert_eq!(spawn_on(&store, outcome(plain(1))).await.unwrap(), (1, Some(Outcome::Hit)));
    assert_eq!(outcome(elsewhere(1)).await, (1, Some(Outcome::Bypass)));
    assert_eq!(outcome(async { 5 }).await, (5, None));
    // The first call made inside counts, not the calls its body makes.
    let nested = spawn_on(&store, outcome(async { (plain(2).await, plain(1).await) }));
    assert_eq!(nested.await.unwrap(), ((2, 1), Some(Outcome::Miss)));
}

// ---- the two rules, under random schedules ---------------------------------------------------

/// Invalidations that have returned.
static INVALIDATIONS: AtomicU64 = AtomicU64::new(0);
static SOURCE_FAILS: AtomicBool = AtomicBool::new(false);
static SOURCE_DELAY_MS: AtomicU64 = AtomicU64::new(0);

/// When the body started (invalidations returned by then) and when it ended (ms on the test clock).
#[cached(ttl = 4, stale = 6, soft_timeout = "300ms", hard_timeout = "2s", refresh_ahead = 3, key = "prop:{id}")]
async fn source(id: u64, origin: Instant) -> Result<(u64, u64), String> {
    let invalidations = INVALIDATIONS.load(SeqCst);
    sleep(Duration::from_millis(SOURCE_DELAY_MS.load(SeqCst))).await;
    if SOURCE_FAILS.load(SeqCst) {
        return Err(format!("{id} failed"));
    }
    Ok((invalidations, origin.elapsed().as_millis() as u64))
}

#[tokio::test(start_paused = true)]
async fn no_value_is_older_than_ttl_plus_stale_nor_than_an_invalidation() {
    let store = MemoryProvider::new();
    let origin = Instant::now();
    // ttl + stale, and the soft_timeout a caller may wait after it read a stale value.
    let lifetime_ms = 10_000 + 300;
    let mut seen = std::collections::HashSet::new();
    for seed in 1..=20u64 {
        let mut rng = Rng(seed * 7_919);
        let mut calls = Vec::new();
        for _ in 0..60 {
            match rng.below(10) {
                0 => {
                    // Counted as it returns, before any other task runs.
                    let invalidation = async {
                        source_invalidate(1).await;
                        INVALIDATIONS.fetch_add(1, SeqCst);
                    };
                    spawn_on(&store, invalidation).await.unwrap();
                }
                1 => SOURCE_FAILS.store(rng.below(2) == 0, SeqCst),
                // Mostly under soft_timeout, or far past it.
                2 => {
                    let most = [200, 3_000][rng.below(2) as usize];
                    SOURCE_DELAY_MS.store(rng.below(most), SeqCst)
                }
                // `sleep`, not `advance`: timers fire at their time, so a call serves when it would.
                3..=5 => sleep(Duration::from_millis(rng.below(4_000))).await,
                _ => {
                    let before = INVALIDATIONS.load(SeqCst);
                    let call = async move {
                        let (out, how) = outcome(source(1, origin)).await;
                        (out, origin.elapsed().as_millis() as u64, how)
                    };
                    calls.push((before, spawn_on(&store, call)));
                    tokio::task::yield_now().await;
                }
            }
        }
        for (before, call) in calls {
            let (out, returned_at, how) = call.await.unwrap();
            seen.insert(how);
            let Ok((invalidations, computed_at)) = out else { continue };
            assert!(
                invalidations >= before,
                "seed {seed}: a value computed before invalidation {before} was served to a call after it ({how:?}, {invalidations})"
            );
            assert!(
                returned_at.saturating_sub(computed_at) <= lifetime_ms,
                "seed {seed}: a value computed at {computed_at} ms served at {returned_at} ms ({how:?})"
            );
        }
    }
    // The schedules reach every path the rules are about.
    for how in [Outcome::Hit, Outcome::Miss, Outcome::Joined]
        .into_iter()
        .chain([StaleReason::Error, StaleReason::SoftTimeout].map(Outcome::Stale))
    {
        assert!(seen.contains(&Some(how)), "no call went {how:?}: {seen:?}");
    }
}

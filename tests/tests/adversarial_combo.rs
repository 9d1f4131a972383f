//! A hostile review of the macro's features *combined* on the memory store, against the
//! invalidation rule: once an invalidation returns, no call that starts afterwards gets a value
//! computed before it, and no computation that started before it stores its value. Also: no call
//! hangs, none panics.
//!
//! The model, as in `adversarial_store.rs`: a row has a version; a writer bumps it, invalidates,
//! then raises the row's floor; a call that starts after reading the floor returns at least it.

use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering::SeqCst};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use cache_runtime::key::Pattern;
use cache_runtime::{cached, with_provider, CacheProvider, CachedValue, MemoryProvider, ProviderFuture, StatsCounters};
use cache_tests::{spawn_on, Rng};

fn ms(n: u64) -> Duration {
    Duration::from_millis(n)
}

fn secs(n: u64) -> Duration {
    Duration::from_secs(n)
}

/// The tests of this file run one at a time, as a precaution: a paused clock jumps ahead while one
/// of its tasks waits on anything another test's runtime holds.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Taken first, before the test sets any timer.
async fn serial() -> tokio::sync::MutexGuard<'static, ()> {
    SERIAL.lock().await
}

/// Bounds an await: a hang fails the test instead of the suite.
async fn bounded<F: Future>(what: &str, future: F) -> F::Output {
    match tokio::time::timeout(secs(600), future).await {
        Ok(out) => out,
        Err(_) => panic!("{what}: no answer within 600 s (of tokio's clock): a call hangs"),
    }
}

// ---------------------------------------------------------------------------------------------
// soft_timeout: the body that goes on in the background after the caller got the stale value
// must not store once an invalidation (of any kind) returned.
// ---------------------------------------------------------------------------------------------

static SOFT_VERSION: [AtomicU64; 8] = [const { AtomicU64::new(1) }; 8];
static SOFT_DELAY_MS: AtomicU64 = AtomicU64::new(0);

#[cached(
    ttl = 10,
    stale = 60,
    soft_timeout = "100ms",
    hard_timeout = "30s",
    key = "combo_soft:{id}",
    tags = ["combo_soft_row:{id}"]
)]
async fn soft(id: u64) -> Result<u64, String> {
    let seen = SOFT_VERSION[id as usize].load(SeqCst);
    tokio::time::sleep(ms(SOFT_DELAY_MS.load(SeqCst))).await;
    Ok(seen)
}

async fn invalidate_soft(kind: u64, id: u64) {
    match kind {
        0 => {
            soft_invalidate(id).await;
        }
        1 => {
            soft_clear().await;
        }
        _ => invalidate_through_the_provider(kind, "combo_soft", id).await,
    }
}

/// Invalidation kinds 2 to 5 of row `id` of a function whose keys are `<function>:{id}` and whose
/// row tag is `<function>_row:{id}`, through the provider: its tag, `delete` of its key,
/// `clear_pattern` of the function's keys, `clear`. (Kinds 0 and 1 are the function's own
/// `_invalidate` and `_clear`.)
async fn invalidate_through_the_provider(kind: u64, function: &str, id: u64) {
    match kind {
        2 => cache_runtime::invalidate_tag(&format!("{function}_row:{id}")).await.unwrap(),
        3 => {
            cache_runtime::delete(&format!("{function}:{id}")).await.unwrap();
        }
        4 => {
            cache_runtime::clear_pattern(&format!("{function}:*")).await.unwrap();
        }
        _ => {
            cache_runtime::clear().await.unwrap();
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_soft_timed_out_body_that_ends_after_an_invalidation_stores_nothing() {
    let _serial = serial().await;
    let store = MemoryProvider::new();
    for kind in 0..6u64 {
        let id = kind;
        with_provider(store.clone(), async {
            SOFT_DELAY_MS.store(0, SeqCst);
            assert_eq!(soft(id).await, Ok(1));
            // Stale now; the next body is slow and reads version 1.
            tokio::time::advance(secs(11)).await;
            SOFT_DELAY_MS.store(5_000, SeqCst);
            let started = tokio::time::Instant::now();
            assert_eq!(soft(id).await, Ok(1), "kind {kind}: the stale value past soft_timeout");
            assert!(started.elapsed() < secs(1), "kind {kind}: soft_timeout did not apply");
            // The row is written, then invalidated while the background body still runs.
            SOFT_VERSION[id as usize].store(2, SeqCst);
            invalidate_soft(kind, id).await;
            SOFT_DELAY_MS.store(0, SeqCst);
            // The background body ends (and would store version 1).
            tokio::time::sleep(secs(10)).await;
            assert_eq!(
                bounded("soft", soft(id)).await,
                Ok(2),
                "kind {kind}: a soft-timed-out body stored its value after the invalidation returned"
            );
        })
        .await;
    }
}

// ---------------------------------------------------------------------------------------------
// refresh_ahead: a background refresh that ends after an invalidation stores nothing.
// ---------------------------------------------------------------------------------------------

static AHEAD_VERSION: [AtomicU64; 8] = [const { AtomicU64::new(1) }; 8];
static AHEAD_DELAY_MS: AtomicU64 = AtomicU64::new(0);

#[cached(ttl = 10, refresh_ahead = 5, key = "combo_ahead:{id}", tags = ["combo_ahead_row:{id}"], max_entries = 100)]
async fn ahead(id: u64) -> u64 {
    let seen = AHEAD_VERSION[id as usize].load(SeqCst);
    tokio::time::sleep(ms(AHEAD_DELAY_MS.load(SeqCst))).await;
    seen
}

async fn invalidate_ahead(kind: u64, id: u64) {
    match kind {
        0 => {
            ahead_invalidate(id).await;
        }
        1 => {
            ahead_clear().await;
        }
        _ => invalidate_through_the_provider(kind, "combo_ahead", id).await,
    }
}

#[tokio::test(start_paused = true)]
async fn a_refresh_ahead_that_ends_after_an_invalidation_stores_nothing() {
    let _serial = serial().await;
    let store = MemoryProvider::new();
    for kind in 0..6u64 {
        let id = kind;
        with_provider(store.clone(), async {
            AHEAD_DELAY_MS.store(0, SeqCst);
            assert_eq!(ahead(id).await, 1);
            tokio::time::advance(secs(6)).await;
            AHEAD_DELAY_MS.store(5_000, SeqCst);
            // A hit past refresh_ahead: answered at once, the refresh starts (and reads 1).
            assert_eq!(ahead(id).await, 1);
            tokio::time::sleep(ms(10)).await;
            AHEAD_VERSION[id as usize].store(2, SeqCst);
            invalidate_ahead(kind, id).await;
            AHEAD_DELAY_MS.store(0, SeqCst);
            tokio::time::sleep(secs(6)).await;
            assert_eq!(
                bounded("ahead", ahead(id)).await,
                2,
                "kind {kind}: a refresh ahead stored its value after the invalidation returned"
            );
        })
        .await;
    }
}

// ---------------------------------------------------------------------------------------------
// `<fn>_refresh` racing invalidations; stale values after invalidations; cache_if on a refresh.
// ---------------------------------------------------------------------------------------------

static REFRESHED_VERSION: [AtomicU64; 8] = [const { AtomicU64::new(1) }; 8];
static REFRESHED_DELAY_MS: AtomicU64 = AtomicU64::new(0);
static REFRESHED_FAILS: AtomicBool = AtomicBool::new(false);

fn not_zero(value: &u64) -> bool {
    *value != 0
}

#[cached(
    ttl = 10,
    stale = 60,
    hard_timeout = "30s",
    key = "combo_refreshed:{id}",
    tags = ["combo_refreshed_row:{id}"],
    cache_if = not_zero,
    max_entries = 50
)]
async fn refreshed(id: u64) -> Result<u64, String> {
    let seen = REFRESHED_VERSION[id as usize].load(SeqCst);
    tokio::time::sleep(ms(REFRESHED_DELAY_MS.load(SeqCst))).await;
    if REFRESHED_FAILS.load(SeqCst) {
        return Err("down".into());
    }
    Ok(seen)
}

async fn invalidate_refreshed(kind: u64, id: u64) {
    match kind {
        0 => {
            refreshed_invalidate(id).await;
        }
        1 => {
            refreshed_clear().await;
        }
        _ => invalidate_through_the_provider(kind, "combo_refreshed", id).await,
    }
}

/// A `<fn>_refresh` whose body started before an invalidation stores nothing; a call after it
/// computes anew.
#[tokio::test(start_paused = true)]
async fn a_refresh_companion_that_ends_after_an_invalidation_stores_nothing() {
    let _serial = serial().await;
    let store = MemoryProvider::new();
    for kind in 0..6u64 {
        let id = kind;
        REFRESHED_FAILS.store(false, SeqCst);
        REFRESHED_VERSION[id as usize].store(1, SeqCst);
        REFRESHED_DELAY_MS.store(5_000, SeqCst);
        let refresh = spawn_on(&store, refreshed_refresh(id));
        tokio::time::sleep(ms(10)).await;
        REFRESHED_VERSION[id as usize].store(2, SeqCst);
        with_provider(store.clone(), invalidate_refreshed(kind, id)).await;
        REFRESHED_DELAY_MS.store(0, SeqCst);
        assert_eq!(refresh.await.unwrap(), Ok(1), "the refresh's caller keeps what it computed");
        assert_eq!(
            bounded("refreshed", spawn_on(&store, refreshed(id))).await.unwrap(),
            Ok(2),
            "kind {kind}: a refresh stored its value after the invalidation returned"
        );
    }
}

/// A stale entry is gone once its key is invalidated: a call after the invalidation whose body
/// fails gets the error, never the stale value (with tags, `cache_if` and `max_entries` on).
#[tokio::test(start_paused = true)]
async fn a_stale_value_is_never_served_after_its_key_was_invalidated() {
    let _serial = serial().await;
    let store = MemoryProvider::new();
    for kind in 0..6u64 {
        let id = kind;
        with_provider(store.clone(), async {
            REFRESHED_FAILS.store(false, SeqCst);
            REFRESHED_DELAY_MS.store(0, SeqCst);
            REFRESHED_VERSION[id as usize].store(1, SeqCst);
            // A refresh stores (as the function does), then the entry goes stale.
            assert_eq!(refreshed_refresh(id).await, Ok(1));
            tokio::time::advance(secs(11)).await;
            REFRESHED_VERSION[id as usize].store(2, SeqCst);
            invalidate_refreshed(kind, id).await;
            REFRESHED_FAILS.store(true, SeqCst);
            assert_eq!(
                bounded("refreshed", refreshed(id)).await,
                Err("down".to_string()),
                "kind {kind}: the stale value of an invalidated key was served"
            );
            REFRESHED_FAILS.store(false, SeqCst);
        })
        .await;
    }
}

/// A slow stale caller leads; an invalidation voids its flight; callers that start afterwards
/// and find the key empty are never handed the slow leader's value, nor the stale one.
#[tokio::test(start_paused = true)]
async fn callers_after_an_invalidation_never_join_a_stale_leader_from_before_it() {
    let _serial = serial().await;
    let store = MemoryProvider::new();
    for kind in 0..6u64 {
        let id = kind;
        REFRESHED_FAILS.store(false, SeqCst);
        REFRESHED_DELAY_MS.store(0, SeqCst);
        REFRESHED_VERSION[id as usize].store(1, SeqCst);
        assert_eq!(spawn_on(&store, refreshed(id)).await.unwrap(), Ok(1));
        tokio::time::advance(secs(11)).await;
        REFRESHED_DELAY_MS.store(5_000, SeqCst);
        // The stale caller leads a slow body that reads version 1.
        let leader = spawn_on(&store, refreshed(id));
        tokio::time::sleep(ms(10)).await;
        REFRESHED_VERSION[id as usize].store(2, SeqCst);
        with_provider(store.clone(), invalidate_refreshed(kind, id)).await;
        REFRESHED_DELAY_MS.store(1_000, SeqCst);
        let after: Vec<_> = (0..8).map(|_| spawn_on(&store, refreshed(id))).collect();
        for call in after {
            assert_eq!(
                bounded("after", call).await.unwrap(),
                Ok(2),
                "kind {kind}: a call that started after the invalidation got an older value"
            );
        }
        assert_eq!(leader.await.unwrap(), Ok(1));
        REFRESHED_DELAY_MS.store(0, SeqCst);
        assert_eq!(spawn_on(&store, refreshed(id)).await.unwrap(), Ok(2), "kind {kind}");
    }
}

static PICKY_VERSION: AtomicU64 = AtomicU64::new(1);
static PICKY_FAILS: AtomicBool = AtomicBool::new(false);

#[cached(ttl = 10, stale = 60, key = "combo_picky:{id}", tags = ["combo_picky_row:{id}"], cache_if = not_zero)]
async fn picky(id: u64) -> Result<u64, String> {
    let _ = id;
    if PICKY_FAILS.load(SeqCst) {
        return Err("down".into());
    }
    Ok(PICKY_VERSION.load(SeqCst))
}

/// A refresh whose value `cache_if` refuses removes the entry it was to replace: the old value is
/// no longer the function's answer, not even as a stale fallback.
#[tokio::test(start_paused = true)]
async fn a_refused_refresh_drops_the_old_entry_and_no_stale_is_served_after() {
    let _serial = serial().await;
    let store = MemoryProvider::new();
    with_provider(store.clone(), async {
        PICKY_FAILS.store(false, SeqCst);
        PICKY_VERSION.store(1, SeqCst);
        assert_eq!(picky(1).await, Ok(1));
        tokio::time::advance(secs(11)).await;
        PICKY_VERSION.store(0, SeqCst);
        assert_eq!(picky_refresh(1).await, Ok(0), "the refresh returns what it computed");
        PICKY_FAILS.store(true, SeqCst);
        assert_eq!(
            picky(1).await,
            Err("down".to_string()),
            "the entry a refused refresh was to replace was served as stale"
        );
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// A store of the user's next to the memory store: each store has its own invalidation locks.
// ---------------------------------------------------------------------------------------------

/// A store of the user's whose `clear` does not return until the test opens its gate (a network
/// store without a timeout, say).
#[derive(Clone)]
struct GatedStore {
    gate: Arc<tokio::sync::Semaphore>,
    entered: Arc<AtomicBool>,
    counters: Arc<StatsCounters>,
}

impl CacheProvider for GatedStore {
    fn kind(&self) -> &'static str {
        "gated"
    }
    fn get<'a>(&'a self, _: &'a str) -> ProviderFuture<'a, Option<CachedValue>> {
        Box::pin(async { Ok(None) })
    }
    fn set<'a>(&'a self, _: &'a str, _: CachedValue, _: Duration) -> ProviderFuture<'a, ()> {
        Box::pin(async { Ok(()) })
    }
    fn delete<'a>(&'a self, _: &'a str) -> ProviderFuture<'a, bool> {
        Box::pin(async { Ok(false) })
    }
    fn exists<'a>(&'a self, _: &'a str) -> ProviderFuture<'a, bool> {
        Box::pin(async { Ok(false) })
    }
    fn clear(&self) -> ProviderFuture<'_, u64> {
        Box::pin(async {
            self.entered.store(true, SeqCst);
            let _permit = self.gate.acquire().await;
            Ok(0)
        })
    }
    fn clear_pattern<'a>(&'a self, _: &'a Pattern) -> ProviderFuture<'a, u64> {
        Box::pin(async { Ok(0) })
    }
    fn counters(&self) -> &StatsCounters {
        &self.counters
    }
}

/// Opens the gate when dropped, so that a failing test does not leave the locks held.
struct OpenOnDrop(Arc<tokio::sync::Semaphore>);

impl Drop for OpenOnDrop {
    fn drop(&mut self) {
        self.0.add_permits(1_000);
    }
}

static PLAIN_RUNS: AtomicU64 = AtomicU64::new(0);

#[cached(ttl = 60, key = "combo_plain:{id}")]
async fn plain(id: u64) -> u64 {
    PLAIN_RUNS.fetch_add(1, SeqCst);
    id
}

/// Starts `cache_runtime::clear()` on a gated store of the user's and waits until it is inside
/// the store's `clear`.
async fn hang_a_clear_on_a_gated_store() -> (OpenOnDrop, tokio::task::JoinHandle<()>) {
    let gated = GatedStore {
        gate: Arc::new(tokio::sync::Semaphore::new(0)),
        entered: Arc::new(AtomicBool::new(false)),
        counters: Arc::new(StatsCounters::default()),
    };
    let open = OpenOnDrop(Arc::clone(&gated.gate));
    let entered = Arc::clone(&gated.entered);
    let clearing = tokio::spawn(with_provider(gated, async {
        cache_runtime::clear().await.unwrap();
    }));
    let started = std::time::Instant::now();
    while !entered.load(SeqCst) {
        assert!(started.elapsed() < secs(5), "the gated clear started");
        tokio::time::sleep(ms(1)).await;
    }
    (open, clearing)
}

/// `with_provider` scopes isolate stores. The locks that order a leader's store against an
/// invalidation were shared by every store (32 shards of `FLIGHTS`): a `clear()` on one store
/// held the write lock of all 32 while that store's `clear` ran, and a leader on any other store
/// waited for it in `begin_store`, unbounded. A store of the user's whose `clear` hung hung every
/// miss on an unrelated memory store. Each store has locks of its own now (`StoreLocks`).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hung_clear_on_a_custom_store_hangs_a_miss_on_an_unrelated_memory_store() {
    let _serial = serial().await;
    let memory = MemoryProvider::new();
    let (open, clearing) = hang_a_clear_on_a_gated_store().await;
    let miss = spawn_on(&memory, plain(1));
    let answered = tokio::time::timeout(secs(1), miss).await;
    drop(open);
    clearing.await.unwrap();
    assert!(
        answered.is_ok(),
        "a miss on a memory store that nothing invalidates did not return within 1 s: it waits on a \
         clear() of another store"
    );
}

/// The same lock the other way: `<fn>_invalidate` on a memory store waited, unbounded, for a
/// `clear()` of an unrelated store of the user's.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hung_clear_on_a_custom_store_hangs_an_invalidation_on_an_unrelated_memory_store() {
    let _serial = serial().await;
    let memory = MemoryProvider::new();
    assert_eq!(spawn_on(&memory, plain(2)).await.unwrap(), 2);
    let (open, clearing) = hang_a_clear_on_a_gated_store().await;
    let invalidation = spawn_on(&memory, plain_invalidate(2));
    let answered = tokio::time::timeout(secs(1), invalidation).await;
    drop(open);
    clearing.await.unwrap();
    assert!(
        answered.is_ok(),
        "plain_invalidate on a memory store did not return within 1 s: it waits on a clear() of another store"
    );
}

// ---------------------------------------------------------------------------------------------
// Durations at their limit: "keep it forever", "wait as long as it takes".
// ---------------------------------------------------------------------------------------------

fn forever() -> Duration {
    Duration::MAX
}

static FOREVER_FAILS: AtomicBool = AtomicBool::new(false);
static FOREVER_VERSION: AtomicU64 = AtomicU64::new(1);

/// Stale values kept "forever" (a `Duration` expression, as `ttl` takes).
#[cached(ttl = 1, stale = forever(), key = "combo_forever:{id}")]
async fn forever_stale(id: u64) -> Result<u64, String> {
    let _ = id;
    if FOREVER_FAILS.load(SeqCst) {
        return Err("down".into());
    }
    Ok(FOREVER_VERSION.load(SeqCst))
}

/// Stale values kept a century (a literal).
#[cached(ttl = 1, stale = "36500d", key = "combo_century:{id}")]
async fn century_stale(id: u64) -> Result<u64, String> {
    let _ = id;
    if FOREVER_FAILS.load(SeqCst) {
        return Err("down".into());
    }
    Ok(FOREVER_VERSION.load(SeqCst))
}

/// With `stale` long enough that `ttl + stale` passes what the memory store's entry keeps of a
/// lifetime (memory.rs `Lifetime`: at most 2^31 - 1 s, ~68 years), the age that
/// `get_aged_direct` derives (`expires - lifetime`) read 0 for decades: an entry past its `ttl`
/// was served as a fresh hit, the body never ran again, refresh and fail-safe never applied. Here `ttl = 1` and `stale = "36500d"`, and `stale = Duration::MAX`: two seconds later
/// the function still answers the value from before.
#[tokio::test(start_paused = true)]
async fn an_entry_past_its_ttl_is_stale_even_when_stale_is_a_century_or_forever() {
    let _serial = serial().await;
    let store = MemoryProvider::new();
    FOREVER_FAILS.store(false, SeqCst);
    FOREVER_VERSION.store(1, SeqCst);
    assert_eq!(spawn_on(&store, century_stale(1)).await.unwrap(), Ok(1));
    assert_eq!(spawn_on(&store, forever_stale(1)).await.unwrap(), Ok(1));
    tokio::time::advance(secs(2)).await;
    FOREVER_VERSION.store(2, SeqCst);
    let century = spawn_on(&store, century_stale(1)).await.unwrap();
    let forever = spawn_on(&store, forever_stale(1)).await.unwrap();
    assert_eq!(
        (century, forever),
        (Ok(2), Ok(2)),
        "(stale = \"36500d\", stale = Duration::MAX): an entry 2 s old with ttl = 1 s was served as fresh"
    );
}

/// The fail-safe with a stale kept "forever" serves the stale value and does not panic (on an
/// overflow of `Instant + (ttl + stale - age)`, fresh.rs `call_fresh`).
#[tokio::test(start_paused = true)]
async fn a_stale_kept_forever_is_served_without_a_panic() {
    let _serial = serial().await;
    let store = MemoryProvider::new();
    FOREVER_FAILS.store(false, SeqCst);
    FOREVER_VERSION.store(1, SeqCst);
    assert_eq!(spawn_on(&store, forever_stale(2)).await.unwrap(), Ok(1));
    tokio::time::advance(secs(2)).await;
    FOREVER_FAILS.store(true, SeqCst);
    let stale = spawn_on(&store, forever_stale(2)).await;
    FOREVER_FAILS.store(false, SeqCst);
    match stale {
        Ok(out) => assert_eq!(out, Ok(1), "the stale value, served when the body fails"),
        Err(error) => panic!("a call that found a stale entry kept forever panicked: {error}"),
    }
}

static WAITED_RUNS: AtomicU64 = AtomicU64::new(0);

#[cached(ttl = 60, key = "combo_waited:{id}")]
async fn waited(id: u64) -> u64 {
    WAITED_RUNS.fetch_add(1, SeqCst);
    tokio::time::sleep(secs(1)).await;
    id
}

/// A memory store built with `max_wait(Duration::MAX)` ("wait as long as it takes"): the second
/// of two concurrent callers of a cold key panicked when it joined the first's flight, "overflow
/// when adding duration to instant" (`Instant::now() + slot.max_wait`, now capped at a year).
#[tokio::test(start_paused = true)]
async fn a_caller_that_joins_a_flight_on_a_store_that_waits_forever_does_not_panic() {
    let _serial = serial().await;
    let store = MemoryProvider::builder().max_wait(Duration::MAX).build();
    let first = spawn_on(&store, waited(1));
    tokio::time::sleep(ms(10)).await;
    let second = spawn_on(&store, waited(1));
    assert_eq!(first.await.unwrap(), 1);
    match second.await {
        Ok(out) => assert_eq!(out, 1),
        Err(error) => panic!("a caller that joined a flight panicked: {error}"),
    }
}

// ---------------------------------------------------------------------------------------------
// Recursion combined with stale / soft_timeout / refresh companions: no hang.
// ---------------------------------------------------------------------------------------------

static REC_RUNS: AtomicU64 = AtomicU64::new(0);

type Boxed<T> = Pin<Box<dyn Future<Output = T> + Send>>;

fn rec_boxed(id: u64, depth: u32) -> Boxed<Result<u64, String>> {
    Box::pin(rec(id, depth))
}

/// Its body calls its own key once (the key ignores `depth`).
#[cached(ttl = 10, stale = 60, soft_timeout = "1s", hard_timeout = "20s", refresh_ahead = 5, key = "combo_rec:{id}")]
async fn rec(id: u64, depth: u32) -> Result<u64, String> {
    REC_RUNS.fetch_add(1, SeqCst);
    if depth == 0 {
        let inner = rec_boxed(id, 1).await?;
        return Ok(inner + 1);
    }
    tokio::time::sleep(ms(50)).await;
    Ok(100)
}

fn rec_refresh_boxed(id: u64, depth: u32) -> Boxed<Result<u64, String>> {
    Box::pin(rec_refresh(id, depth))
}

/// Its body refreshes its own key (the refresh voids the body's own flight).
#[cached(ttl = 10, stale = 60, hard_timeout = "20s", key = "combo_selfrefresh:{id}")]
async fn self_refreshing(id: u64, depth: u32) -> Result<u64, String> {
    if depth == 0 {
        let inner = Box::pin(self_refreshing_refresh(id, 1)).await?;
        self_refreshing_invalidate(id).await;
        return Ok(inner + 1);
    }
    Ok(10)
}

#[tokio::test(start_paused = true)]
async fn a_body_calling_its_own_key_through_stale_soft_timeout_and_refresh_ahead_never_hangs() {
    let _serial = serial().await;
    let store = MemoryProvider::new();
    with_provider(store.clone(), async {
        // Cold.
        assert_eq!(bounded("cold", rec(1, 0)).await, Ok(101));
        // Past refresh_ahead: a hit, and a background refresh whose body calls its own key.
        tokio::time::advance(secs(6)).await;
        assert!(bounded("ahead", rec(1, 0)).await.is_ok());
        tokio::time::sleep(secs(2)).await;
        // Stale: the stale path leads, its background body calls its own key.
        tokio::time::advance(secs(20)).await;
        assert!(bounded("stale", rec(1, 0)).await.is_ok());
        tokio::time::sleep(secs(2)).await;
        // A refresh companion whose body calls its own key.
        assert!(bounded("refresh", rec_refresh_boxed(1, 0)).await.is_ok());
        // A body that refreshes and invalidates its own key.
        assert_eq!(bounded("self refresh", self_refreshing(2, 0)).await, Ok(11));
        assert_eq!(bounded("self refresh again", self_refreshing(2, 0)).await, Ok(11));
        tokio::time::advance(secs(11)).await;
        assert!(bounded("self refresh stale", self_refreshing(2, 0)).await.is_ok());
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// Everything at once, on four threads: stale + soft_timeout + hard_timeout + refresh_ahead + tags
// + cache_if + max_entries + local, and `<fn>_refresh`, against invalidations of every kind.
// ---------------------------------------------------------------------------------------------

const ROWS: usize = 3;
static RACE_VERSIONS: [AtomicU64; ROWS] = [const { AtomicU64::new(1) }; ROWS];
static RACE_FLOORS: [AtomicU64; ROWS] = [const { AtomicU64::new(1) }; ROWS];
static RACE_TICK: AtomicU64 = AtomicU64::new(0);

fn not_multiple_of_five(value: &u64) -> bool {
    !value.is_multiple_of(5)
}

async fn race_pause() -> u64 {
    let tick = RACE_TICK.fetch_add(1, SeqCst).wrapping_mul(0x9e37_79b9_7f4a_7c15) >> 59;
    match tick % 4 {
        0 => {}
        1 | 2 => {
            for _ in 0..tick {
                tokio::task::yield_now().await;
            }
        }
        _ => tokio::time::sleep(Duration::from_micros(300 * tick)).await,
    }
    tick
}

#[cached(
    ttl = "15ms",
    stale = "2s",
    soft_timeout = "2ms",
    hard_timeout = "6ms",
    refresh_ahead = "8ms",
    key = "combo_race:{id}",
    tags = ["combo_race_of:{id}", "combo_race_all"],
    cache_if = not_multiple_of_five,
    max_entries = 2,
    local
)]
async fn race(id: u64) -> Result<u64, String> {
    let seen = RACE_VERSIONS[id as usize].load(SeqCst);
    let tick = race_pause().await;
    if tick == 31 {
        return Err("flaky".into());
    }
    Ok(seen)
}

/// The same, serde values on the shared store (no `local`, no `max_entries`).
#[cached(
    ttl = "15ms",
    stale = "2s",
    soft_timeout = "2ms",
    hard_timeout = "6ms",
    refresh_ahead = "8ms",
    key = "combo_race_shared:{id}",
    tags = ["combo_race_of:{id}", "combo_race_all"],
    cache_if = not_multiple_of_five
)]
async fn race_shared(id: u64) -> Result<u64, String> {
    let seen = RACE_VERSIONS[id as usize].load(SeqCst);
    let tick = race_pause().await;
    if tick == 30 {
        return Err("flaky".into());
    }
    Ok(seen)
}

async fn race_invalidate_by(how: u64, id: u64) {
    match how {
        0 => {
            race_invalidate_fn(id).await;
        }
        1 => {
            race_clear().await;
            race_shared_clear().await;
        }
        2 => {
            cache_runtime::delete(&format!("combo_race:{id}")).await.unwrap();
            cache_runtime::delete(&format!("combo_race_shared:{id}")).await.unwrap();
        }
        3 => {
            cache_runtime::clear_pattern(&format!("combo_race*:{id}")).await.unwrap();
        }
        4 => {
            cache_runtime::clear().await.unwrap();
        }
        5 => cache_runtime::invalidate_tag(&format!("combo_race_of:{id}")).await.unwrap(),
        _ => cache_runtime::invalidate_tag("combo_race_all").await.unwrap(),
    }
}

async fn race_invalidate_fn(id: u64) {
    race_invalidate(id).await;
    race_shared_invalidate(id).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn every_feature_at_once_against_every_invalidation() {
    let _serial = serial().await;
    let store = MemoryProvider::new();
    let violations = Arc::new(Mutex::new(Vec::<String>::new()));
    let stop = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for reader in 0..8u64 {
        let violations = Arc::clone(&violations);
        let stop = Arc::clone(&stop);
        tasks.push(spawn_on(&store, async move {
            let mut rng = Rng(0x1234_5678 + reader * 7_919);
            let mut calls = 0u64;
            while !stop.load(SeqCst) {
                let id = rng.below(ROWS as u64);
                let floor = RACE_FLOORS[id as usize].load(SeqCst);
                let (what, got) = match rng.below(12) {
                    0 => ("race_refresh", race_refresh(id).await),
                    1 => ("race_shared_refresh", race_shared_refresh(id).await),
                    2..=6 => ("race", race(id).await),
                    _ => ("race_shared", race_shared(id).await),
                };
                if let Ok(got) = got {
                    if got < floor {
                        violations.lock().unwrap().push(format!("{what}({id}): got {got}, floor {floor}"));
                    }
                }
                calls += 1;
                if rng.below(8) == 0 {
                    tokio::time::sleep(Duration::from_micros(500)).await;
                }
            }
            calls
        }));
    }
    for writer in 0..2u64 {
        let stop = Arc::clone(&stop);
        tasks.push(spawn_on(&store, async move {
            let mut rng = Rng(0xdead_beef + writer * 104_729);
            let mut writes = 0;
            while !stop.load(SeqCst) {
                let id = rng.below(ROWS as u64);
                let how = rng.below(7);
                let new = RACE_VERSIONS[id as usize].fetch_add(1, SeqCst) + 1;
                race_invalidate_by(how, id).await;
                RACE_FLOORS[id as usize].fetch_max(new, SeqCst);
                writes += 1;
                tokio::time::sleep(Duration::from_micros(200 + 100 * rng.below(20))).await;
            }
            writes
        }));
    }
    tokio::time::sleep(Duration::from_millis(1_200)).await;
    stop.store(true, SeqCst);
    let mut done = 0;
    tokio::time::timeout(Duration::from_secs(20), async {
        for task in tasks {
            done += task.await.unwrap();
        }
    })
    .await
    .expect("every caller finished: none hangs");
    assert!(done > 1_000, "the race ran: {done} calls and writes");
    let violations = violations.lock().unwrap();
    assert!(
        violations.is_empty(),
        "{} reads below the floor, first: {:?}",
        violations.len(),
        &violations[..violations.len().min(5)]
    );
}

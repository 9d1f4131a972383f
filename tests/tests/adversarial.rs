//! Adversarial interleavings of computations, invalidations, cancellations, panics and Redis
//! outages, beyond those of `races.rs`.
#![cfg(feature = "redis")]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::{cached, with_provider, MemoryProvider, RedisProvider};
use cache_tests::RedisServer;
use tokio::time::{sleep, Instant};

use cache_tests::rows::{version, write};

async fn redis(server: &RedisServer, prefix: &str) -> RedisProvider {
    RedisProvider::builder(server.url()).prefix(prefix).op_timeout(Duration::from_secs(5)).connect().await.unwrap()
}

/// A read of a row that takes `ms`; only `id` is in the key.
#[cached(ttl = 60, key = "row:{id}")]
async fn slow_row(id: u64, ms: u64) -> u64 {
    let seen = version(id);
    sleep(Duration::from_millis(ms)).await;
    seen
}

// ---------------------------------------------------------------------------------------------
// `set` through another instance races a leader: the leader's value is not stored over it.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_set_on_another_instance_wins_over_a_leader_in_flight() {
    let server = RedisServer::start();
    for round in 0..3u64 {
        let prefix = format!("set{round}:");
        let (a, b) = (redis(&server, &prefix).await, redis(&server, &prefix).await);
        let id = 10 + round;
        let old = version(id);
        let leader = tokio::spawn(with_provider(a.clone(), slow_row(id, 500)));
        sleep(Duration::from_millis(150)).await;
        with_provider(b.clone(), cache_runtime::set(&format!("row:{id}"), &999u64, Duration::from_secs(60)))
            .await
            .unwrap();
        // After the set returned: both instances read the set value, now and after the leader ends.
        assert_eq!(
            with_provider(a.clone(), slow_row(id, 0)).await,
            999,
            "round {round}: a read on the leader's instance"
        );
        assert_eq!(with_provider(b.clone(), slow_row(id, 0)).await, 999, "round {round}");
        assert_eq!(leader.await.unwrap(), old, "the leader itself gets what it computed");
        assert_eq!(with_provider(a.clone(), cache_runtime::get::<u64>(&format!("row:{id}"))).await.unwrap(), Some(999));
        assert_eq!(with_provider(b, slow_row(id, 0)).await, 999, "round {round}: the leader stored over the set");
    }
}

// ---------------------------------------------------------------------------------------------
// A leader whose body outlives its lease keeps it by renewing: the fleet computes once.
// ---------------------------------------------------------------------------------------------

static LONG_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "long:{id}")]
async fn long_body(id: u64) -> u64 {
    LONG_RUNS.fetch_add(1, SeqCst);
    sleep(Duration::from_millis(1_500)).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_five_times_longer_than_its_lease_is_still_computed_once_per_fleet() {
    let server = RedisServer::start();
    let build = || {
        RedisProvider::builder(server.url())
            .prefix("long:")
            .lease(Duration::from_millis(300))
            .op_timeout(Duration::from_secs(2))
            .connect()
    };
    let (a, b) = (build().await.unwrap(), build().await.unwrap());
    let leader = tokio::spawn(with_provider(a, long_body(1)));
    sleep(Duration::from_millis(100)).await;
    let others: Vec<_> = (0..5).map(|_| tokio::spawn(with_provider(b.clone(), long_body(1)))).collect();
    assert_eq!(leader.await.unwrap(), 1);
    for other in others {
        assert_eq!(other.await.unwrap(), 1);
    }
    assert_eq!(LONG_RUNS.load(SeqCst), 1, "the lease was renewed while the body ran");
}

// ---------------------------------------------------------------------------------------------
// A leader that panics, or is dropped mid-body, gives its lease up at once.
// ---------------------------------------------------------------------------------------------

static PANIC_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "panicky:{id}")]
async fn panicky(id: u64, panic: bool) -> u64 {
    PANIC_RUNS.fetch_add(1, SeqCst);
    sleep(Duration::from_millis(300)).await;
    if panic {
        panic!("the body panics");
    }
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_a_leader_panics_a_waiter_on_another_instance_takes_over_at_once() {
    let server = RedisServer::start();
    // A long lease: a waiter that had to wait for it to run out would take seconds.
    let build = || RedisProvider::builder(server.url()).prefix("panicky:").lease(Duration::from_secs(8)).connect();
    let (a, b) = (build().await.unwrap(), build().await.unwrap());
    let leader = tokio::spawn(with_provider(a.clone(), panicky(1, true)));
    sleep(Duration::from_millis(100)).await;
    let started = Instant::now();
    let remote = tokio::spawn(with_provider(b.clone(), panicky(1, false)));
    let local = tokio::spawn(with_provider(a.clone(), panicky(1, false)));
    assert!(leader.await.unwrap_err().is_panic());
    assert_eq!(tokio::time::timeout(Duration::from_secs(3), remote).await.expect("took over promptly").unwrap(), 1);
    assert_eq!(tokio::time::timeout(Duration::from_secs(3), local).await.expect("took over promptly").unwrap(), 1);
    assert!(started.elapsed() < Duration::from_secs(2), "the lease was given up: {:?}", started.elapsed());
    assert_eq!(PANIC_RUNS.load(SeqCst), 2, "one panicking run, then one that both waiters shared");
}

static DROPPED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "dropped:{id}")]
async fn dropped(id: u64, ms: u64) -> u64 {
    DROPPED_RUNS.fetch_add(1, SeqCst);
    sleep(Duration::from_millis(ms)).await;
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_leader_cancelled_while_its_lease_is_being_renewed_gives_it_up_at_once() {
    let server = RedisServer::start();
    let build = || RedisProvider::builder(server.url()).prefix("dropped:").lease(Duration::from_secs(3)).connect();
    let (a, b) = (build().await.unwrap(), build().await.unwrap());
    for round in 0..3u64 {
        let before = DROPPED_RUNS.load(SeqCst);
        // Past a third of the lease: the renewing task runs.
        let leader = tokio::spawn(with_provider(a.clone(), dropped(round, 60_000)));
        sleep(Duration::from_millis(1_300)).await;
        let remote = tokio::spawn(with_provider(b.clone(), dropped(round, 10)));
        sleep(Duration::from_millis(100)).await;
        leader.abort();
        let cancelled = Instant::now();
        let got = tokio::time::timeout(Duration::from_secs(10), remote).await.expect("the waiter took over");
        assert_eq!(got.unwrap(), round);
        assert!(
            cancelled.elapsed() < Duration::from_millis(1_000),
            "round {round}: the waiter took over {:?} after the cancellation (the lease was not given up)",
            cancelled.elapsed()
        );
        assert_eq!(DROPPED_RUNS.load(SeqCst), before + 2);
    }
}

// ---------------------------------------------------------------------------------------------
// Redis frozen past the lease, or restarted, while a body runs: the call still returns, and what
// it computed before a later invalidation is not served after it.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_frozen_past_the_lease_then_an_invalidation_the_old_value_is_not_stored() {
    let mut server = RedisServer::start();
    let build = |timeout| {
        RedisProvider::builder(server.url())
            .prefix("frozen:")
            .lease(Duration::from_millis(400))
            .op_timeout(timeout)
            .connect()
    };
    let a = build(Duration::from_secs(3)).await.unwrap();
    let b = build(Duration::from_secs(3)).await.unwrap();
    let id = 40;
    let old = version(id);
    let leader = tokio::spawn(with_provider(a.clone(), slow_row(id, 1_500)));
    sleep(Duration::from_millis(100)).await;
    server.freeze();
    sleep(Duration::from_millis(700)).await;
    server.thaw();
    let new = write(id);
    with_provider(b.clone(), slow_row_invalidate(id)).await;
    let got = tokio::time::timeout(Duration::from_secs(10), leader).await.expect("the call ended").unwrap();
    assert_eq!(got, old, "the leader returns what it computed");
    assert_eq!(with_provider(b.clone(), slow_row(id, 0)).await, new);
    assert_eq!(with_provider(a.clone(), slow_row(id, 0)).await, new);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn redis_restarted_mid_computation_never_fails_the_calls_and_stores_nothing_stale() {
    let mut server = RedisServer::start();
    let a = redis(&server, "restart:").await;
    let b = redis(&server, "restart:").await;
    let id = 50;
    let old = version(id);
    let leader = tokio::spawn(with_provider(a.clone(), slow_row(id, 1_000)));
    sleep(Duration::from_millis(100)).await;
    let waiter = tokio::spawn(with_provider(b.clone(), slow_row(id, 300)));
    sleep(Duration::from_millis(100)).await;
    server.restart();
    let new = write(id);
    with_provider(b.clone(), slow_row_invalidate(id)).await;
    let after = with_provider(a.clone(), slow_row(id, 0)).await;
    assert_eq!(after, new, "a read after the invalidation");
    assert_eq!(tokio::time::timeout(Duration::from_secs(15), leader).await.expect("ended").unwrap(), old);
    let waited = tokio::time::timeout(Duration::from_secs(15), waiter).await.expect("ended").unwrap();
    assert!([old, new].contains(&waited));
    assert_eq!(with_provider(b, slow_row(id, 0)).await, new, "the old value was stored after the invalidation");
}

// ---------------------------------------------------------------------------------------------
// Recursion through a spawned task: the cycle check cannot see it, the bounded wait ends it.
// ---------------------------------------------------------------------------------------------

static SPAWNED_RUNS: AtomicUsize = AtomicUsize::new(0);
static SPAWNED_STORE: std::sync::OnceLock<MemoryProvider> = std::sync::OnceLock::new();

#[cached(ttl = 60, key = "spawned:{id}")]
async fn spawned(id: u64, fallback: bool) -> u64 {
    SPAWNED_RUNS.fetch_add(1, SeqCst);
    if fallback {
        let provider = SPAWNED_STORE.get().unwrap().clone();
        let inner = tokio::spawn(with_provider(provider, spawned_leaf(id)));
        inner.await.unwrap() + 1
    } else {
        id
    }
}

/// The same key as `spawned`, through another function (a spawned recursive future cannot be
/// proven `Send`).
#[cached(ttl = 60, key = "spawned:{id}")]
async fn spawned_leaf(id: u64) -> u64 {
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_body_that_calls_its_own_key_from_a_spawned_task_ends_within_max_wait() {
    let memory = MemoryProvider::builder().max_wait(Duration::from_millis(300)).build();
    SPAWNED_STORE.set(memory.clone()).unwrap();
    let started = Instant::now();
    let got = tokio::time::timeout(Duration::from_secs(10), with_provider(memory.clone(), spawned(3, true))).await;
    assert_eq!(got.expect("the wait on itself is bounded"), 4);
    assert!(started.elapsed() < Duration::from_secs(5));
}

// ---------------------------------------------------------------------------------------------
// Two stores, the same keys: an invalidation of one never voids the other's flights.
// ---------------------------------------------------------------------------------------------

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalidation_of_one_memory_store_leaves_another_stores_flight_alone() {
    let (one, two) = (MemoryProvider::new(), MemoryProvider::new());
    let id = 70;
    let old = version(id);
    let on_two = tokio::spawn(with_provider(two.clone(), slow_row(id, 300)));
    sleep(Duration::from_millis(100)).await;
    let joiner = tokio::spawn(with_provider(two.clone(), slow_row(id, 0)));
    sleep(Duration::from_millis(50)).await;
    // Not a write: store `one` is invalidated, store `two` keeps its computation.
    with_provider(one.clone(), slow_row_invalidate(id)).await;
    assert_eq!(on_two.await.unwrap(), old);
    assert_eq!(joiner.await.unwrap(), old, "the joiner was handed the value");
    assert_eq!(two.stats().misses, 1, "one body ran on store two, and it stored: {:?}", two.stats());
    assert_eq!(with_provider(two, cache_runtime::get::<u64>(&format!("row:{id}"))).await.unwrap(), Some(old));
}

// ---------------------------------------------------------------------------------------------
// Leaders without a lease of their own: what the review found, fixed.
// ---------------------------------------------------------------------------------------------

/// Another instance holds the lease and this one does not wait for it: its leader computes, and
/// a caller that comes here after an invalidation on a third instance must not get its value.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn with_fleet_single_flight_off_a_later_caller_never_gets_a_value_from_before_a_remote_invalidation() {
    let server = RedisServer::start();
    let x = redis(&server, "ho:").await;
    let a = RedisProvider::builder(server.url()).prefix("ho:").fleet_single_flight(false).connect().await.unwrap();
    let b = redis(&server, "ho:").await;
    let id = 60;
    let old = version(id);
    let _holder = tokio::spawn(with_provider(x, slow_row(id, 3_000)));
    sleep(Duration::from_millis(100)).await;
    let a1 = tokio::spawn(with_provider(a.clone(), slow_row(id, 800)));
    sleep(Duration::from_millis(100)).await;
    let new = write(id);
    with_provider(b.clone(), slow_row_invalidate(id)).await;
    let a2 = with_provider(a.clone(), slow_row(id, 0)).await;
    assert_eq!(a1.await.unwrap(), old);
    assert_eq!(a2, new, "a call on A that started after the invalidation on B got the old value");
}

/// The same when this instance waited for the holder until its `max_wait` ran out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn after_a_wait_that_ran_out_a_later_caller_never_gets_a_value_from_before_a_remote_invalidation() {
    let server = RedisServer::start();
    let x = redis(&server, "hw:").await;
    let a = RedisProvider::builder(server.url())
        .prefix("hw:")
        .max_wait(Duration::from_millis(300))
        .connect()
        .await
        .unwrap();
    let b = redis(&server, "hw:").await;
    let id = 61;
    let old = version(id);
    let _holder = tokio::spawn(with_provider(x, slow_row(id, 3_000)));
    sleep(Duration::from_millis(100)).await;
    let a1 = tokio::spawn(with_provider(a.clone(), slow_row(id, 300)));
    sleep(Duration::from_millis(450)).await;
    let new = write(id);
    with_provider(b.clone(), slow_row_invalidate(id)).await;
    let a2 = with_provider(a.clone(), slow_row(id, 0)).await;
    assert_eq!(a1.await.unwrap(), old);
    assert_eq!(a2, new, "a call on A that started after the invalidation on B got the old value");
}

static ZERO: Duration = Duration::ZERO;

#[cached(ttl = ZERO, key = "zero:{id}")]
async fn zero_row(id: u64, ms: u64) -> u64 {
    let seen = version(id);
    sleep(Duration::from_millis(ms)).await;
    seen
}

/// A ttl that comes out as zero stores nothing, and its leader still asks its lease whether an
/// invalidation came before it hands its value out.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_zero_ttl_leader_never_hands_out_a_value_from_before_a_remote_invalidation() {
    let server = RedisServer::start();
    let a = redis(&server, "zero:").await;
    let b = redis(&server, "zero:").await;
    let id = 62;
    let old = version(id);
    let a1 = tokio::spawn(with_provider(a.clone(), zero_row(id, 600)));
    sleep(Duration::from_millis(100)).await;
    let new = write(id);
    with_provider(b.clone(), zero_row_invalidate(id)).await;
    let a2 = with_provider(a.clone(), zero_row(id, 0)).await;
    assert_eq!(a1.await.unwrap(), old);
    assert_eq!(a2, new, "a call on A that started after the invalidation on B got the old value");
}

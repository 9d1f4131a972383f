//! Single-flight under real concurrency: many tasks on a multi-threaded runtime, counting how many
//! times the body ran.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use cache_runtime::{cached, with_provider, MemoryProvider};
use tokio::sync::{Barrier, Notify};
use tokio::task::JoinSet;

const CALLERS: usize = 1_000;

/// Runs `CALLERS` copies of `call` at once, each in its own task, all inside `provider`, and
/// returns their results.
async fn stampede<F, Fut, T>(provider: MemoryProvider, call: F) -> Vec<T>
where
    F: Fn() -> Fut + Send + Sync + 'static,
    Fut: std::future::Future<Output = T> + Send + 'static,
    T: Send + 'static,
{
    let call = Arc::new(call);
    let barrier = Arc::new(Barrier::new(CALLERS));
    let mut tasks = JoinSet::new();
    for _ in 0..CALLERS {
        let (call, barrier, provider) = (Arc::clone(&call), Arc::clone(&barrier), provider.clone());
        tasks.spawn(with_provider(provider, async move {
            barrier.wait().await;
            call().await
        }));
    }
    let mut results = Vec::with_capacity(CALLERS);
    while let Some(result) = tasks.join_next().await {
        results.push(result.expect("no caller panics"));
    }
    results
}

static SLOW_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "slow:{id}")]
async fn slow(id: u32) -> u32 {
    SLOW_RUNS.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    id * 2
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_thousand_cold_calls_run_the_body_once() {
    let provider = MemoryProvider::new();
    let results = stampede(provider.clone(), || slow(21)).await;
    assert!(results.iter().all(|&r| r == 42));
    assert_eq!(SLOW_RUNS.load(SeqCst), 1, "the body ran once for {CALLERS} concurrent callers");
    assert_eq!(provider.stats().sets, 1);
}

static FLAKY_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Fails on its first run only.
#[cached(ttl = 60, key = "flaky")]
async fn flaky() -> Result<u32, String> {
    let run = FLAKY_RUNS.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(30)).await;
    if run == 0 {
        Err("first run fails".into())
    } else {
        Ok(7)
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_the_leader_returns_err_a_waiter_runs_the_body() {
    let results = stampede(MemoryProvider::new(), flaky).await;
    let errors = results.iter().filter(|r| r.is_err()).count();
    assert_eq!(errors, 1, "only the leader that failed sees its error");
    assert!(results.iter().filter_map(|r| r.as_ref().ok()).all(|&v| v == 7));
    assert_eq!(FLAKY_RUNS.load(SeqCst), 2, "one waiter took over, and its value served the rest");
}

static NONE_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Finds nothing on its first run only.
#[cached(ttl = 60, key = "sometimes")]
async fn sometimes() -> Option<u32> {
    let run = NONE_RUNS.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(30)).await;
    (run > 0).then_some(9)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_the_leader_returns_none_a_waiter_runs_the_body() {
    let results = stampede(MemoryProvider::new(), sometimes).await;
    assert_eq!(results.iter().filter(|r| r.is_none()).count(), 1);
    assert_eq!(NONE_RUNS.load(SeqCst), 2);
}

static PANIC_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Panics on its first run only.
#[cached(ttl = 60, key = "panicky")]
async fn panicky() -> u32 {
    let run = PANIC_RUNS.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(30)).await;
    assert!(run > 0, "the first run panics");
    5
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_the_leader_panics_the_waiters_neither_hang_nor_fail() {
    let provider = MemoryProvider::new();
    let barrier = Arc::new(Barrier::new(CALLERS));
    let mut tasks = JoinSet::new();
    for _ in 0..CALLERS {
        let barrier = Arc::clone(&barrier);
        tasks.spawn(with_provider(provider.clone(), async move {
            barrier.wait().await;
            panicky().await
        }));
    }
    let (mut panics, mut values) = (0, 0);
    while let Some(result) = tasks.join_next().await {
        match result {
            Ok(5) => values += 1,
            Ok(other) => panic!("unexpected value {other}"),
            Err(error) if error.is_panic() => panics += 1,
            Err(error) => panic!("{error}"),
        }
    }
    assert_eq!((panics, values), (1, CALLERS - 1));
    assert_eq!(PANIC_RUNS.load(SeqCst), 2);
}

static STUCK_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "stuck:{n}")]
async fn until_released(n: u32, release: Arc<Notify>) -> u32 {
    STUCK_RUNS.fetch_add(1, SeqCst);
    release.notified().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn when_the_leader_is_dropped_a_waiter_runs_the_body() {
    let provider = MemoryProvider::new();
    let never = Arc::new(Notify::new());
    let leader = tokio::spawn(with_provider(provider.clone(), until_released(1, Arc::clone(&never))));
    while STUCK_RUNS.load(SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    let release = Arc::new(Notify::new());
    let mut waiters = JoinSet::new();
    for _ in 0..100 {
        waiters.spawn(with_provider(provider.clone(), until_released(1, Arc::clone(&release))));
    }
    // Dropping the leader's future (here: aborting its task) ends its flight without a value.
    leader.abort();
    assert!(leader.await.unwrap_err().is_cancelled());
    // One waiter takes over; `notify_one` keeps a permit if its body has not reached the wait yet.
    release.notify_one();
    while let Some(result) = waiters.join_next().await {
        assert_eq!(result.unwrap(), 1);
    }
    assert_eq!(STUCK_RUNS.load(SeqCst), 2, "one waiter took over; the other 99 got its value");
}

static HOT_RUNS: AtomicUsize = AtomicUsize::new(0);
static COLD_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "hot:{n}")]
async fn hot(n: u32) -> u32 {
    HOT_RUNS.fetch_add(1, SeqCst);
    n
}

#[cached(ttl = 60, key = "cold:{n}")]
async fn cold(n: u32, release: Arc<Notify>) -> u32 {
    COLD_RUNS.fetch_add(1, SeqCst);
    release.notified().await;
    n
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_hit_never_waits_on_another_keys_computation() {
    let provider = MemoryProvider::new();
    assert_eq!(with_provider(provider.clone(), hot(10)).await, 10);
    // Key cold:11 computes and does not finish until released.
    let release = Arc::new(Notify::new());
    let computing = tokio::spawn(with_provider(provider.clone(), cold(11, Arc::clone(&release))));
    while COLD_RUNS.load(SeqCst) == 0 {
        tokio::task::yield_now().await;
    }
    // Many hits on hot:10 complete while cold:11's body is still running. A hit that waited on the
    // other computation would hang here; the timeout only keeps a broken build from hanging CI.
    let mut hits = JoinSet::new();
    for _ in 0..100 {
        hits.spawn(with_provider(provider.clone(), hot(10)));
    }
    let all_hits = async {
        while let Some(hit) = hits.join_next().await {
            assert_eq!(hit.unwrap(), 10);
        }
    };
    tokio::time::timeout(Duration::from_secs(60), all_hits).await.expect("hits do not wait for another key");
    assert!(!computing.is_finished(), "the other key is still computing");
    assert_eq!(HOT_RUNS.load(SeqCst), 1, "all 100 were hits");
    release.notify_one();
    assert_eq!(computing.await.unwrap(), 11);
}

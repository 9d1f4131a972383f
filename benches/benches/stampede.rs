//! Stampede: 1,000 concurrent calls on one cold key whose body sleeps 50 ms, on a two-worker
//! multi-threaded runtime. Each iteration is one stampede on a key never used before; the time
//! is from the first spawn to the last answer. The body runs are counted and printed once each
//! contender is done: the toolkit's macro, `cached` by default, `cached` with
//! `sync_writes = "by_key"`.

use std::future::Future;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use criterion::{criterion_group, criterion_main, Criterion, SamplingMode};

const CALLERS: usize = 1_000;
const BODY: Duration = Duration::from_millis(50);

/// Body runs, for every contender (they run one after the other).
static RUNS: AtomicU64 = AtomicU64::new(0);
/// Cold keys: one per stampede, never reused.
static ROUND: AtomicU64 = AtomicU64::new(0);

async fn body(round: u64) -> u64 {
    RUNS.fetch_add(1, Relaxed);
    tokio::time::sleep(BODY).await;
    round
}

#[cache_runtime::cached(ttl = 300, key = "stampede:{round}")]
async fn ours(round: u64) -> u64 {
    body(round).await
}

#[cached::macros::cached(max_size = 10_000, ttl_secs = 300)]
async fn cached_default(round: u64) -> u64 {
    body(round).await
}

#[cached::macros::cached(max_size = 10_000, ttl_secs = 300, sync_writes = "by_key")]
async fn cached_by_key(round: u64) -> u64 {
    body(round).await
}

/// Body runs of each stampede of one contender.
static RUNS_PER_STAMPEDE: Mutex<Vec<u64>> = Mutex::new(Vec::new());

async fn stampede<F, Fut>(call: F) -> Duration
where
    F: Fn(u64) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = u64> + Send + 'static,
{
    let round = ROUND.fetch_add(1, Relaxed);
    let runs_before = RUNS.load(Relaxed);
    let start = Instant::now();
    let callers: Vec<_> = (0..CALLERS).map(|_| tokio::spawn(call(round))).collect();
    for caller in callers {
        assert_eq!(caller.await.expect("a caller panicked"), round);
    }
    let took = start.elapsed();
    RUNS_PER_STAMPEDE.lock().unwrap().push(RUNS.load(Relaxed) - runs_before);
    took
}

fn bench<F, Fut>(c: &mut Criterion, rt: &tokio::runtime::Runtime, name: &str, call: F)
where
    F: Fn(u64) -> Fut + Copy + Send + 'static,
    Fut: Future<Output = u64> + Send + 'static,
{
    RUNS_PER_STAMPEDE.lock().unwrap().clear();
    let mut group = c.benchmark_group("stampede/1000_callers_50ms_body");
    group.sampling_mode(SamplingMode::Flat).sample_size(10).measurement_time(Duration::from_secs(4));
    group.bench_function(name, |b| {
        b.to_async(rt).iter_custom(|iters| async move {
            let mut total = Duration::ZERO;
            for _ in 0..iters {
                total += stampede(call).await;
            }
            total
        })
    });
    group.finish();
    let runs = RUNS_PER_STAMPEDE.lock().unwrap();
    let (min, max) = (runs.iter().min().unwrap(), runs.iter().max().unwrap());
    let mean = runs.iter().sum::<u64>() as f64 / runs.len() as f64;
    println!(
        "stampede/{name}: body ran {mean:.1} times per stampede of {CALLERS} callers \
         (min {min}, max {max}, over {} stampedes)\n",
        runs.len()
    );
}

fn stampedes(c: &mut Criterion) {
    let rt = cache_benches::multi_thread(2);
    cache_runtime::set_default(cache_runtime::MemoryProvider::builder().max_capacity(cache_benches::CAPACITY).build());
    bench(c, &rt, "ours_macro", ours);
    bench(c, &rt, "cached_default", cached_default);
    bench(c, &rt, "cached_by_key", cached_by_key);
}

criterion_group! {
    name = benches;
    config = cache_benches::criterion();
    targets = stampedes
}
criterion_main!(benches);

//! Refresh ahead under a steady reader: one key read 1,000 times a second for three ttl periods,
//! with `refresh_ahead` and without. Printed: each run's call latency (p50, p99, max) and how many
//! times the body ran in each ttl period. With `refresh_ahead` every call is a hit and the body
//! runs about once a period, in the background; without it, once a period a caller misses and
//! waits for the body (its latency is the body's).
//!
//! Criterion then measures a hit on functions like these with a long ttl (what `refresh_ahead`
//! costs a hit: the hit goes through the future of the fresh path).
//!
//! `cargo bench -p cache-benches --bench refresh`

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};
use std::time::{Duration, Instant};

use cache_runtime::cached;
use criterion::{criterion_group, criterion_main, Criterion};

/// The ttl of both functions; the reader runs for three of them.
const TTL: Duration = Duration::from_secs(1);
/// What the source takes: the latency a miss pays.
const BODY: Duration = Duration::from_millis(50);

static AHEAD_RUNS: AtomicU64 = AtomicU64::new(0);
static PLAIN_RUNS: AtomicU64 = AtomicU64::new(0);

#[cached(ttl = "1s", refresh_ahead = "800ms", key = "ahead:{id}")]
async fn ahead(id: u64) -> u64 {
    AHEAD_RUNS.fetch_add(1, Relaxed);
    tokio::time::sleep(BODY).await;
    id
}

#[cached(ttl = "1s", key = "plain:{id}")]
async fn plain(id: u64) -> u64 {
    PLAIN_RUNS.fetch_add(1, Relaxed);
    tokio::time::sleep(BODY).await;
    id
}

#[cached(ttl = "1h", refresh_ahead = "50m", key = "ahead_hit:{id}")]
async fn ahead_hit(id: u64) -> u64 {
    id
}

#[cached(ttl = "1h", key = "plain_hit:{id}")]
async fn plain_hit(id: u64) -> u64 {
    id
}

/// Reads one key at 1,000 calls a second for three ttl periods; prints the latencies and the
/// body runs per period.
async fn steady<F: std::future::Future<Output = u64>>(name: &str, runs: &AtomicU64, call: impl Fn() -> F) {
    call().await; // the entry exists before the clock starts
    let before = runs.load(Relaxed);
    let mut ticks = tokio::time::interval(Duration::from_millis(1));
    ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Burst);
    let start = Instant::now();
    let mut latencies = Vec::with_capacity(3_000);
    let mut per_period = [0u64; 3];
    let mut seen = before;
    while start.elapsed() < 3 * TTL {
        ticks.tick().await;
        let called = Instant::now();
        black_box(call().await);
        latencies.push(called.elapsed());
        let period = ((start.elapsed().as_nanos() / TTL.as_nanos()) as usize).min(2);
        let now = runs.load(Relaxed);
        per_period[period] += now - seen;
        seen = now;
    }
    latencies.sort();
    let at = |q: f64| latencies[((latencies.len() - 1) as f64 * q) as usize];
    println!(
        "refresh/{name}: {} calls in {:.2?}; latency p50 {:.1?}, p99 {:.1?}, max {:.1?}; body runs per ttl period {:?}",
        latencies.len(),
        start.elapsed(),
        at(0.50),
        at(0.99),
        latencies[latencies.len() - 1],
        per_period
    );
}

fn refresh(c: &mut Criterion) {
    let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    cache_runtime::set_default(cache_runtime::MemoryProvider::new());
    rt.block_on(steady("with_refresh_ahead", &AHEAD_RUNS, || ahead(1)));
    rt.block_on(steady("without_refresh_ahead", &PLAIN_RUNS, || plain(1)));

    // A hit on each (a young entry: neither refreshes), with a ttl that outlasts the measurement.
    let mut group = c.benchmark_group("refresh/hit");
    rt.block_on(async {
        ahead_hit(2).await;
        plain_hit(2).await;
    });
    group.bench_function("with_refresh_ahead", |b| b.to_async(&rt).iter(|| ahead_hit(black_box(2))));
    group.bench_function("without_refresh_ahead", |b| b.to_async(&rt).iter(|| plain_hit(black_box(2))));
    group.finish();
}

criterion_group!(benches, refresh);
criterion_main!(benches);

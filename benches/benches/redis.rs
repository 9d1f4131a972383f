//! Hit path over Redis, against a `redis-server` this bench starts on a free port of 127.0.0.1:
//! the toolkit's macro on a `RedisProvider`, raw redis-rs (`GET` on a multiplexed connection plus
//! a postcard decode of the same value), and the `cached` crate's `AsyncRedisCache` through
//! `#[concurrent_cached]`. Throughput at 1, 16 and 64 concurrent tasks on a two-worker runtime,
//! then `redis-benchmark -t get` with as many connections against the same server, as the
//! ceiling (printed at the end).
//!
//! Then a hit and a miss of the macro on one server against a Redis Cluster (three primaries and
//! three replicas on this machine, started with `redis-cli --cluster create`), side by side in one
//! run: `redis_cluster/hit` and `redis_cluster/miss` (`cargo bench -p cache-benches --bench redis
//! -- redis_cluster`).
//!
//! Needs `redis-server`, `redis-cli` and `redis-benchmark` (`apt-get install -y redis-server`).

use std::hint::black_box;
use std::process::Command;
use std::sync::atomic::{AtomicU64, Ordering};

use cache_benches::redis_contenders::{raw_get, theirs_redis as theirs, RAW, RAW_KEY, URL};
use cache_benches::{run_tasks, User, TTL};
use cache_runtime::{with_provider, RedisProvider};
use cache_tests::{RedisCluster, RedisServer};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use redis::AsyncCommands;

/// The id every contender reads: one hot key each.
const ID: u64 = 1;

#[cache_runtime::cached(ttl = 300, key = "user:{id}")]
async fn ours(id: u64) -> User {
    User::new(id)
}

#[cache_runtime::cached(ttl = 300, key = "hit:{id}")]
async fn hit(id: u64) -> User {
    User::new(id)
}

#[cache_runtime::cached(ttl = 300, key = "miss:{id}")]
async fn miss(id: u64) -> User {
    User::new(id)
}

/// A new key for each miss, on either store.
static NEXT_MISS: AtomicU64 = AtomicU64::new(1_000);

/// A hit and a miss through the macro on one server and on a cluster, side by side.
fn cluster_benches(c: &mut Criterion, server: &RedisServer, rt: &tokio::runtime::Runtime) {
    let cluster = RedisCluster::start();
    let (single, clustered) = rt.block_on(async {
        let single = RedisProvider::builder(server.url()).prefix("bench:").connect().await.expect("one server");
        let clustered =
            RedisProvider::cluster_builder(cluster.urls()).prefix("bench:").connect().await.expect("the cluster");
        for provider in [&single, &clustered] {
            with_provider(provider.clone(), async { assert_eq!(hit(ID).await, User::new(ID)) }).await;
        }
        (single, clustered)
    });
    let mut group = c.benchmark_group("redis_cluster/hit");
    for (name, provider) in [("single_node", &single), ("cluster", &clustered)] {
        group.bench_function(name, |b| b.to_async(rt).iter(|| with_provider(provider.clone(), hit(black_box(ID)))));
    }
    group.finish();
    let mut group = c.benchmark_group("redis_cluster/miss");
    for (name, provider) in [("single_node", &single), ("cluster", &clustered)] {
        group.bench_function(name, |b| {
            b.to_async(rt).iter(|| with_provider(provider.clone(), miss(NEXT_MISS.fetch_add(1, Ordering::Relaxed))))
        });
    }
    group.finish();
    for (name, provider) in [("single node", &single), ("cluster", &clustered)] {
        let stats = provider.stats();
        assert_eq!(stats.errors, 0, "{name}: {stats:?}");
        assert!(stats.hits > 0 && stats.sets > 1, "{name} hit and stored: {stats:?}");
    }
}

async fn setup(server: &RedisServer) {
    let url = server.url();
    URL.set(url.clone()).expect("set once");
    let provider = cache_runtime::RedisProvider::builder(&url).connect().await.expect("the RedisProvider");
    cache_runtime::set_default(provider);
    let client = redis::Client::open(url).expect("a redis URL");
    let mut raw = client.get_multiplexed_async_connection().await.expect("a raw connection");
    let bytes = postcard::to_allocvec(&User::new(ID)).expect("postcard");
    let () = raw.set_ex(RAW_KEY, bytes, TTL.as_secs()).await.expect("a SET");
    RAW.set(raw).expect("set once");
    // Store the entry of each cached contender, then check that each one answers from Redis.
    assert_eq!(ours(ID).await, User::new(ID));
    assert_eq!(theirs(ID).await.unwrap(), User::new(ID));
    assert_eq!(ours(ID).await, User::new(ID));
    assert_eq!(raw_get().await, User::new(ID));
    let stats = cache_runtime::stats();
    assert_eq!((stats.hits, stats.sets, stats.errors), (1, 1, 0), "the macro reads what it stored");
}

/// `redis-benchmark -t get` on the same server: requests per second, or why there are none.
fn redis_benchmark(port: u16, connections: usize) -> String {
    let out = Command::new("redis-benchmark")
        .args(["-h", "127.0.0.1", "-p", &port.to_string(), "-t", "get", "-n", "200000", "--csv"])
        .args(["-c", &connections.to_string()])
        .output();
    let out = match out {
        Ok(out) if out.status.success() => out,
        Ok(out) => return format!("redis-benchmark failed: {}", String::from_utf8_lossy(&out.stderr)),
        Err(error) => return format!("redis-benchmark did not run ({error}): apt-get install -y redis-server"),
    };
    // "test","rps","avg_latency_ms",...  then  "GET","123456.79","0.215",...
    let text = String::from_utf8_lossy(&out.stdout);
    let rps = text
        .lines()
        .find(|line| line.starts_with("\"GET\""))
        .and_then(|line| line.split(',').nth(1))
        .map(|rps| rps.trim_matches('"').to_owned());
    match rps {
        Some(rps) => format!("{rps} requests/s"),
        None => format!("unexpected output: {text}"),
    }
}

fn redis_benches(c: &mut Criterion) {
    let server = RedisServer::start();
    let rt = cache_benches::multi_thread(2);
    rt.block_on(setup(&server));

    let mut group = c.benchmark_group("redis_hit/1_task");
    group.bench_function("ours_macro", |b| b.to_async(&rt).iter(|| ours(black_box(ID))));
    group.bench_function("raw_redis_get_postcard", |b| b.to_async(&rt).iter(raw_get));
    group.bench_function("cached_async_redis", |b| {
        b.to_async(&rt).iter(|| async { theirs(black_box(ID)).await.unwrap() })
    });
    group.finish();

    for tasks in [1usize, 16, 64] {
        let mut group = c.benchmark_group(format!("redis_throughput/{tasks}_tasks"));
        group.throughput(Throughput::Elements(tasks as u64));
        group.bench_function("ours_macro", |b| {
            b.to_async(&rt).iter_custom(|iters| run_tasks(tasks, iters, |_, _| ours(ID)))
        });
        group.bench_function("raw_redis_get_postcard", |b| {
            b.to_async(&rt).iter_custom(|iters| run_tasks(tasks, iters, |_, _| raw_get()))
        });
        group.bench_function("cached_async_redis", |b| {
            b.to_async(&rt)
                .iter_custom(|iters| run_tasks(tasks, iters, |_, _| async { theirs(ID).await.expect("a cached hit") }))
        });
        group.finish();
    }

    let stats = cache_runtime::stats();
    assert_eq!((stats.sets, stats.errors), (1, 0), "the macro bench must only hit");

    cluster_benches(c, &server, &rt);

    println!("\nCeiling: redis-benchmark -t get -n 200000 against the same server");
    for connections in [1usize, 16, 64] {
        println!("redis_benchmark/get/{connections}_connections: {}", redis_benchmark(server.port(), connections));
    }
    println!();
}

criterion_group! {
    name = benches;
    config = cache_benches::criterion();
    targets = redis_benches
}
criterion_main!(benches);

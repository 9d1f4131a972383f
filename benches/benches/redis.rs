//! Hit path over Redis, against a `redis-server` this bench starts on a free port of 127.0.0.1:
//! the toolkit's macro on a `RedisProvider`, raw redis-rs (`GET` on a multiplexed connection plus
//! a postcard decode of the same value), and the `cached` crate's `AsyncRedisCache` through
//! `#[concurrent_cached]`. Throughput at 1, 16 and 64 concurrent tasks on a two-worker runtime,
//! then `redis-benchmark -t get` with as many connections against the same server, as the
//! ceiling (printed at the end).
//!
//! Needs `redis-server` and `redis-benchmark` (`apt-get install -y redis-server`).

use std::hint::black_box;
use std::process::Command;

use cache_benches::redis_contenders::{raw_get, theirs_redis as theirs, RAW, RAW_KEY, URL};
use cache_benches::{run_tasks, User, TTL};
use cache_tests::RedisServer;
use criterion::{criterion_group, criterion_main, Criterion, Throughput};
use redis::AsyncCommands;

/// The id every contender reads: one hot key each.
const ID: u64 = 1;

#[cache_runtime::cached(ttl = 300, key = "user:{id}")]
async fn ours(id: u64) -> User {
    User::new(id)
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

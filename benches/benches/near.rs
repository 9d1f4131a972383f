//! The near cache (issue 16), against a `redis-server` this bench starts on a free port.
//!
//! `near_hit/1_task`: one `#[cached]` hit at a time on a current-thread runtime, on three
//! providers holding the same `User`: a `MemoryProvider`, a `RedisProvider` with a near cache (the
//! hit never leaves memory) and a `RedisProvider` without one (a round trip per hit).
//!
//! Then, printed: how long an invalidation takes to reach another instance's near cache. Two
//! providers built separately on one server; instance B holds 2,000 keys in its near cache;
//! instance A writes them, one every millisecond (1,000 writes/s); a task on B reads each written
//! key until it gets the new value (a near hit of the old value until the message removes it, then
//! a Redis read). The time from A's write returning to B's first new read is the propagation time.
//!
//! Needs `redis-server` (`apt-get install -y redis-server`).

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use cache_benches::{User, CAPACITY, TTL};
use cache_runtime::{MemoryProvider, RedisProvider};
use cache_tests::RedisServer;
use criterion::{criterion_group, criterion_main, Criterion};

const ID: u64 = 1;

#[cache_runtime::cached(ttl = 300, key = "user:{id}", provider = "memory")]
async fn on_memory(id: u64) -> User {
    User::new(id)
}

#[cache_runtime::cached(ttl = 300, key = "user:{id}", provider = "near")]
async fn on_near(id: u64) -> User {
    User::new(id)
}

#[cache_runtime::cached(ttl = 300, key = "user:{id}", provider = "redis")]
async fn on_redis(id: u64) -> User {
    User::new(id)
}

async fn near_provider(server: &RedisServer, prefix: &str) -> RedisProvider {
    RedisProvider::builder(server.url())
        .prefix(prefix)
        .near_cache(MemoryProvider::builder().max_capacity(CAPACITY).build())
        .connect()
        .await
        .expect("a RedisProvider with a near cache")
}

async fn setup(server: &RedisServer) {
    cache_runtime::register("memory", MemoryProvider::builder().max_capacity(CAPACITY).build());
    let near = near_provider(server, "near:").await;
    cache_runtime::register("near", near.clone());
    let redis = RedisProvider::builder(server.url()).prefix("plain:").connect().await.expect("a RedisProvider");
    cache_runtime::register("redis", redis.clone());
    for _ in 0..2 {
        assert_eq!(on_memory(ID).await, User::new(ID));
        assert_eq!(on_near(ID).await, User::new(ID));
        assert_eq!(on_redis(ID).await, User::new(ID));
    }
    assert_eq!((near.stats().near_hits, near.stats().hits), (1, 1), "the near bench hits memory");
    assert_eq!((redis.stats().near_hits, redis.stats().hits), (0, 1), "the Redis bench hits Redis");
}

fn hits(c: &mut Criterion) {
    let server = RedisServer::start();
    let rt = cache_benches::current_thread();
    rt.block_on(setup(&server));
    let mut group = c.benchmark_group("near_hit/1_task");
    group.bench_function("memory", |b| b.to_async(&rt).iter(|| on_memory(black_box(ID))));
    group.bench_function("redis_near", |b| b.to_async(&rt).iter(|| on_near(black_box(ID))));
    group.bench_function("redis", |b| b.to_async(&rt).iter(|| on_redis(black_box(ID))));
    group.finish();
    propagation(&server);
}

/// Writes a second, `WRITES` in all, and how long each takes to reach the other instance.
const RATE: u64 = 1_000;
const WRITES: u64 = 2_000;

fn propagation(server: &RedisServer) {
    let rt = cache_benches::multi_thread(2);
    let times = rt.block_on(async {
        let (a, b) = tokio::join!(near_provider(server, "prop:"), near_provider(server, "prop:"));
        cache_runtime::register("a", a);
        cache_runtime::register("b", b.clone());
        let (on_a, on_b) = (cache_runtime::named("a").unwrap(), cache_runtime::named("b").unwrap());
        let keys: Vec<String> = (0..WRITES).map(|n| format!("k:{n}")).collect();
        for key in &keys {
            on_a.set(key, &0_u64, TTL).await.unwrap();
        }
        // A fill that raced with the message of A's write is refused: read again once the
        // messages have arrived, then check that B holds every key.
        tokio::time::sleep(Duration::from_millis(200)).await;
        for key in &keys {
            assert_eq!(on_b.get::<u64>(key).await.unwrap(), Some(0));
        }
        let near_before = b.stats().near_hits;
        for key in &keys {
            assert_eq!(on_b.get::<u64>(key).await.unwrap(), Some(0));
        }
        assert_eq!(b.stats().near_hits - near_before, WRITES, "B holds the keys in its near cache");

        // Written keys, by when A's write returned; B's reader takes them out when it sees 1.
        let pending: Arc<Mutex<HashMap<String, Instant>>> = Arc::default();
        let times: Arc<Mutex<Vec<Duration>>> = Arc::default();
        let done = Arc::new(std::sync::atomic::AtomicBool::new(false));
        let reader = tokio::spawn({
            let (pending, times, done) = (Arc::clone(&pending), Arc::clone(&times), Arc::clone(&done));
            async move {
                loop {
                    let keys: Vec<(String, Instant)> =
                        pending.lock().unwrap().iter().map(|(k, t)| (k.clone(), *t)).collect();
                    if keys.is_empty() && done.load(std::sync::atomic::Ordering::SeqCst) {
                        return;
                    }
                    for (key, written) in keys {
                        if on_b.get::<u64>(&key).await.unwrap() == Some(1) {
                            times.lock().unwrap().push(written.elapsed());
                            pending.lock().unwrap().remove(&key);
                        }
                    }
                    tokio::task::yield_now().await;
                }
            }
        });
        let mut tick = tokio::time::interval(Duration::from_micros(1_000_000 / RATE));
        for key in &keys {
            tick.tick().await;
            on_a.set(key, &1_u64, TTL).await.unwrap();
            pending.lock().unwrap().insert(key.clone(), Instant::now());
        }
        done.store(true, std::sync::atomic::Ordering::SeqCst);
        reader.await.unwrap();
        let mut times = Arc::try_unwrap(times).unwrap().into_inner().unwrap();
        times.sort();
        times
    });
    let at = |q: f64| times[((times.len() as f64 * q) as usize).min(times.len() - 1)];
    println!(
        "\nnear_invalidation/{RATE}_writes_per_s: {} writes, propagation p50 {:?}, p99 {:?}, max {:?}\n",
        times.len(),
        at(0.50),
        at(0.99),
        times[times.len() - 1]
    );
}

criterion_group! {
    name = benches;
    config = cache_benches::criterion();
    targets = hits
}
criterion_main!(benches);

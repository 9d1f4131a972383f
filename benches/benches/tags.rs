//! The cost of tags on a hit (issue 15): a hit through `#[cached]` on functions with 0, 1 and 3
//! tags (`user:{user_id}`; `user:{user_id}`, `orders`, `region:{region}`), one call at a time on a
//! current-thread runtime, on a `MemoryProvider` (the default provider) and on a `RedisProvider`
//! (against a `redis-server` this bench starts on a free port). The three functions take the same
//! parameters and keys of the same length: the tags are the only difference.
//!
//! Each store's group measures the three functions, then invalidates tags (the entries' own tags,
//! then 1,000 other tags), lets each function store its value again, and measures them once more
//! (`..._after_invalidation`). Until a memory store's first invalidation a tagged hit looks no mark
//! up; after it, each hit looks up the mark of each of its tags. On Redis the read script reads the
//! marks of the value's tags whatever happened before.
//!
//! `tags_hit_throughput/memory_2_tasks`: the 0- and 3-tag functions on a fresh default
//! `MemoryProvider`, 2 tasks on a 2-worker runtime, before and after invalidations: after the
//! first one, every tagged hit takes the store's mark map's read lock, shared by all threads.
//!
//! For each Redis function, the server's side of its hits is printed at the end, from
//! `INFO commandstats` over its measurement: the `EVALSHA` calls per hit, the server's time per
//! `EVALSHA` (the read script, its `GET`s included) and the `GET`s it ran per hit (the value's, and
//! one per tag for the marks). It is steadier than the round trip, which this shared machine moves
//! by tens of percent from run to run.
//!
//! Needs `redis-server` (`apt-get install -y redis-server`).

use std::hint::black_box;

use cache_benches::tagged::{tags_0, tags_1, tags_3, REGION};
use cache_benches::{run_tasks, User, CAPACITY};
use cache_runtime::{Cache, MemoryProvider, RedisProvider};
use cache_tests::RedisServer;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion, Throughput};

const ID: u64 = 1;
const USER: u64 = 42;

/// The tags of the 3-tag functions' entries for `USER` and `REGION`.
const OWN_TAGS: [&str; 3] = ["user:42", "orders", "region:eu"];

/// Tags invalidated besides the entries' own: a store of an application holds more marks than
/// those of the entry it reads.
const OTHER_TAGS: u64 = 1_000;

#[cache_runtime::cached(ttl = 300, key = "order:{id}:t0", provider = "redis")]
async fn redis_tags_0(id: u64, _user_id: u64, _region: &str) -> User {
    User::new(id)
}

#[cache_runtime::cached(ttl = 300, key = "order:{id}:t1", provider = "redis", tags = ["user:{user_id}"])]
async fn redis_tags_1(id: u64, user_id: u64, _region: &str) -> User {
    User::new(id)
}

#[cache_runtime::cached(
    ttl = 300,
    key = "order:{id}:t3",
    provider = "redis",
    tags = ["user:{user_id}", "orders", "region:{region}"]
)]
async fn redis_tags_3(id: u64, user_id: u64, region: &str) -> User {
    User::new(id)
}

/// Which store a group measures.
#[derive(Clone, Copy)]
enum Store {
    Memory,
    Redis,
}

impl Store {
    fn name(self) -> &'static str {
        match self {
            Store::Memory => "memory",
            Store::Redis => "redis",
        }
    }

    fn cache(self) -> Cache {
        match self {
            Store::Memory => cache_runtime::cache(),
            Store::Redis => cache_runtime::named("redis").expect("the Redis provider is registered"),
        }
    }

    /// One call of the function with `tags` tags on this store.
    async fn call(self, tags: usize) -> User {
        match (self, tags) {
            (Store::Memory, 0) => tags_0(black_box(ID), black_box(USER), black_box(REGION)).await,
            (Store::Memory, 1) => tags_1(black_box(ID), black_box(USER), black_box(REGION)).await,
            (Store::Memory, _) => tags_3(black_box(ID), black_box(USER), black_box(REGION)).await,
            (Store::Redis, 0) => redis_tags_0(black_box(ID), black_box(USER), black_box(REGION)).await,
            (Store::Redis, 1) => redis_tags_1(black_box(ID), black_box(USER), black_box(REGION)).await,
            (Store::Redis, _) => redis_tags_3(black_box(ID), black_box(USER), black_box(REGION)).await,
        }
    }

    /// Calls each function twice: the first call stores (or finds) its value, the second hits.
    async fn fill(self) {
        for tags in [0, 1, 3] {
            for _ in 0..2 {
                assert_eq!(self.call(tags).await, User::new(ID));
            }
        }
    }
}

async fn setup(server: &RedisServer) {
    cache_runtime::set_default(MemoryProvider::builder().max_capacity(CAPACITY).build());
    let redis = RedisProvider::builder(server.url()).connect().await.expect("a RedisProvider");
    cache_runtime::register("redis", redis);
    for store in [Store::Memory, Store::Redis] {
        store.fill().await;
        let stats = store.cache().stats();
        assert_eq!((stats.sets, stats.hits, stats.errors), (3, 3, 0), "{}: each function stored once", store.name());
    }
}

/// Invalidates the entries' own tags and `OTHER_TAGS` others, checks that the tagged entries are
/// gone (each tagged function computes again) and the untagged one is not, and leaves each
/// function's value stored again, after the marks.
async fn invalidate(store: Store) {
    let cache = store.cache();
    for tag in OWN_TAGS {
        cache.invalidate_tag(tag).await.expect("invalidate_tag");
    }
    for n in 0..OTHER_TAGS {
        cache.invalidate_tag(&format!("user:{}", 1_000_000 + n)).await.expect("invalidate_tag");
    }
    let sets = cache.stats().sets;
    store.fill().await;
    let stats = cache.stats();
    assert_eq!(stats.sets - sets, 2, "{}: the two tagged functions computed again, the untagged one hit", store.name());
    assert_eq!(stats.errors, 0);
}

/// The calls and total microseconds of `command` in an `INFO commandstats` reply.
fn command_stats(info: &str, command: &str) -> (u64, u64) {
    let prefix = format!("cmdstat_{command}:");
    let Some(line) = info.lines().find_map(|line| line.strip_prefix(&prefix)) else { return (0, 0) };
    let field = |name: &str| -> u64 {
        line.split(',').find_map(|field| field.strip_prefix(name)).and_then(|n| n.parse().ok()).unwrap_or(0)
    };
    (field("calls="), field("usec="))
}

/// What the server ran for the hits of one Redis function, between `CONFIG RESETSTAT` and
/// `INFO commandstats`.
async fn server_side(raw: &mut redis::aio::MultiplexedConnection, hits: u64) -> String {
    let info: String = redis::cmd("INFO").arg("commandstats").query_async(raw).await.expect("INFO commandstats");
    let (evalsha, usec) = command_stats(&info, "evalsha");
    let (gets, _) = command_stats(&info, "get");
    let per_hit = |n: u64| n as f64 / hits.max(1) as f64;
    format!(
        "{:.2} EVALSHA/hit, {:.2} µs of server time per EVALSHA, {:.2} GET/hit (inside the script)",
        per_hit(evalsha),
        usec as f64 / evalsha.max(1) as f64,
        per_hit(gets)
    )
}

/// Measures the three functions of `store`; on Redis (`raw` given) also what the server ran for
/// each, into `server`.
fn bench_hits(
    group: &mut BenchmarkGroup<'_, WallTime>,
    rt: &tokio::runtime::Runtime,
    store: Store,
    suffix: &str,
    mut raw: Option<&mut redis::aio::MultiplexedConnection>,
    server: &mut Vec<String>,
) {
    for (tags, name) in [(0, "0_tags"), (1, "1_tag"), (3, "3_tags")] {
        let name = format!("{name}{suffix}");
        if let Some(raw) = raw.as_deref_mut() {
            rt.block_on(async {
                let () = redis::cmd("CONFIG").arg("RESETSTAT").query_async(raw).await.expect("CONFIG RESETSTAT");
            });
        }
        let hits_before = store.cache().stats().hits;
        group.bench_function(&name, |b| b.to_async(rt).iter(|| store.call(tags)));
        let hits = store.cache().stats().hits - hits_before;
        // (No hits: the bench was filtered out.)
        if let (Some(raw), true) = (raw.as_deref_mut(), hits > 0) {
            server.push(format!("tags_hit/{}/{name}: {}", store.name(), rt.block_on(server_side(raw, hits))));
        }
    }
}

fn hits(c: &mut Criterion) {
    let server = RedisServer::start();
    let rt = cache_benches::current_thread();
    rt.block_on(setup(&server));
    let client = redis::Client::open(server.url()).expect("a redis URL");
    let mut raw = rt.block_on(client.get_multiplexed_async_connection()).expect("a raw connection");
    let mut server_lines = Vec::new();
    for store in [Store::Memory, Store::Redis] {
        let mut group = c.benchmark_group(format!("tags_hit/{}", store.name()));
        let mut raw = matches!(store, Store::Redis).then_some(&mut raw);
        bench_hits(&mut group, &rt, store, "", raw.as_deref_mut(), &mut server_lines);
        rt.block_on(invalidate(store));
        bench_hits(&mut group, &rt, store, "_after_invalidation", raw, &mut server_lines);
        group.finish();
        let stats = store.cache().stats();
        assert_eq!((stats.sets, stats.errors), (5, 0), "{}: the bench must only hit", store.name());
    }
    println!("\nThe Redis server's side of the hits (INFO commandstats over each measurement, warm-up included):");
    for line in server_lines {
        println!("{line}");
    }
    println!();
}

/// Tasks of the throughput group: one per worker.
const TASKS: usize = 2;

fn throughput(c: &mut Criterion) {
    let rt = cache_benches::multi_thread(TASKS);
    // A store of its own, so that no tag was invalidated on it yet.
    cache_runtime::set_default(MemoryProvider::builder().max_capacity(CAPACITY).build());
    rt.block_on(Store::Memory.fill());
    let mut group = c.benchmark_group(format!("tags_hit_throughput/memory_{TASKS}_tasks"));
    group.throughput(Throughput::Elements(TASKS as u64));
    let measure = |group: &mut BenchmarkGroup<'_, WallTime>, suffix: &str| {
        for (tags, name) in [(0, "0_tags"), (3, "3_tags")] {
            group.bench_function(format!("{name}{suffix}"), |b| {
                b.to_async(&rt).iter_custom(|iters| run_tasks(TASKS, iters, move |_, _| Store::Memory.call(tags)))
            });
        }
    };
    measure(&mut group, "");
    rt.block_on(invalidate(Store::Memory));
    measure(&mut group, "_after_invalidation");
    group.finish();
    let stats = Store::Memory.cache().stats();
    assert_eq!((stats.sets, stats.errors), (5, 0), "the throughput bench must only hit");
}

criterion_group! {
    name = benches;
    config = cache_benches::criterion();
    targets = hits, throughput
}
criterion_main!(benches);

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
//! Needs `redis-server` (`apt-get install -y redis-server`).

use std::hint::black_box;

use cache_benches::tagged::{tags_0, tags_1, tags_3, REGION};
use cache_benches::{User, CAPACITY};
use cache_runtime::{Cache, MemoryProvider, RedisProvider};
use cache_tests::RedisServer;
use criterion::measurement::WallTime;
use criterion::{criterion_group, criterion_main, BenchmarkGroup, Criterion};

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

fn bench_hits(group: &mut BenchmarkGroup<'_, WallTime>, rt: &tokio::runtime::Runtime, store: Store, suffix: &str) {
    for (tags, name) in [(0, "0_tags"), (1, "1_tag"), (3, "3_tags")] {
        group.bench_function(format!("{name}{suffix}"), |b| b.to_async(rt).iter(|| store.call(tags)));
    }
}

fn hits(c: &mut Criterion) {
    let server = RedisServer::start();
    let rt = cache_benches::current_thread();
    rt.block_on(setup(&server));
    for store in [Store::Memory, Store::Redis] {
        let mut group = c.benchmark_group(format!("tags_hit/{}", store.name()));
        bench_hits(&mut group, &rt, store, "");
        rt.block_on(invalidate(store));
        bench_hits(&mut group, &rt, store, "_after_invalidation");
        group.finish();
        let stats = store.cache().stats();
        assert_eq!((stats.sets, stats.errors), (5, 0), "{}: the bench must only hit", store.name());
    }
}

criterion_group! {
    name = benches;
    config = cache_benches::criterion();
    targets = hits
}
criterion_main!(benches);

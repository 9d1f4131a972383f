//! Miss path in memory, with a body that returns at once: what is measured is each contender's
//! own cost of a miss (key building, lookup, single-flight where there is one, insert).
//!
//! Every call uses a key never used before, so every call misses; the stores are bounded to the
//! same capacity, so all of them evict once full, the same way for every contender.

use std::hint::black_box;
use std::sync::atomic::{AtomicU64, Ordering::Relaxed};

use cache_benches::{user_key, User, CAPACITY, TTL};
use criterion::{criterion_group, criterion_main, Criterion};

use cache_benches::contenders::{ours, theirs, MOKA};

/// A fresh id for every call of every contender.
static NEXT: AtomicU64 = AtomicU64::new(0);

fn fresh() -> u64 {
    NEXT.fetch_add(1, Relaxed)
}

/// What a user of raw moka writes for a cached call: get, else compute and insert.
async fn moka_cached(id: u64) -> User {
    let key = user_key(id);
    if let Some(user) = MOKA.get(&key).await {
        return user;
    }
    let user = User::new(id);
    MOKA.insert(key, user.clone()).await;
    user
}

/// The same with the toolkit's cache-aside calls.
async fn aside_cached(id: u64) -> User {
    let key = user_key(id);
    if let Ok(Some(user)) = cache_runtime::get::<User>(&key).await {
        return user;
    }
    let user = User::new(id);
    cache_runtime::set(&key, &user, TTL).await.unwrap();
    user
}

fn miss(c: &mut Criterion) {
    let rt = cache_benches::current_thread();
    cache_runtime::set_default(cache_runtime::MemoryProvider::builder().max_capacity(CAPACITY).build());
    let mut group = c.benchmark_group("miss/1_task");
    group.bench_function("ours_macro", |b| b.to_async(&rt).iter(|| ours(black_box(fresh()))));
    group.bench_function("ours_aside_get_set", |b| b.to_async(&rt).iter(|| aside_cached(black_box(fresh()))));
    group.bench_function("moka_get_insert", |b| b.to_async(&rt).iter(|| moka_cached(black_box(fresh()))));
    group.bench_function("cached_macro", |b| b.to_async(&rt).iter(|| theirs(black_box(fresh()))));
    group.finish();
    let stats = cache_runtime::stats();
    assert_eq!(stats.hits, 0, "every call must miss");
    assert_eq!(stats.misses, stats.sets);
}

criterion_group! {
    name = benches;
    config = cache_benches::criterion();
    targets = miss
}
criterion_main!(benches);

//! Hit path in memory: the toolkit's macro and cache-aside `get`, raw `moka::future::Cache::get`,
//! and the `cached` crate's `#[cached]`, all holding the same `User` values with a TTL.
//!
//! `hit/1_task` times one call at a time on a current-thread runtime; `hit_throughput/N_tasks`
//! runs N tasks on a two-worker multi-threaded runtime, each cycling over a hot set of keys.

use std::hint::black_box;
use std::sync::LazyLock;

use cache_benches::{hot_id, run_tasks, user_key, User, CAPACITY, HOT_KEYS};
use criterion::{criterion_group, criterion_main, Criterion, Throughput};

use cache_benches::contenders::{ours, theirs, MOKA};

/// The keys of the hot set, built once: what a cache-aside caller that keeps its keys would pass.
static KEYS: LazyLock<Vec<String>> = LazyLock::new(|| (0..HOT_KEYS).map(user_key).collect());

async fn fill() {
    cache_runtime::set_default(cache_runtime::MemoryProvider::builder().max_capacity(CAPACITY).build());
    for id in 0..HOT_KEYS {
        ours(id).await;
        theirs(id).await;
        MOKA.insert(user_key(id), User::new(id)).await;
    }
    // Every contender answers from its cache from now on.
    for id in 0..HOT_KEYS {
        assert_eq!(cache_runtime::get::<User>(&KEYS[id as usize]).await.unwrap(), Some(User::new(id)));
        assert_eq!(MOKA.get(&KEYS[id as usize]).await, Some(User::new(id)));
    }
    assert_eq!(cache_runtime::stats().sets, HOT_KEYS);
}

fn one_task(c: &mut Criterion) {
    let rt = cache_benches::current_thread();
    rt.block_on(fill());
    let mut group = c.benchmark_group("hit/1_task");
    group.bench_function("ours_macro", |b| b.to_async(&rt).iter(|| ours(black_box(1))));
    group.bench_function("ours_aside_get", |b| {
        b.to_async(&rt).iter(|| async { cache_runtime::get::<User>(black_box(&KEYS[1])).await.unwrap() })
    });
    group.bench_function("moka_get", |b| b.to_async(&rt).iter(|| MOKA.get(black_box(&KEYS[1]))));
    group.bench_function("moka_get_format_key", |b| {
        b.to_async(&rt).iter(|| async { MOKA.get(&user_key(black_box(1))).await })
    });
    group.bench_function("cached_macro", |b| b.to_async(&rt).iter(|| theirs(black_box(1))));
    group.finish();
    let stats = cache_runtime::stats();
    assert_eq!((stats.sets, stats.errors), (HOT_KEYS, 0), "the macro bench must only hit");
}

fn throughput(c: &mut Criterion) {
    let rt = cache_benches::multi_thread(2);
    rt.block_on(fill());
    for tasks in [2usize, 8] {
        let mut group = c.benchmark_group(format!("hit_throughput/{tasks}_tasks"));
        group.throughput(Throughput::Elements(tasks as u64));
        group.bench_function("ours_macro", |b| {
            b.to_async(&rt).iter_custom(|iters| run_tasks(tasks, iters, |t, i| ours(hot_id(t, i))))
        });
        group.bench_function("ours_aside_get", |b| {
            b.to_async(&rt).iter_custom(|iters| {
                run_tasks(tasks, iters, |t, i| async move {
                    cache_runtime::get::<User>(&KEYS[hot_id(t, i) as usize]).await.unwrap()
                })
            })
        });
        group.bench_function("moka_get", |b| {
            b.to_async(&rt).iter_custom(|iters| run_tasks(tasks, iters, |t, i| MOKA.get(&KEYS[hot_id(t, i) as usize])))
        });
        group.bench_function("cached_macro", |b| {
            b.to_async(&rt).iter_custom(|iters| run_tasks(tasks, iters, |t, i| theirs(hot_id(t, i))))
        });
        group.finish();
    }
    let stats = cache_runtime::stats();
    assert_eq!((stats.sets, stats.errors), (HOT_KEYS, 0), "the macro bench must only hit");
}

criterion_group! {
    name = benches;
    config = cache_benches::criterion();
    targets = one_task, throughput
}
criterion_main!(benches);

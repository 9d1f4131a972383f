//! Key building: the code the macro generates for templates of 1, 3 and 6 placeholders (a
//! `KeyBuilder` on the stack, literal text, integers with `integer`, strings with `text`), made a
//! `String` as a miss makes it, against `format!` of the same text without escaping.

use std::hint::black_box;

use cache_runtime::__private::KeyBuilder;
use criterion::{criterion_group, criterion_main, Criterion};

/// `key = "user:{id}"`
fn ours_1(id: u64) -> String {
    let mut key = KeyBuilder::with_capacity(5 + 8);
    key.literal("user:");
    key.integer(id);
    key.finish()
}

/// `key = "org:{org}:user:{id}:v{version}"`
fn ours_3(org: &str, id: u64, version: u32) -> String {
    let mut key = KeyBuilder::with_capacity(4 + 6 + 2 + 3 * 8);
    key.literal("org:");
    key.text(org);
    key.literal(":user:");
    key.integer(id);
    key.literal(":v");
    key.integer(version);
    key.finish()
}

/// `key = "search:{tenant}:{query}:{page}:{per_page}:{sort}:{lang}"`; the query holds a space,
/// which is escaped.
fn ours_6(tenant: &str, query: &str, page: u32, per_page: u32, sort: &str, lang: &str) -> String {
    let mut key = KeyBuilder::with_capacity(7 + 5 + 6 * 8);
    key.literal("search:");
    key.text(tenant);
    key.literal(":");
    key.text(query);
    key.literal(":");
    key.integer(page);
    key.literal(":");
    key.integer(per_page);
    key.literal(":");
    key.text(sort);
    key.literal(":");
    key.text(lang);
    key.finish()
}

fn keys(c: &mut Criterion) {
    assert_eq!(ours_1(42), format!("user:{}", 42));
    assert_eq!(ours_3("acme", 42, 3), format!("org:{}:user:{}:v{}", "acme", 42, 3));
    assert_eq!(ours_6("acme", "rust cache", 2, 50, "score", "en"), "search:acme:rust%20cache:2:50:score:en");

    let mut group = c.benchmark_group("key");
    group.bench_function("1_placeholder/ours", |b| b.iter(|| ours_1(black_box(4_242_424))));
    group.bench_function("1_placeholder/format", |b| b.iter(|| format!("user:{}", black_box(4_242_424u64))));
    group.bench_function("3_placeholders/ours", |b| {
        b.iter(|| ours_3(black_box("acme"), black_box(4_242_424), black_box(3)))
    });
    group.bench_function("3_placeholders/format", |b| {
        b.iter(|| format!("org:{}:user:{}:v{}", black_box("acme"), black_box(4_242_424u64), black_box(3u32)))
    });
    group.bench_function("6_placeholders/ours", |b| {
        b.iter(|| {
            ours_6(
                black_box("acme"),
                black_box("rust cache"),
                black_box(2),
                black_box(50),
                black_box("score"),
                black_box("en"),
            )
        })
    });
    group.bench_function("6_placeholders/format", |b| {
        b.iter(|| {
            format!(
                "search:{}:{}:{}:{}:{}:{}",
                black_box("acme"),
                black_box("rust cache"),
                black_box(2u32),
                black_box(50u32),
                black_box("score"),
                black_box("en")
            )
        })
    });
    group.finish();
}

criterion_group! {
    name = benches;
    config = cache_benches::criterion();
    targets = keys
}
criterion_main!(benches);

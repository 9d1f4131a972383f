//! One pattern language on every store: the same random patterns over the same random keys
//! remove the same entries from memory and from Redis.
#![cfg(feature = "redis")]

use std::time::Duration;

use cache_runtime::{with_provider, CacheError, CacheProvider, MemoryProvider, RedisProvider};
use cache_tests::RedisServer;
use proptest::prelude::*;
use proptest::test_runner::{Config, TestRunner};

/// Characters that keys and patterns are made of: plain, multi-byte, and every glob character.
const ALPHABET: &[char] = &['a', 'b', 'c', ':', '-', 'é', '😀', '*', '?', '[', ']', '\\', '^'];

fn key() -> impl Strategy<Value = String> {
    prop::collection::vec(prop::sample::select(ALPHABET), 0..6).prop_map(|chars| chars.into_iter().collect())
}

/// Well-formed patterns and raw strings (which may be malformed) alike.
fn pattern() -> impl Strategy<Value = String> {
    let piece = prop_oneof![
        prop::sample::select(ALPHABET).prop_map(|c| match c {
            '*' | '?' | '[' | ']' | '\\' => format!("\\{c}"),
            c => c.to_string(),
        }),
        Just("*".to_owned()),
        Just("?".to_owned()),
        Just("[ab]".to_owned()),
        Just("[^a]".to_owned()),
        Just("[a-c]".to_owned()),
        Just("[é😀]".to_owned()),
        prop::sample::select(ALPHABET).prop_map(|c| c.to_string()),
    ];
    prop::collection::vec(piece, 0..5).prop_map(|pieces| pieces.concat())
}

/// Stores `keys`, clears `pattern`, and says which keys are left (or that the pattern was
/// refused).
async fn left_after<P: CacheProvider + Clone>(
    provider: P,
    keys: &[String],
    pattern: &str,
) -> Result<Vec<bool>, String> {
    with_provider(provider, async {
        for key in keys {
            cache_runtime::set(key, &1u8, Duration::from_secs(60)).await.unwrap();
        }
        match cache_runtime::clear_pattern(pattern).await {
            Ok(_) => {}
            Err(CacheError::BadPattern { reason, .. }) => return Err(reason),
            Err(other) => panic!("{other}"),
        }
        let mut left = Vec::new();
        for key in keys {
            left.push(cache_runtime::exists(key).await.unwrap());
        }
        Ok(left)
    })
    .await
}

/// One server for every case, stopped when the test ends (a `static` would outlive the process's
/// last test and leave the server running).
#[test]
fn memory_and_redis_remove_the_same_entries() {
    let server = RedisServer::start();
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    let case = std::sync::atomic::AtomicUsize::new(0);
    let mut runner = TestRunner::new(Config { cases: 96, ..Config::default() });
    let strategy = (prop::collection::vec(key(), 1..6), pattern());
    let result = runner.run(&strategy, |(keys, pattern)| {
        let case = case.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        let (memory, redis) = runtime.block_on(async {
            let redis = RedisProvider::builder(server.url())
                .prefix(format!("p{case}:"))
                .op_timeout(Duration::from_secs(5))
                .connect()
                .await
                .unwrap();
            (left_after(MemoryProvider::new(), &keys, &pattern).await, left_after(redis, &keys, &pattern).await)
        });
        prop_assert_eq!(memory, redis, "keys {:?}, pattern {:?}", keys, pattern);
        Ok(())
    });
    if let Err(failure) = result {
        panic!("{failure}");
    }
}

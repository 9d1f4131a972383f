//! `init_from_env` with `CACHE_NEAR`: a near cache in front of Redis, its size read from the
//! environment. Alone in its binary: it sets the process's environment and default provider.
#![cfg(feature = "redis")]

use cache_runtime::{cached, CacheError};
use cache_tests::RedisServer;

#[cached(ttl = 60, key = "square:{n}")]
async fn square(n: u64) -> u64 {
    n * n
}

#[tokio::test]
async fn cache_near_puts_a_near_cache_in_front_of_redis() {
    let server = RedisServer::start();
    std::env::remove_var("REDIS_URL");
    std::env::set_var("CACHE_URL", server.url());

    std::env::set_var("CACHE_NEAR", "many");
    let bad = cache_runtime::init_from_env().await.unwrap_err();
    assert!(matches!(&bad, CacheError::Config { message } if message.contains("CACHE_NEAR")), "{bad}");

    // Unset: no near cache, every hit reads Redis.
    std::env::remove_var("CACHE_NEAR");
    cache_runtime::init_from_env().await.unwrap();
    assert_eq!((square(3).await, square(3).await), (9, 9));
    let stats = cache_runtime::stats();
    assert_eq!((stats.hits, stats.near_hits), (1, 0), "{stats:?}");

    std::env::set_var("CACHE_NEAR", "100");
    cache_runtime::init_from_env().await.unwrap();
    assert_eq!((square(4).await, square(4).await, square(4).await), (16, 16, 16));
    let stats = cache_runtime::stats();
    assert_eq!((stats.hits, stats.near_hits), (2, 2), "{stats:?}");

    // `init_from_env_near` gives a default that `CACHE_NEAR=0` turns off.
    std::env::set_var("CACHE_NEAR", "0");
    cache_runtime::init_from_env_near(100).await.unwrap();
    assert_eq!((square(5).await, square(5).await), (25, 25));
    assert_eq!(cache_runtime::stats().near_hits, 0);
    std::env::remove_var("CACHE_NEAR");
    cache_runtime::init_from_env_near(100).await.unwrap();
    assert_eq!((square(6).await, square(6).await), (36, 36));
    assert_eq!(cache_runtime::stats().near_hits, 1);
}

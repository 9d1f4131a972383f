//! `init_from_env` with a reachable Redis, through `REDIS_URL`, and with a bad URL. Alone in its
//! binary: it sets the process's environment and default provider.
#![cfg(feature = "redis")]

use std::time::Duration;

use cache_runtime::CacheError;
use cache_tests::RedisServer;
use redis::AsyncCommands;

#[tokio::test]
async fn a_reachable_redis_becomes_the_default_and_a_bad_url_is_a_config_error() {
    std::env::remove_var("CACHE_URL");
    std::env::set_var("REDIS_URL", "redis://:pw@127.0.0.1:notaport/0");
    let bad = cache_runtime::init_from_env().await.unwrap_err();
    assert!(matches!(bad, CacheError::Config { .. }), "{bad}");
    assert!(bad.to_string().contains(":***@"), "the message names the URL, masked: {bad}");

    let server = RedisServer::start();
    std::env::set_var("REDIS_URL", server.url());
    cache_runtime::init_from_env().await.unwrap();
    cache_runtime::set("env:k", &5u64, Duration::from_secs(60)).await.unwrap();
    let mut raw = redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap();
    assert!(raw.exists::<_, bool>("env:k").await.unwrap(), "the write went to Redis at once");

    // CACHE_PREFIX puts the entries under a prefix, and `clear` removes only those.
    raw.set::<_, _, ()>("not-ours", 1).await.unwrap();
    std::env::set_var("CACHE_PREFIX", "myapp:");
    cache_runtime::init_from_env().await.unwrap();
    cache_runtime::set("env:p", &7u64, Duration::from_secs(60)).await.unwrap();
    assert!(raw.exists::<_, bool>("myapp:env:p").await.unwrap(), "stored under the prefix");
    assert_eq!(cache_runtime::get::<u64>("env:p").await.unwrap(), Some(7));
    assert_eq!(cache_runtime::clear().await.unwrap(), 1);
    assert!(raw.exists::<_, bool>("not-ours").await.unwrap() && raw.exists::<_, bool>("env:k").await.unwrap());
    std::env::remove_var("CACHE_PREFIX");

    // CACHE_URL wins over REDIS_URL.
    std::env::set_var("CACHE_URL", "memory://");
    cache_runtime::init_from_env().await.unwrap();
    cache_runtime::set("env:m", &6u64, Duration::from_secs(60)).await.unwrap();
    assert!(!raw.exists::<_, bool>("env:m").await.unwrap(), "memory:// keeps entries in the process");
}

//! Redis misconfigured, hung, fed hostile values or taken away for a long time: every call still
//! returns its body's result, and the cache says what is wrong.
#![cfg(feature = "redis")]

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::{Duration, Instant};

use cache_runtime::codec::Postcard;
use cache_runtime::{cached, with_provider, CacheError, CachedValue, MemoryProvider, RedisProvider};
use cache_tests::RedisServer;

async fn raw(server: &RedisServer) -> redis::aio::MultiplexedConnection {
    redis::Client::open(server.url()).unwrap().get_multiplexed_async_connection().await.unwrap()
}

async fn command(connection: &mut redis::aio::MultiplexedConnection, args: &[&str]) {
    let mut cmd = redis::cmd(args[0]);
    for arg in &args[1..] {
        cmd.arg(*arg);
    }
    let _: redis::Value = cmd.query_async(connection).await.unwrap();
}

#[tokio::test]
async fn a_refused_password_is_a_config_error_that_says_so() {
    let server = RedisServer::start_with_args(&["--requirepass", "right-one"]);
    let url = format!("redis://:wrong-one@127.0.0.1:{}/0", server.port());
    let error = RedisProvider::builder(url).connect().await.unwrap_err();
    assert!(matches!(error, CacheError::Config { .. }), "{error:?}");
    assert!(error.to_string().contains("refused the credentials"), "{error}");
    assert!(!error.to_string().contains("wrong-one"), "{error}");
}

#[tokio::test]
async fn a_user_without_scripting_is_told_at_connect_which_acl_rule_to_grant() {
    let server = RedisServer::start();
    let mut admin = raw(&server).await;
    command(&mut admin, &["ACL", "SETUSER", "noscript", "on", ">pw", "~*", "&*", "+@all", "-eval", "-evalsha"]).await;
    let url = format!("redis://noscript:pw@127.0.0.1:{}/0", server.port());
    let error = RedisProvider::builder(url).prefix("app:").connect().await.unwrap_err();
    assert!(matches!(error, CacheError::Config { .. }), "{error:?}");
    let text = error.to_string();
    assert!(text.contains("+eval +evalsha") && text.contains("~app:*"), "the message names the rule: {text}");
}

static PROFILE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "profile:{id}")]
async fn profile(id: u64) -> String {
    PROFILE_RUNS.fetch_add(1, SeqCst);
    format!("profile {id} v{}", PROFILE_RUNS.load(SeqCst))
}

#[tokio::test]
async fn an_invalidation_still_removes_the_entry_when_scripting_is_taken_away_later() {
    let server = RedisServer::start();
    let mut admin = raw(&server).await;
    command(&mut admin, &["ACL", "SETUSER", "app", "on", ">pw", "~*", "&*", "+@all"]).await;
    let url = format!("redis://app:pw@127.0.0.1:{}/0", server.port());
    let redis = RedisProvider::builder(url).prefix("s:").connect().await.unwrap();
    with_provider(redis.clone(), async {
        let first = profile(1).await;
        assert_eq!(profile(1).await, first, "cached");
        profile(2).await;
        let cache = cache_runtime::cache();
        cache.set_tagged("tagged", &1u64, std::time::Duration::from_secs(60), &["t"]).await.unwrap();
    })
    .await;
    command(&mut admin, &["ACL", "SETUSER", "app", "-eval", "-evalsha"]).await;
    let errors = redis.stats().errors;
    with_provider(redis.clone(), async {
        assert!(profile_invalidate(1).await, "the entry is removed with plain commands");
        assert!(!cache_runtime::exists("profile:1").await.unwrap(), "and it is gone");
        assert_eq!(cache_runtime::clear_pattern("profile:*").await.unwrap(), 1, "a pattern clear too");
        assert!(!cache_runtime::exists("profile:2").await.unwrap());
        // Tags too: read, invalidated and read again with plain commands.
        let cache = cache_runtime::cache();
        assert_eq!(cache.get::<u64>("tagged").await.unwrap(), Some(1), "read without the script");
        cache.invalidate_tag("t").await.unwrap();
        assert_eq!(cache.get::<u64>("tagged").await.unwrap(), None, "the mark is honoured without the script");
    })
    .await;
    assert!(redis.stats().errors > errors, "the fallback is counted: {:?}", redis.stats());
}

static FROZEN_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "frozen:{id}")]
async fn frozen(id: u64) -> u64 {
    FROZEN_RUNS.fetch_add(1, SeqCst);
    id
}

#[tokio::test]
async fn a_miss_on_a_hung_redis_costs_one_operation_timeout_in_all() {
    let mut server = RedisServer::start();
    let op_timeout = Duration::from_millis(400);
    let redis = RedisProvider::builder(server.url())
        .prefix("f:")
        .op_timeout(op_timeout)
        // Keep the breaker shut: this measures what a call pays before it opens.
        .circuit_breaker(100, Duration::from_secs(1), Duration::from_secs(1))
        .connect()
        .await
        .unwrap();
    server.freeze();
    let started = Instant::now();
    assert_eq!(with_provider(redis.clone(), frozen(7)).await, 7);
    let took = started.elapsed();
    server.thaw();
    println!("a miss on a hung Redis took {took:?} with op_timeout {op_timeout:?}");
    assert_eq!(FROZEN_RUNS.load(SeqCst), 1);
    // A read and a write would be two timeouts (800 ms): the call pays one, with room for a
    // loaded machine.
    assert!(took < op_timeout * 3 / 2, "a miss on a hung Redis took {took:?}");
    assert!(took >= op_timeout, "it did wait for Redis: {took:?}");
}

#[tokio::test]
async fn a_value_that_claims_more_elements_than_its_bytes_hold_is_a_counted_miss() {
    let server = RedisServer::start();
    let redis = RedisProvider::builder(server.url()).prefix("h:").connect().await.unwrap();
    // Our header for a `Vec<()>`, then a postcard length of 2^63 zero-sized elements.
    let mut hostile = CachedValue::new(Vec::<()>::new()).to_bytes(&Postcard).unwrap();
    hostile.truncate(cache_runtime::codec::HEADER_LEN);
    hostile.extend_from_slice(&[0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x7F]);
    let mut connection = raw(&server).await;
    let _: () = redis::cmd("SET").arg("h:units").arg(hostile).query_async(&mut connection).await.unwrap();

    let started = Instant::now();
    let read = tokio::time::timeout(
        Duration::from_secs(10),
        with_provider(redis.clone(), cache_runtime::get::<Vec<()>>("units")),
    )
    .await
    .expect("decoding is bounded by the value's bytes");
    println!("the hostile value was refused in {:?}", started.elapsed());
    assert_eq!(read.unwrap(), None, "a miss");
    assert_eq!(redis.stats().errors, 1, "counted");
}

#[tokio::test]
async fn a_rejected_pattern_is_counted_like_any_other_error() {
    let memory = MemoryProvider::new();
    let refused = with_provider(memory.clone(), cache_runtime::clear_pattern("user:[")).await;
    assert!(matches!(refused, Err(CacheError::BadPattern { .. })), "{refused:?}");
    assert_eq!(memory.stats().errors, 1);
}

static BACK_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 600, key = "back:{id}")]
async fn back(id: u64) -> u64 {
    BACK_RUNS.fetch_add(1, SeqCst);
    id
}

/// With the default breaker, Redis back after a 20-second outage serves hits again within 15 s.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn after_a_long_outage_hits_resume_within_fifteen_seconds() {
    let mut server = RedisServer::start();
    let redis = RedisProvider::builder(server.url()).prefix("b:").connect().await.unwrap();
    server.stop();
    // Calls through the outage open the breaker and let its back-off grow as far as it goes.
    let outage = Instant::now();
    while outage.elapsed() < Duration::from_secs(20) {
        assert_eq!(with_provider(redis.clone(), back(1)).await, 1, "a call never fails");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    server.restart();
    let restarted = Instant::now();
    let resumed = loop {
        let before = redis.stats().hits;
        assert_eq!(with_provider(redis.clone(), back(1)).await, 1);
        if redis.stats().hits > before {
            break restarted.elapsed();
        }
        assert!(
            restarted.elapsed() < Duration::from_secs(15),
            "no hit within 15 s of Redis coming back: {:?}",
            redis.circuit()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    println!("hits resumed {resumed:?} after Redis came back");
}

static ACL_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(ttl = 60, key = "acl:{id}")]
async fn acl_row(id: u64) -> u64 {
    ACL_RUNS.fetch_add(1, SeqCst);
    id
}

/// The ACL the README gives for a managed Redis is enough: the cache connects, stores, hits,
/// invalidates and clears with it and nothing more.
#[tokio::test]
async fn the_acl_the_readme_gives_is_enough() {
    let server = RedisServer::start();
    let mut admin = raw(&server).await;
    let rule = "on >pw ~app:* &app:__cache:flights +get +set +incr +unlink +type +scan +pexpire +eval +evalsha +script|load +publish +subscribe +ping";
    let mut args = vec!["ACL", "SETUSER", "cache"];
    args.extend(rule.split(' '));
    command(&mut admin, &args).await;
    let url = format!("redis://cache:pw@127.0.0.1:{}/0", server.port());
    let redis =
        RedisProvider::builder(url).prefix("app:").connect().await.expect("the README's ACL is enough to connect");
    with_provider(redis.clone(), async {
        assert_eq!(acl_row(1).await, 1);
        assert_eq!(acl_row(1).await, 1);
        assert!(acl_row_invalidate(1).await);
        assert_eq!(acl_row(1).await, 1);
        assert_eq!(cache_runtime::clear_pattern("acl:*").await.unwrap(), 1);
        assert_eq!(cache_runtime::clear().await.unwrap(), 0);
        // Tags too (`+incr`: the tag clock).
        let cache = cache_runtime::cache();
        cache.set_tagged("acl:tagged", &1u64, std::time::Duration::from_secs(60), &["t"]).await.unwrap();
        cache.invalidate_tag("t").await.unwrap();
        assert_eq!(cache.get::<u64>("acl:tagged").await.unwrap(), None);
    })
    .await;
    let stats = redis.stats();
    // The misses: two bodies run, and the cache-aside read of the dropped entry.
    assert_eq!((stats.hits, stats.misses, stats.errors), (1, 3, 0), "{stats:?}");
    assert_eq!(ACL_RUNS.load(SeqCst), 2);
}

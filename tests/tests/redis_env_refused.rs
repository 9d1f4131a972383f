//! `init_from_env` with a password Redis refuses: said once, as what it is, then memory without
//! retrying. Alone in its binary: it sets the process's environment and default provider.
#![cfg(feature = "redis")]

use std::time::Duration;

use cache_tests::RedisServer;

#[tokio::test]
async fn a_refused_password_is_logged_once_as_such_and_not_retried() {
    let logs = cache_tests::CapturedLogs::default();
    let writer = logs.clone();
    let subscriber = tracing_subscriber::fmt().with_ansi(false).with_writer(move || writer.clone()).finish();
    let _guard = tracing::subscriber::set_default(subscriber);
    let server = RedisServer::start_with_args(&["--requirepass", "right-one"]);
    std::env::remove_var("REDIS_URL");
    std::env::set_var("CACHE_URL", format!("redis://:wrong-one@127.0.0.1:{}/0", server.port()));

    cache_runtime::init_from_env().await.expect("a refused password does not stop the service");
    // Long enough for several retries, were there any (the first comes after 250 ms).
    tokio::time::sleep(Duration::from_millis(1_500)).await;
    let text = logs.text();
    assert_eq!(text.matches("refused the credentials").count(), 1, "said once:\n{text}");
    assert!(text.contains("WARN") && text.contains("caching in memory, and not retrying"), "{text}");
    assert!(!text.contains("wrong-one"), "{text}");
    cache_runtime::set("k", &1u8, Duration::from_secs(60)).await.expect("the memory fallback works");
    assert_eq!(cache_runtime::get::<u8>("k").await.unwrap(), Some(1));
}

//! Configuration from the environment.

use crate::error::CacheError;
use crate::memory::MemoryProvider;
use crate::observe::{notice, Notice};

/// The variables read by [`init_from_env`] for the URL, first set wins.
pub const URL_VARIABLES: [&str; 2] = ["CACHE_URL", "REDIS_URL"];

/// The variable read by [`init_from_env`] for the Redis key prefix.
pub const PREFIX_VARIABLE: &str = "CACHE_PREFIX";

/// The variable read by [`init_from_env`] for the size of the Redis provider's near cache.
pub const NEAR_VARIABLE: &str = "CACHE_NEAR";

/// Sets the default provider from `CACHE_URL` (or else `REDIS_URL`).
///
/// | value | default provider |
/// |---|---|
/// | unset or empty | left as it is: the embedded [`MemoryProvider`] unless you set another |
/// | `memory://` | a new [`MemoryProvider`] |
/// | `redis://...`, `rediss://...` | Redis (feature `redis`, and `redis-tls` for `rediss://`); when it does not answer at start, memory with a warning, and Redis as soon as it answers (retried in the background) |
/// | `redis+cluster://[user:password@]h1:7000,h2:7001,h3:7002` (`rediss+cluster://` for TLS) | a Redis Cluster ([`cluster_builder`](crate::RedisProvider::cluster_builder)) found through the nodes listed, with the same fallback to memory |
///
/// With Redis, `CACHE_PREFIX` (for example `myapp:`) is the key prefix: entries are stored as
/// `myapp:<key>`, and `clear()` removes only those. Unset, there is no prefix and `clear()`
/// removes every string key of the database.
///
/// With Redis, `CACHE_NEAR` (for example `10000`) puts a near cache of that many entries in front
/// of it (see [`near_cache`](crate::redis::RedisProviderBuilder::near_cache)): hot entries served
/// from this process's memory, kept coherent across instances, and served through an outage.
/// Unset, empty or `0`: no near cache ([`init_from_env_near`] picks another default).
///
/// Any other value is a [`CacheError::Config`], as is a Redis URL in a build without the `redis`
/// feature, or a `rediss://` URL in a build without the `redis-tls` feature.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cache_runtime::CacheError> {
/// cache_runtime::init_from_env().await?;
/// # Ok(()) }
/// ```
pub async fn init_from_env() -> Result<(), CacheError> {
    init_from_env_near(0).await
}

/// [`init_from_env`], with a near cache of `entries` in front of Redis when `CACHE_NEAR` is unset
/// or empty: for a service that wants one unless told otherwise (`CACHE_NEAR=0` turns it off).
/// Without Redis, `entries` changes nothing.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cache_runtime::CacheError> {
/// cache_runtime::init_from_env_near(10_000).await?;
/// # Ok(()) }
/// ```
pub async fn init_from_env_near(entries: u64) -> Result<(), CacheError> {
    let near = match std::env::var(NEAR_VARIABLE).ok().filter(|value| !value.trim().is_empty()) {
        None => entries,
        Some(value) => value.trim().parse::<u64>().map_err(|_| CacheError::Config {
            message: format!(
                "{NEAR_VARIABLE}={value:?} must be a number of entries (10000, say), or 0 for no near cache"
            ),
        })?,
    };
    let Some((variable, url)) = URL_VARIABLES
        .iter()
        .find_map(|name| std::env::var(name).ok().filter(|v| !v.trim().is_empty()).map(|v| (*name, v)))
    else {
        notice(Notice::Init { message: "no CACHE_URL or REDIS_URL: caching in memory", warn: false });
        return Ok(());
    };
    init_from_url(variable, url.trim(), near).await
}

#[cfg_attr(not(feature = "redis"), allow(unused_variables))]
async fn init_from_url(variable: &str, url: &str, near: u64) -> Result<(), CacheError> {
    let scheme = url.split_once("://").map(|(scheme, _)| scheme.to_ascii_lowercase());
    match scheme.as_deref() {
        Some("memory") => {
            crate::set_default(MemoryProvider::new());
            notice(Notice::Init { message: &format!("{variable}=memory://: caching in memory"), warn: false });
            Ok(())
        }
        #[cfg(feature = "redis")]
        Some("redis" | "rediss" | "redis+cluster" | "rediss+cluster") => {
            let prefix = std::env::var(PREFIX_VARIABLE).ok().filter(|p| !p.is_empty());
            crate::redis::init_default_with_fallback(url, prefix.as_deref(), near).await
        }
        #[cfg(not(feature = "redis"))]
        Some("redis" | "rediss" | "redis+cluster" | "rediss+cluster") => Err(CacheError::Config {
            message: format!(
                "{variable} is a Redis URL but this build has no Redis support: enable the `redis` feature of cache-runtime"
            ),
        }),
        _ => Err(CacheError::Config {
            message: format!("{variable} must start with redis://, rediss://, redis+cluster://, rediss+cluster:// or memory://"),
        }),
    }
}

#[cfg(all(test, feature = "redis", not(feature = "redis-tls")))]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_rediss_url_without_the_tls_feature_is_a_config_error() {
        let error = init_from_url("CACHE_URL", "rediss://:s3cret-pw@cache.internal:6380/0", 0).await.unwrap_err();
        let CacheError::Config { message } = &error else { panic!("expected a CacheError::Config, got {error:?}") };
        assert!(message.contains("enable the `redis-tls` feature of cache-runtime"), "{message}");
        assert!(!message.contains("s3cret-pw"), "{message}");
    }
}

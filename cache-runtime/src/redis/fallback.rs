//! `init_from_env` with a Redis URL: Redis if it answers, else memory until it does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use super::{url, RedisProvider, RedisProviderBuilder};
use crate::registry::{default_slot, replace_default_if, set_default_arc};
use crate::{CacheError, CacheProvider, MemoryProvider};

/// The first wait between two attempts of the background reconnection; it doubles up to
/// [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// Bumped by each call, so that the retry loop of an earlier call stops.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Makes Redis at `url` the default provider. When it does not answer, the default becomes a
/// [`MemoryProvider`] (with a warning) and a background task retries, with back-off, until Redis
/// answers and takes its place. A URL that cannot be read is a [`CacheError::Config`].
pub(crate) async fn init_default_with_fallback(url: &str, prefix: Option<&str>) -> Result<(), CacheError> {
    let mut builder = RedisProvider::builder(url);
    if let Some(prefix) = prefix {
        builder = builder.prefix(prefix);
    }
    let generation = GENERATION.fetch_add(1, Ordering::SeqCst) + 1;
    // A URL that does not parse will not parse later either: say so now.
    builder.client()?;
    let masked = url::mask_password(url);
    match builder.clone().connect().await {
        Ok(redis) => {
            crate::set_default(redis);
            tracing::info!(target: "cache_runtime", provider = "redis", "[CACHE INIT] caching in redis at {masked}");
        }
        Err(error) => {
            let fallback: Arc<dyn CacheProvider> = Arc::new(MemoryProvider::new());
            set_default_arc(Arc::clone(&fallback));
            tracing::warn!(
                target: "cache_runtime",
                provider = "redis",
                "[CACHE INIT] redis at {masked} does not answer ({error}): caching in memory, and switching to redis as soon as it answers"
            );
            tokio::spawn(retry(builder, fallback, generation, masked));
        }
    }
    Ok(())
}

/// Connects until Redis answers, then puts it in place of `fallback`, unless the default was
/// changed meanwhile (by `set_default` or another `init_from_env`): then it stops.
async fn retry(builder: RedisProviderBuilder, fallback: Arc<dyn CacheProvider>, generation: u64, masked: String) {
    let mut wait = RETRY_MIN;
    loop {
        tokio::time::sleep(wait).await;
        if !still_in_charge(&fallback, generation) {
            tracing::debug!(target: "cache_runtime", provider = "redis", "[CACHE INIT] the default provider was replaced: no longer waiting for redis at {masked}");
            return;
        }
        match builder.clone().connect().await {
            Ok(redis) => {
                if GENERATION.load(Ordering::SeqCst) == generation && replace_default_if(&fallback, Arc::new(redis)) {
                    tracing::info!(target: "cache_runtime", provider = "redis", "[CACHE INIT] redis at {masked} answers: caching in redis from now on");
                }
                return;
            }
            Err(error) => {
                wait = (wait * 2).min(RETRY_MAX);
                tracing::debug!(target: "cache_runtime", provider = "redis", "[CACHE INIT] redis at {masked} still does not answer ({error}); next attempt in {wait:?}");
            }
        }
    }
}

/// Whether the default provider is still the fallback this task installed.
fn still_in_charge(fallback: &Arc<dyn CacheProvider>, generation: u64) -> bool {
    // A spawned task has no `with_provider` override: this is the global default.
    GENERATION.load(Ordering::SeqCst) == generation
        && std::ptr::addr_eq(Arc::as_ptr(&default_slot().provider), Arc::as_ptr(fallback))
}

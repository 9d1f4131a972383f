//! `init_from_env` with a Redis URL: Redis if it answers, else memory until it does.

use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

use super::{url, RedisProvider, RedisProviderBuilder};
use crate::error::CacheError;
use crate::memory::MemoryProvider;
use crate::observe::{notice, Notice};
use crate::provider::CacheProvider;
use crate::registry::{default_slot, replace_default_if, set_default};
use crate::stats::StoreId;

/// The first wait between two attempts of the background reconnection; it doubles up to
/// [`RETRY_MAX`].
const RETRY_MIN: Duration = Duration::from_millis(250);
const RETRY_MAX: Duration = Duration::from_secs(10);

/// Bumped by each call, so that the retry loop of an earlier call stops.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// Makes Redis at `url` the default provider. When it does not answer, the default becomes a
/// [`MemoryProvider`] (with a warning) and a background task retries, with back-off, until Redis
/// answers and takes its place. A URL that cannot be read is a [`CacheError::Config`]. With
/// `near` above 0, Redis gets a near cache of that many entries.
pub(crate) async fn init_default_with_fallback(url: &str, prefix: Option<&str>, near: u64) -> Result<(), CacheError> {
    let mut builder = match url::cluster_nodes(url) {
        Some(nodes) => RedisProvider::cluster_builder(nodes),
        None => RedisProvider::builder(url),
    };
    if let Some(prefix) = prefix {
        builder = builder.prefix(prefix);
    }
    if near > 0 {
        builder = builder.near_cache(MemoryProvider::builder().max_capacity(near).build());
    }
    let generation = GENERATION.fetch_add(1, Ordering::SeqCst) + 1;
    // A URL that does not parse will not parse later either: say so now.
    builder.clients()?;
    let masked = url::mask_password(url);
    match builder.clone().connect().await {
        Ok(redis) => {
            set_default(redis);
            notice(Notice::Init { message: &format!("caching in redis at {masked}"), warn: false });
        }
        // Redis answered and refused this configuration (credentials, a denied command): asking
        // again would be refused again. Say what it is, once, and stay on memory.
        Err(error @ CacheError::Config { .. }) => {
            set_default(MemoryProvider::new());
            notice(Notice::Init {
                message: &format!("{error}: caching in memory, and not retrying: fix the configuration and restart"),
                warn: true,
            });
        }
        Err(error) => {
            let fallback = MemoryProvider::new();
            let fallback_store = fallback.counters().store();
            set_default(fallback);
            notice(Notice::Init {
                message: &format!("redis at {masked} does not answer ({error}): caching in memory, and switching to redis as soon as it answers"),
                warn: true,
            });
            tokio::spawn(retry(builder, fallback_store, generation, masked));
        }
    }
    Ok(())
}

/// Connects until Redis answers, then puts it in place of `fallback`, unless the default was
/// changed meanwhile (by `set_default` or another `init_from_env`): then it stops.
async fn retry(builder: RedisProviderBuilder, fallback: StoreId, generation: u64, masked: String) {
    let mut wait = RETRY_MIN;
    loop {
        tokio::time::sleep(wait).await;
        if !still_in_charge(fallback, generation) {
            notice(Notice::InitDetail {
                message: &format!("the default provider was replaced: no longer waiting for redis at {masked}"),
            });
            return;
        }
        match builder.clone().connect().await {
            Ok(redis) => {
                if GENERATION.load(Ordering::SeqCst) == generation && replace_default_if(fallback, redis) {
                    notice(Notice::Init {
                        message: &format!("redis at {masked} answers: caching in redis from now on"),
                        warn: false,
                    });
                }
                return;
            }
            Err(error @ CacheError::Config { .. }) => {
                notice(Notice::Init {
                    message: &format!(
                        "{error}: staying on memory, and not retrying: fix the configuration and restart"
                    ),
                    warn: true,
                });
                return;
            }
            Err(error) => {
                wait = (wait * 2).min(RETRY_MAX);
                notice(Notice::InitDetail {
                    message: &format!("redis at {masked} still does not answer ({error}); next attempt in {wait:?}"),
                });
            }
        }
    }
}

/// Whether the default provider is still the fallback this task installed.
fn still_in_charge(fallback: StoreId, generation: u64) -> bool {
    // A spawned task has no `with_provider` override: this is the global default.
    GENERATION.load(Ordering::SeqCst) == generation && default_slot().store == fallback
}

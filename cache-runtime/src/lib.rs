//! Memoization and caching for async Rust.
//!
//! `#[cached]` turns an async function into a cached one, with single-flight on cold keys, a
//! generated `<fn>_invalidate` helper, and a cache that can never make the call fail:
//!
//! ```
//! use cache_runtime::cached;
//!
//! #[derive(Clone, serde::Serialize, serde::Deserialize)]
//! struct User { id: u64, name: String }
//!
//! #[cached(ttl = 300, key = "user:{id}")]
//! async fn get_user(id: u64) -> Result<User, std::io::Error> {
//!     Ok(User { id, name: "Ada".into() })
//! }
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
//! let user = get_user(1).await?;          // runs the body, stores the user
//! let again = get_user(1).await?;         // a hit
//! assert!(get_user_invalidate(1).await);  // removes user:1
//! # Ok(()) }
//! ```
//!
//! The embedded default is an in-memory [`MemoryProvider`] on quick_cache; Redis ([`RedisProvider`],
//! feature `redis`) shares one cache between instances. The README covers the options, the key
//! rules and testing.
#![cfg_attr(docsrs, feature(doc_cfg))]
#![warn(missing_docs)]
#![forbid(unsafe_code)]

mod call;
pub mod codec;
pub mod duration;
mod env;
mod error;
mod flight;
mod fresh;
mod function_path;
mod functions;
mod handle;
pub mod key;
mod key_builder;
mod memory;
mod observe;
mod outcome;
mod provider;
#[cfg(feature = "redis")]
#[cfg_attr(docsrs, doc(cfg(feature = "redis")))]
pub mod redis;
mod registry;
mod stats;
mod tags;
mod value;

/// Caches an async function.
///
/// | option | value | default | meaning |
/// |---|---|---|---|
/// | `ttl` | integer seconds; a string with a unit (`"250ms"`, `"30s"`, `"5m"`, `"24h"`, `"7d"`); or a `Duration` expression, evaluated at each call | 300 s | time to live of each entry |
/// | `key` | template with `{param}`, `{param.field}`, `{self.field}` placeholders, written with `Display`, or `{param:?}` (fields too) with `Debug` | the function's path (module, `Self` type and type arguments included), then `:` and every parameter, with `Display` where its type has it and `Debug` otherwise; a method with a receiver must give `key` or `key_fn` | the cache key |
/// | `key_fn` | path of a function called with references to the receiver (as `&Self`) and every parameter, in order, returning something `Display` | none | the key is the function's path (as for the default key), `:`, and the escaped result; not with `key` |
/// | `provider` | string | `"default"` | the registered provider that stores the entries |
/// | `cache_none` | bool | `false` | for `Option` returns, also cache `None` |
/// | `companions` | bool | `true` | `false`: no `<name>_invalidate` beside the function; required in a trait impl, which holds only the trait's methods |
/// | `cache_if` | path of a `fn(&V) -> bool` | none | a stored value (`Ok` / `Some` payload) it refuses is returned, not stored, and counted |
/// | `max_entries` | integer ≥ 1 | none | on a memory store, at most this many entries, in a store of the function's own |
/// | `stale` | a duration, as `ttl` | none | entries are kept this much longer than `ttl`; a call that finds one past `ttl` runs the body and, if it returns `Err` or `None`, panics or passes a timeout, returns the stale value ([`Outcome::Stale`]) |
/// | `soft_timeout` | a duration, below `hard_timeout`; needs `stale` | none | with a stale value at hand, the caller waits this long, then gets it while the body goes on in the background and stores its value |
/// | `hard_timeout` | a duration; needs `stale` | none | with a stale value at hand, the body is dropped after this long (in the background too) |
/// | `refresh_ahead` | a duration below `ttl` | none | a hit on an entry older than this returns at once and starts one background refresh of the key (per fleet on Redis) |
/// | `tags` | a list of string literals, each a template as `key` is (`tags = ["user:{user_id}", "orders"]`) | none | each entry carries these tags; [`invalidate_tag`] drops every entry of a tag, of any function, in one write; a tag is never empty, holds no control character and is not given twice |
///
/// `Result<T, E>` stores `Ok` only, `Option<T>` stores `Some` only (and `None` with
/// `cache_none = true`), anything else is stored whole. The return type is read as written: a
/// path ending in `Result` or `Option`; an alias under another name is stored whole, errors
/// included. Placeholder values are escaped so that keys are injective (see [`key`]). Beside the
/// function, `<name>_invalidate` takes the parameters the key names and removes their entry;
/// `<name>_refresh` and `<name>_uncached` take the function's parameters and run its body, the
/// first storing the value over any entry, the second leaving the cache alone; `<name>_clear()`
/// removes every entry of the function. The README details each. `soft_timeout` and
/// `refresh_ahead` run the body in a task of its own: the function takes its arguments by value
/// (no `&str`, no `&self`).
///
/// In `impl Trait for Type` (native `async fn`, or under `#[async_trait]` on the impl block),
/// write `companions = false` and remove entries with [`delete`] and the key, each value escaped
/// with [`key::escape`]:
///
/// ```
/// use cache_runtime::cached;
///
/// trait Orders {
///     async fn total(&self, id: u64) -> Option<u64>;
/// }
///
/// struct Db;
///
/// impl Orders for Db {
///     #[cached(key = "total:{id}", companions = false)]
///     async fn total(&self, id: u64) -> Option<u64> { Some(id * 100) }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cache_runtime::CacheError> {
/// assert_eq!(Db.total(2).await, Some(200));
/// assert!(cache_runtime::delete("total:2").await?);
/// # Ok(()) }
/// ```
///
/// Concurrent misses of one key run the body once; a failing cache never fails the call. Every
/// cached function, called or not, is listed by [`functions`], and [`check`] reports those whose
/// `provider` is not registered.
///
/// ```
/// use std::time::Duration;
/// use cache_runtime::cached;
///
/// fn ttl_from_settings() -> Duration { Duration::from_secs(60) }
///
/// #[cached(ttl = ttl_from_settings(), key = "page:{owner}:{page}")]
/// async fn list_page(owner: &str, page: u32) -> Option<Vec<String>> {
///     Some(vec![format!("{owner}-{page}")])
/// }
///
/// struct Repo { tenant: String }
///
/// #[derive(Debug)]
/// enum Sort { Newest }
///
/// #[cached(key = "search:{query:?}:{sort:?}")]  // `Debug`: `Option`, enums, tuples, slices
/// async fn search(query: Option<&str>, sort: Sort) -> Vec<String> { vec![] }
///
/// fn ids_key(ids: &[u64]) -> usize { ids.len() }
///
/// #[cached(key_fn = ids_key)]                     // key: "<module>::batch:<ids_key(&ids)>"
/// async fn batch(ids: &[u64]) -> usize { ids.len() }
///
/// impl Repo {
///     #[cached(ttl = "5m", key = "count:{self.tenant}")]
///     async fn count(&self) -> Result<u64, std::io::Error> { Ok(3) }
/// }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// assert_eq!(list_page("acme", 1).await.unwrap(), ["acme-1"]);
/// assert!(list_page_invalidate("acme", 1).await);
/// let repo = Repo { tenant: "acme".into() };
/// assert_eq!(repo.count().await.unwrap(), 3);
/// assert!(repo.count_invalidate().await);
/// assert!(search(None, Sort::Newest).await.is_empty());
/// assert!(cache_runtime::exists("search:None:Newest").await.unwrap());
/// assert_eq!(batch(&[1, 2]).await, 2);
/// assert!(batch_invalidate(&[3, 4]).await, "the key function maps both to 2");
/// # }
/// ```
pub use cache_macros::cached;
pub use env::{init_from_env, init_from_env_near, NEAR_VARIABLE, PREFIX_VARIABLE, URL_VARIABLES};
pub use error::CacheError;
pub use functions::{check, functions, CachedFunction, FunctionTtl};
pub use handle::{cache, clear, clear_pattern, delete, exists, get, invalidate_tag, named, set, set_tagged, Cache};
pub use memory::{MemoryProvider, MemoryProviderBuilder};
pub use observe::stats_for;
pub use outcome::{outcome, Outcome, StaleReason};
pub use provider::{CacheProvider, ProviderFuture};
#[cfg(feature = "redis")]
pub use redis::{RedisProvider, RedisProviderBuilder};
pub use registry::{register, set_default, stats, with_provider, DEFAULT};
pub use stats::{CacheStats, StatsCounters};
pub use value::{CacheValue, CachedValue, LocalValue};

/// What the code that `#[cached]` generates calls. Not public API: it changes without notice.
#[doc(hidden)]
pub mod __private {
    pub use crate::call::{
        call, clear, invalidate, CallSite, Called, LocalOkOnly, LocalSomeOnly, LocalWhole, Mode, OkOnly, SomeOnly,
        Whole,
    };
    pub use crate::fresh::{call_fresh, Background, Foreground, Fresh, Job, Ran, Runs, Started};
    pub use crate::function_path::function_path;
    pub use crate::functions::cached_function;
    pub use crate::key_builder::{
        DebugKind, DebugTag, DefaultKeyArgument, DisplayKind, DisplayTag, KeyArg, KeyBuilder,
    };
    pub use crate::tags::{NoTags, TagSource, Tags};
    pub use core::time::Duration;
    pub use inventory;
}

/// The README's examples, compiled and run as doctests.
#[cfg(doctest)]
#[doc = include_str!("../../README.md")]
pub struct ReadmeDoctests;

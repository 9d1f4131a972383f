//! Every cache event, observed once: each event bumps the provider's counter, the metric and
//! writes the log line together, so that the three never disagree.
//!
//! Logs go to the [`TARGET`] target: hits, misses, joins, stores and expirations at `DEBUG`,
//! invalidations at `INFO`, errors at `WARN`. Counters are `cache_hits_total`,
//! `cache_misses_total`, `cache_joined_total`, `cache_sets_total`, `cache_invalidations_total`
//! `cache_refused_total` (values a `cache_if` predicate kept out of the store),
//! `cache_near_hits_total` (the hits a Redis provider's near cache served, counted in
//! `cache_hits_total` too) and
//! `cache_errors_total` (the last with a `kind` label too), each labelled with `function` and
//! `provider`. Stale serves (`cache_stale_served_total`) and background refreshes that stored
//! nothing (`cache_refresh_failures_total`) are labelled with `function` and `reason`, and
//! logged at `WARN`. Calls through the cache-aside API are labelled `function="cache_aside"`; what a
//! store sees by itself (an entry that is not ours, an eviction) is labelled `function="store"`.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Duration;

use metrics::Counter;

use crate::error::CacheError;
use crate::key::{ellipsis, shorten};
use crate::key_builder::KeyText;
use crate::outcome::StaleReason;
use crate::stats::{CacheStats, StatsCounters};
use crate::value::CachedValue;

/// The `tracing` target of every event.
pub(crate) const TARGET: &str = "cache_runtime";

/// The `function` label of events a store sees outside any call.
const STORE: &str = "store";

/// Metric handles of one call site (or of the cache-aside calls on one provider), registered on
/// first use: building labelled keys on every call would cost more than the read itself. They
/// also hold the counters of the function, which [`stats_for`] reads.
pub(crate) struct SiteCounters {
    hits: Counter,
    #[cfg(feature = "redis")]
    near_hits: Counter,
    misses: Counter,
    joined: Counter,
    sets: Counter,
    refused: Counter,
    function: Arc<StatsCounters>,
}

/// A hit on a memory store, counted and logged as [`Origin::hit`] does, on the hit path's budget:
/// `handles` are the call site's metric handles and `store` the store's counters; `origin`, which
/// costs more to build than the counting, is built only for the site's first hit (which
/// registers the handles) and for a hit that is logged.
#[inline(always)]
pub(crate) fn memory_hit<'a, K: KeyText + ?Sized>(
    handles: &OnceLock<SiteCounters>,
    store: &StatsCounters,
    origin: impl Fn() -> Origin<'a>,
    key: &K,
    stored_at_ms: u64,
) {
    let Some(handles) = handles.get() else { return origin().hit_stored_at(key, stored_at_ms) };
    handles.hits.increment(1);
    StatsCounters::record_hit_on([store, &handles.function]);
    log_hit(origin, key, stored_at_ms);
}

/// The log line of a hit on a value stored at `stored_at_ms` (milliseconds since the Unix epoch).
/// `origin` is called only when the line is logged: its fields are evaluated inside the event's
/// enabled check, as a log line's fields always are.
#[inline(always)]
fn log_hit<'a, K: KeyText + ?Sized>(origin: impl Fn() -> Origin<'a>, key: &K, stored_at_ms: u64) {
    // The age is computed only when the line is logged: reading the clock on every hit costs
    // more than a tenth of the hit.
    tracing::debug!(
        target: TARGET,
        function = origin().function,
        provider = origin().provider,
        "[CACHE HIT] key={}{} age={:.1}s",
        shorten(key.key_text()),
        ellipsis(key.key_text()),
        CachedValue::age_of(stored_at_ms).as_secs_f64()
    );
}

/// The counters of each function, by the name in its `function` label.
static FUNCTIONS: LazyLock<Mutex<HashMap<&'static str, Arc<StatsCounters>>>> = LazyLock::new(Default::default);

/// The counters of `function`, made on first use; every call site of one function shares them.
fn function_counters(function: &'static str) -> Arc<StatsCounters> {
    let mut functions = FUNCTIONS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    Arc::clone(functions.entry(function).or_default())
}

/// The counters of one `#[cached]` function, by its name as the `function` label of the metrics
/// and logs gives it: `module::path::name` (for a method, the module of the impl block and the
/// method's name, without the type). `None` until the function has been called once.
///
/// Hits, misses, joined, sets and refused count the function's calls (its `_refresh` included)
/// on whichever store served them (a `with_provider` scope, its own bounded store); entries
/// removed and errors stay in the store's [`stats`](crate::stats). Two methods of the same name
/// in one module share a name, and so their counters.
///
/// ```
/// use cache_runtime::cached;
///
/// #[cached(key = "double:{n}")]
/// async fn double(n: u64) -> u64 { n * 2 }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// double(2).await;
/// double(2).await;
/// let stats = cache_runtime::stats_for(concat!(module_path!(), "::double")).unwrap();
/// assert_eq!((stats.misses, stats.hits), (1, 1));
/// # }
/// ```
pub fn stats_for(function: &str) -> Option<CacheStats> {
    let functions = FUNCTIONS.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    functions.get(function).map(|counters| counters.snapshot())
}

/// Who a cache event belongs to, and where it is counted.
#[derive(Clone, Copy)]
pub(crate) struct Origin<'a> {
    pub(crate) function: &'static str,
    pub(crate) provider: &'a str,
    /// The counters of the store the event happened on.
    pub(crate) counters: &'a StatsCounters,
    /// The metric handles for these labels, where a call site or a slot keeps them.
    pub(crate) handles: Option<&'a OnceLock<SiteCounters>>,
}

impl Origin<'_> {
    #[inline]
    fn handles(&self) -> Option<&SiteCounters> {
        let cell = self.handles?;
        Some(cell.get_or_init(
            #[cold]
            || SiteCounters {
                hits: self.metric("cache_hits_total"),
                #[cfg(feature = "redis")]
                near_hits: self.metric("cache_near_hits_total"),
                misses: self.metric("cache_misses_total"),
                joined: self.metric("cache_joined_total"),
                sets: self.metric("cache_sets_total"),
                refused: self.metric("cache_refused_total"),
                function: function_counters(self.function),
            },
        ))
    }

    fn metric(&self, name: &'static str) -> Counter {
        metrics::counter!(name, "function" => self.function, "provider" => self.provider.to_owned())
    }

    /// Bumps the metric `name` and, where a call site keeps them, the function's counter.
    #[inline]
    fn count(&self, pick: impl Fn(&SiteCounters) -> &Counter, record: impl Fn(&StatsCounters), name: &'static str) {
        match self.handles() {
            Some(handles) => {
                pick(handles).increment(1);
                record(&handles.function);
            }
            None => self.metric(name).increment(1),
        }
    }

    /// A Redis provider's near cache served a usable value: a hit, and a near hit.
    #[cfg(feature = "redis")]
    #[inline]
    pub(crate) fn near_hit<K: KeyText + ?Sized>(&self, key: &K, value: &CachedValue) {
        self.hit(key, value);
        self.count(|h| &h.near_hits, |_| {}, "cache_near_hits_total");
    }

    /// A read found a usable value.
    #[inline(always)]
    pub(crate) fn hit<K: KeyText + ?Sized>(&self, key: &K, value: &CachedValue) {
        self.hit_stored_at(key, value.stored_at_ms());
    }

    /// [`hit`](Self::hit) on a value stored at `stored_at_ms`.
    #[inline(always)]
    pub(crate) fn hit_stored_at<K: KeyText + ?Sized>(&self, key: &K, stored_at_ms: u64) {
        self.counters.record_hit();
        self.count(|h| &h.hits, StatsCounters::record_hit, "cache_hits_total");
        log_hit(|| *self, key, stored_at_ms);
    }

    /// The body runs for lack of a usable entry.
    pub(crate) fn miss(&self, key: &str) {
        self.counters.record_miss();
        self.count(|h| &h.misses, StatsCounters::record_miss, "cache_misses_total");
        tracing::debug!(target: TARGET, function = self.function, provider = self.provider, "[CACHE MISS] key={}{}", shorten(key), ellipsis(key));
    }

    /// The call received the value of another caller's computation.
    pub(crate) fn joined(&self, key: &str) {
        self.counters.record_joined();
        self.count(|h| &h.joined, StatsCounters::record_joined, "cache_joined_total");
        tracing::debug!(target: TARGET, function = self.function, provider = self.provider, "[CACHE JOINED] key={}{}", shorten(key), ellipsis(key));
    }

    /// A value was stored.
    pub(crate) fn stored(&self, key: &str, ttl: Duration) {
        self.counters.record_set();
        self.count(|h| &h.sets, StatsCounters::record_set, "cache_sets_total");
        tracing::debug!(target: TARGET, function = self.function, provider = self.provider, "[CACHE SAVE] key={}{} ttl={}", shorten(key), ellipsis(key), HumanDuration(ttl));
    }

    /// A computation's value was not stored: an invalidation covered the key while it ran.
    pub(crate) fn not_stored(&self, key: &str, why: &str) {
        tracing::debug!(target: TARGET, function = self.function, provider = self.provider, "[CACHE SKIP] key={}{}: {why}", shorten(key), ellipsis(key));
    }

    /// A computed value was not stored: the function's `cache_if` predicate refused it.
    pub(crate) fn refused(&self, key: &str) {
        self.counters.record_refused();
        self.count(|h| &h.refused, StatsCounters::record_refused, "cache_refused_total");
        tracing::debug!(target: TARGET, function = self.function, provider = self.provider, "[CACHE REFUSED] key={}{}: `cache_if` refused the value; returned, not stored", shorten(key), ellipsis(key));
    }

    /// Entries were removed by an invalidation, `delete`, `clear_pattern` or `clear`.
    pub(crate) fn removed(&self, what: &str, removed: u64) {
        self.counters.record_deletes(removed);
        self.metric("cache_invalidations_total").increment(removed);
        tracing::info!(target: TARGET, function = self.function, provider = self.provider, "[CACHE INVALIDATE] key={}{} removed={removed}", shorten(what), ellipsis(what));
    }

    /// A tag was invalidated: its entries, however many, are dropped on their next read.
    pub(crate) fn tag_invalidated(&self, tag: &str) {
        metrics::counter!("cache_tag_invalidations_total", "provider" => self.provider.to_owned()).increment(1);
        tracing::info!(target: TARGET, function = self.function, provider = self.provider, "[CACHE INVALIDATE] tag={}{}", shorten(tag), ellipsis(tag));
    }

    /// An operation failed, or found an entry it could not use.
    pub(crate) fn failed(&self, operation: &'static str, key: &str, error: &CacheError) {
        failed(self.counters, self.function, self.provider, operation, key, error);
    }

    /// A call computed itself after waiting `waited` for another caller's computation.
    pub(crate) fn wait_timed_out(&self, key: &str, waited: Duration) {
        self.counters.record_error();
        metrics::counter!("cache_errors_total", "function" => self.function, "provider" => self.provider.to_owned(), "kind" => "wait_timeout").increment(1);
        tracing::warn!(target: TARGET, function = self.function, provider = self.provider, "[CACHE ERROR] op=wait key={}{} error=the computation this call waited for did not finish within {waited:?}; computing here instead", shorten(key), ellipsis(key));
    }

    /// A stale value was served in place of what the body gave, for `reason`.
    pub(crate) fn stale_served(&self, key: &str, reason: StaleReason) {
        metrics::counter!("cache_stale_served_total", "function" => self.function, "reason" => reason.as_str())
            .increment(1);
        tracing::warn!(target: TARGET, function = self.function, provider = self.provider, reason = reason.as_str(), "[CACHE STALE] key={}{}: served the stale value ({})", shorten(key), ellipsis(key), stale_why(reason));
    }

    /// A background refresh (`refresh_ahead`, or a body that went on past `soft_timeout`) ended
    /// without storing a value, for `reason`.
    pub(crate) fn refresh_failed(&self, key: &str, reason: StaleReason) {
        metrics::counter!("cache_refresh_failures_total", "function" => self.function, "reason" => reason.as_str())
            .increment(1);
        tracing::warn!(target: TARGET, function = self.function, provider = self.provider, reason = reason.as_str(), "[CACHE REFRESH FAILED] key={}{}: the background refresh stored nothing ({}); the entry in place stays", shorten(key), ellipsis(key), stale_why(reason));
    }

    /// A call computes instead of waiting, because the computation it would wait for waits on it.
    pub(crate) fn recursion(&self, key: &str) {
        tracing::debug!(target: TARGET, function = self.function, provider = self.provider, "[CACHE RECURSION] key={}{}: the computation of this key waits on this call; computing here instead of waiting", shorten(key), ellipsis(key));
    }
}

/// What a stale reason means, for a log line.
fn stale_why(reason: StaleReason) -> &'static str {
    match reason {
        StaleReason::Error => "the body returned an error",
        StaleReason::None => "the body returned None",
        StaleReason::Panic => "the body panicked",
        StaleReason::SoftTimeout => "the body ran past soft_timeout and goes on in the background",
        StaleReason::HardTimeout => "the body ran past hard_timeout and was dropped",
    }
}

/// An operation failed: counted on the store, in `cache_errors_total`, and logged.
fn failed(
    counters: &StatsCounters,
    function: &'static str,
    provider: &str,
    operation: &'static str,
    key: &str,
    error: &CacheError,
) {
    counters.record_error();
    metrics::counter!("cache_errors_total", "function" => function, "provider" => provider.to_owned(), "kind" => error.kind()).increment(1);
    // While a breaker is open every call would say so: it said it once when it opened.
    if matches!(error, CacheError::CircuitOpen { .. }) {
        tracing::debug!(target: TARGET, function, provider, "[CACHE ERROR] op={operation} key={}{} error={error}", shorten(key), ellipsis(key));
    } else {
        tracing::warn!(target: TARGET, function, provider, "[CACHE ERROR] op={operation} key={}{} error={error}", shorten(key), ellipsis(key));
    }
}

/// A store found an entry it cannot use outside any call's read (a key of another Redis type met
/// by `delete` or `exists`).
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) fn unusable(
    counters: &StatsCounters,
    provider: &'static str,
    operation: &'static str,
    key: &str,
    error: &CacheError,
) {
    failed(counters, STORE, provider, operation, key, error);
}

/// A call named a provider that is not registered: it runs uncached. `first` says whether this
/// call site already logged it (it counts every time, and logs once).
pub(crate) fn unknown_provider(function: &'static str, provider: &'static str, error: &CacheError, first: bool) {
    metrics::counter!("cache_errors_total", "function" => function, "provider" => provider, "kind" => error.kind())
        .increment(1);
    if first {
        tracing::warn!(target: TARGET, function, provider, "[CACHE ERROR] {error}; calls run uncached");
    }
}

/// The memory store dropped an expired entry.
pub(crate) fn expired(counters: &StatsCounters, key: &str) {
    counters.record_expiration();
    tracing::debug!(target: TARGET, provider = "memory", "[CACHE EXPIRED] key={}{}", shorten(key), ellipsis(key));
}

/// The memory store dropped an entry to stay within its bound.
pub(crate) fn evicted(counters: &StatsCounters) {
    counters.record_eviction();
}

/// A circuit breaker changed state, or a provider's start-up did something worth saying.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) enum Notice<'a> {
    /// The breaker opened after `failures` failures; Redis is skipped for `backoff`.
    CircuitOpened { target: &'a str, failures: u32, backoff: Duration },
    /// A probe succeeded and the breaker closed, `after` the opening.
    CircuitClosed { target: &'a str, after: Duration },
    /// One call probes Redis.
    CircuitProbing { target: &'a str },
    /// A probe failed; the next is `backoff` away.
    CircuitStillFailing { target: &'a str, backoff: Duration },
    /// `init_from_env` chose a store; `warn` when it is the fallback.
    Init { message: &'a str, warn: bool },
    /// A detail of `init_from_env`'s background reconnection, at `DEBUG`.
    InitDetail { message: &'a str },
}

/// Logs a [`Notice`].
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) fn notice(notice: Notice<'_>) {
    // The breaker's state as metrics: a gauge (1 open, 0 closed) and a count of transitions.
    let transition = match &notice {
        Notice::CircuitOpened { target, .. } => Some((*target, "open", 1.0)),
        Notice::CircuitClosed { target, .. } => Some((*target, "closed", 0.0)),
        _ => None,
    };
    if let Some((target, to, open)) = transition {
        metrics::gauge!("cache_circuit_open", "provider" => "redis", "target" => target.to_owned()).set(open);
        metrics::counter!("cache_circuit_transitions_total", "provider" => "redis", "target" => target.to_owned(), "to" => to)
            .increment(1);
    }
    match notice {
        Notice::CircuitOpened { target, failures, backoff } => {
            tracing::warn!(target: TARGET, provider = "redis", "[CACHE CIRCUIT] redis at {target} failed {failures} times in a row: circuit open, calls skip redis and run their bodies; probing again in {backoff:?}")
        }
        Notice::CircuitClosed { target, after } => {
            tracing::info!(target: TARGET, provider = "redis", "[CACHE CIRCUIT] redis at {target} answers again after {:.1}s: circuit closed, caching in redis", after.as_secs_f64())
        }
        Notice::CircuitProbing { target } => {
            tracing::debug!(target: TARGET, provider = "redis", "[CACHE CIRCUIT] probing redis at {target}")
        }
        Notice::CircuitStillFailing { target, backoff } => {
            tracing::debug!(target: TARGET, provider = "redis", "[CACHE CIRCUIT] redis at {target} still fails: next probe in {backoff:?}")
        }
        Notice::Init { message, warn: true } => tracing::warn!(target: TARGET, "[CACHE INIT] {message}"),
        Notice::Init { message, warn: false } => tracing::info!(target: TARGET, "[CACHE INIT] {message}"),
        Notice::InitDetail { message } => tracing::debug!(target: TARGET, provider = "redis", "[CACHE INIT] {message}"),
    }
}

/// `90s`, `5m`, `24h`, `250ms`: the largest unit that divides the duration.
struct HumanDuration(Duration);

impl std::fmt::Display for HumanDuration {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ms = self.0.as_millis();
        for (unit, size) in [("d", 86_400_000), ("h", 3_600_000), ("m", 60_000), ("s", 1_000)] {
            if ms >= size && ms % size == 0 {
                return write!(f, "{}{unit}", ms / size);
            }
        }
        write!(f, "{ms}ms")
    }
}

#[cfg(test)]
mod tests {
    use super::HumanDuration;
    use std::time::Duration;

    #[test]
    fn durations_read_like_the_macro_options() {
        let show = |d| HumanDuration(d).to_string();
        assert_eq!(show(Duration::from_secs(86_400)), "1d");
        assert_eq!(show(Duration::from_secs(300)), "5m");
        assert_eq!(show(Duration::from_secs(90)), "90s");
        assert_eq!(show(Duration::from_millis(250)), "250ms");
    }
}

//! Logs (`tracing`) and counters (`metrics`) for every cache event.
//!
//! Events go to the `cache_runtime` target: hits, misses, stores and expirations at `DEBUG`,
//! invalidations at `INFO`, provider errors at `WARN`. Counters are `cache_hits_total`,
//! `cache_misses_total`, `cache_sets_total`, `cache_invalidations_total` and `cache_errors_total`
//! (the last with a `kind` label too), each labelled with `function` and `provider`. Calls
//! through the cache-aside API are labelled `function="cache_aside"`.

use std::sync::OnceLock;
use std::time::{Duration, SystemTime};

use metrics::Counter;

use crate::key::{ellipsis, shorten};
use crate::CacheError;

/// Counter handles of one call site (or of the cache-aside calls on one provider), registered on
/// first use: building labelled keys on every call would cost more than the read itself.
pub(crate) struct SiteCounters {
    hits: Counter,
    misses: Counter,
    sets: Counter,
}

/// Who a cache event belongs to.
pub(crate) struct Origin<'a> {
    pub(crate) function: &'static str,
    pub(crate) provider: &'a str,
    /// The handles for these labels, where a call site or a slot keeps them.
    pub(crate) site_counters: Option<&'a OnceLock<SiteCounters>>,
}

impl Origin<'_> {
    fn site_counters(&self) -> Option<&SiteCounters> {
        let cell = self.site_counters?;
        Some(cell.get_or_init(|| SiteCounters {
            hits: self.counter("cache_hits_total"),
            misses: self.counter("cache_misses_total"),
            sets: self.counter("cache_sets_total"),
        }))
    }

    fn counter(&self, name: &'static str) -> Counter {
        metrics::counter!(name, "function" => self.function, "provider" => self.provider.to_owned())
    }
}

pub(crate) fn hit(origin: &Origin<'_>, key: &str, stored_at: SystemTime) {
    match origin.site_counters() {
        Some(counters) => counters.hits.increment(1),
        None => origin.counter("cache_hits_total").increment(1),
    }
    tracing::debug!(
        target: "cache_runtime",
        function = origin.function,
        provider = origin.provider,
        "[CACHE HIT] key={}{} age={:.1}s",
        shorten(key),
        ellipsis(key),
        stored_at.elapsed().unwrap_or_default().as_secs_f64()
    );
}

pub(crate) fn miss(origin: &Origin<'_>, key: &str) {
    match origin.site_counters() {
        Some(counters) => counters.misses.increment(1),
        None => origin.counter("cache_misses_total").increment(1),
    }
    tracing::debug!(
        target: "cache_runtime",
        function = origin.function,
        provider = origin.provider,
        "[CACHE MISS] key={}{}",
        shorten(key),
        ellipsis(key)
    );
}

pub(crate) fn store(origin: &Origin<'_>, key: &str, ttl: Duration) {
    match origin.site_counters() {
        Some(counters) => counters.sets.increment(1),
        None => origin.counter("cache_sets_total").increment(1),
    }
    tracing::debug!(
        target: "cache_runtime",
        function = origin.function,
        provider = origin.provider,
        "[CACHE SAVE] key={}{} ttl={}",
        shorten(key),
        ellipsis(key),
        HumanDuration(ttl)
    );
}

pub(crate) fn invalidate(origin: &Origin<'_>, what: &str, removed: u64) {
    origin.counter("cache_invalidations_total").increment(removed);
    tracing::info!(
        target: "cache_runtime",
        function = origin.function,
        provider = origin.provider,
        "[CACHE INVALIDATE] key={}{} removed={removed}",
        shorten(what),
        ellipsis(what)
    );
}

pub(crate) fn error(origin: &Origin<'_>, operation: &'static str, key: &str, error: &CacheError) {
    metrics::counter!(
        "cache_errors_total",
        "function" => origin.function,
        "provider" => origin.provider.to_owned(),
        "kind" => error.kind()
    )
    .increment(1);
    // While a breaker is open every call would say so: it said it once when it opened.
    if matches!(error, CacheError::CircuitOpen { .. }) {
        tracing::debug!(target: "cache_runtime", function = origin.function, provider = origin.provider, "[CACHE ERROR] op={operation} key={}{} error={error}", shorten(key), ellipsis(key));
    } else {
        tracing::warn!(target: "cache_runtime", function = origin.function, provider = origin.provider, "[CACHE ERROR] op={operation} key={}{} error={error}", shorten(key), ellipsis(key));
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

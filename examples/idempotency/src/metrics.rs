//! The Prometheus recorder and the service's own metrics.
//!
//! The service installs the recorder ([`install`]), not the library: `cache_runtime` only counts
//! through the `metrics` facade. Install it before the first cached call, because each
//! `#[cached]` call site keeps the counter handles it gets on its first call; [`AppState::new`]
//! does it first thing.
//!
//! `GET /metrics` then shows, besides the runtime's `cache_hits_total`, `cache_misses_total`,
//! `cache_sets_total`, `cache_errors_total` and `cache_invalidations_total` (labels `function`,
//! `provider`; `kind` on errors):
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `http_request_duration_seconds` | histogram | `method`, `path`, `status`, `cache` | time to answer; `cache` is `hit`, `miss`, `uncached` or `none` |
//! | `idempotency_requests_total` | counter | `operation`, `outcome` | answers by `X-Cache` outcome: `hit`, `miss`, `uncached` |
//! | `llm_calls_total` | counter | `operation`, `outcome` | LLM calls made, `ok` or `error` |
//! | `llm_tokens_total` | counter | `operation`, `kind` | tokens used, `prompt` or `completion` |
//! | `llm_estimated_cost_usd` | gauge (only grows) | `operation` | estimated spend |
//! | `llm_calls_avoided_total` | counter | `operation` | answers served without calling the LLM |
//! | `llm_estimated_cost_saved_usd` | gauge (only grows) | `operation` | what those calls would have cost |
//!
//! `idempotency_requests_total{outcome="hit"}` and `cache_hits_total` differ under concurrency:
//! a request that waited for an identical request's LLM call is a hit for the service (it did not
//! call the LLM) but a miss for the runtime (its read found nothing).
//!
//! [`AppState::new`]: crate::AppState::new

use std::sync::OnceLock;
use std::time::Duration;

use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::cache::CacheStatus;
use crate::llm::{Operation, Usage};

/// The request duration histogram.
pub const HTTP_REQUEST_DURATION: &str = "http_request_duration_seconds";

/// From a hit (about a millisecond) to a miss (seconds).
const DURATION_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

static HANDLE: OnceLock<PrometheusHandle> = OnceLock::new();

/// Installs the Prometheus recorder as this process's `metrics` recorder, once: later calls
/// return the same handle. If another recorder was installed first, it stays, with a warning, and
/// `/metrics` shows only what this handle records (nothing).
///
/// ```
/// let handle = idempotency_service::metrics::install();
/// metrics::counter!("demo_total").increment(1);
/// assert!(handle.render().contains("demo_total 1"));
/// ```
pub fn install() -> PrometheusHandle {
    HANDLE
        .get_or_init(|| {
            let recorder = PrometheusBuilder::new()
                .set_buckets_for_metric(Matcher::Full(HTTP_REQUEST_DURATION.to_owned()), DURATION_BUCKETS)
                .expect("the bucket list is not empty")
                .build_recorder();
            let handle = recorder.handle();
            if metrics::set_global_recorder(recorder).is_err() {
                tracing::warn!("another metrics recorder was installed first: /metrics will be empty");
            }
            describe();
            for operation in [Operation::Extract, Operation::Analyze] {
                // Present from the start, so that dashboards and rate() see zeros, not gaps.
                let op = operation.as_str();
                counter!("llm_calls_total", "operation" => op, "outcome" => "ok").absolute(0);
                counter!("llm_calls_avoided_total", "operation" => op).absolute(0);
                gauge!("llm_estimated_cost_usd", "operation" => op).increment(0.0);
                gauge!("llm_estimated_cost_saved_usd", "operation" => op).increment(0.0);
                for outcome in ["hit", "miss", "uncached"] {
                    counter!("idempotency_requests_total", "operation" => op, "outcome" => outcome).absolute(0);
                }
            }
            handle
        })
        .clone()
}

/// The Prometheus text exposition of every metric.
///
/// ```
/// let text = idempotency_service::metrics::render(&idempotency_service::metrics::install());
/// assert!(text.contains("llm_calls_avoided_total"));
/// ```
pub fn render(handle: &PrometheusHandle) -> String {
    // Histograms are drained into their buckets by the upkeep: run it before each scrape.
    handle.run_upkeep();
    handle.render()
}

fn describe() {
    describe_histogram!(HTTP_REQUEST_DURATION, Unit::Seconds, "Time to answer an HTTP request.");
    describe_counter!("idempotency_requests_total", "Answers of /extract and /analyze by X-Cache outcome.");
    describe_counter!("llm_calls_total", "Calls made to the LLM.");
    describe_counter!("llm_tokens_total", "Tokens used by LLM calls.");
    describe_gauge!("llm_estimated_cost_usd", Unit::Count, "Estimated LLM spend in USD (only grows).");
    describe_counter!("llm_calls_avoided_total", "Answers served from the cache without calling the LLM.");
    describe_gauge!(
        "llm_estimated_cost_saved_usd",
        Unit::Count,
        "Estimated USD the avoided LLM calls would have cost."
    );
}

pub(crate) fn llm_call(operation: Operation, ok: bool) {
    let outcome = if ok { "ok" } else { "error" };
    counter!("llm_calls_total", "operation" => operation.as_str(), "outcome" => outcome).increment(1);
}

pub(crate) fn llm_usage(operation: Operation, usage: &Usage) {
    let op = operation.as_str();
    counter!("llm_tokens_total", "operation" => op, "kind" => "prompt").increment(usage.prompt_tokens);
    counter!("llm_tokens_total", "operation" => op, "kind" => "completion").increment(usage.completion_tokens);
    gauge!("llm_estimated_cost_usd", "operation" => op).increment(usage.estimated_cost_usd);
}

/// Counts an answer; a hit also counts the call it avoided and what that call had cost.
pub(crate) fn answered(operation: Operation, status: CacheStatus, usage: &Usage) {
    let op = operation.as_str();
    counter!("idempotency_requests_total", "operation" => op, "outcome" => status.label()).increment(1);
    if status == CacheStatus::Hit {
        counter!("llm_calls_avoided_total", "operation" => op).increment(1);
        gauge!("llm_estimated_cost_saved_usd", "operation" => op).increment(usage.estimated_cost_usd);
    }
}

pub(crate) fn http_request(method: &str, path: &str, status: u16, cache: &'static str, duration: Duration) {
    histogram!(
        HTTP_REQUEST_DURATION,
        "method" => method.to_owned(),
        "path" => path.to_owned(),
        "status" => status.to_string(),
        "cache" => cache
    )
    .record(duration.as_secs_f64());
}

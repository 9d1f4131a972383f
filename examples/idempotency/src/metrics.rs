//! The Prometheus recorder's settings and the service's own metrics.
//!
//! `main` installs the recorder and hands its handle to [`AppState::new`]; no library code
//! installs one, and `cache_runtime` only counts through the `metrics` facade:
//!
//! ```
//! let prometheus = idempotency_service::metrics::builder().install_recorder().expect("the first recorder");
//! let state = idempotency_service::AppState::new(idempotency_service::Config::default(), prometheus);
//! ```
//!
//! Install it before the first cached call, because each `#[cached]` call site keeps the counter
//! handles it gets on its first call.
//!
//! `GET /metrics` then shows, besides the runtime's `cache_hits_total`, `cache_misses_total`,
//! `cache_sets_total`, `cache_errors_total` and `cache_invalidations_total` (labels `function`,
//! `provider`; `kind` on errors):
//!
//! | metric | type | labels | meaning |
//! |---|---|---|---|
//! | `http_request_duration_seconds` | histogram | `method`, `path`, `status`, `cache` | time to answer; `cache` is `hit`, `miss`, `stale`, `uncached` or `none` |
//! | `idempotency_requests_total` | counter | `operation`, `outcome` | answers by `X-Cache` outcome: `hit`, `miss`, `stale`, `uncached` |
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

use std::time::{Duration, Instant};

use axum::extract::{MatchedPath, Request};
use axum::middleware::Next;
use axum::response::Response;
use metrics::{counter, describe_counter, describe_gauge, describe_histogram, gauge, histogram, Unit};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};

use crate::cache::CacheStatus;
use crate::llm::{Operation, Usage};

/// The request duration histogram.
pub const HTTP_REQUEST_DURATION: &str = "http_request_duration_seconds";

/// From a hit (about a millisecond) to a miss (seconds).
const DURATION_BUCKETS: &[f64] =
    &[0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0];

/// The recorder as the service wants it (histogram buckets for [`HTTP_REQUEST_DURATION`]), for
/// `main` to install: `builder().install_recorder()`; see the [module example](self).
pub fn builder() -> PrometheusBuilder {
    PrometheusBuilder::new()
        .set_buckets_for_metric(Matcher::Full(HTTP_REQUEST_DURATION.to_owned()), DURATION_BUCKETS)
        .expect("the bucket list is not empty")
}

/// The Prometheus text exposition of every metric.
///
/// ```
/// let handle = idempotency_service::metrics::builder().build_recorder().handle();
/// assert!(idempotency_service::metrics::render(&handle).is_empty());
/// ```
pub fn render(handle: &PrometheusHandle) -> String {
    // Histograms are drained into their buckets by the upkeep: run it before each scrape.
    handle.run_upkeep();
    handle.render()
}

/// Describes the service's metrics to the installed recorder and makes its series present from
/// the start, so that dashboards and `rate()` see zeros, not gaps. Adds nothing to a count.
pub(crate) fn describe() {
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
    for operation in [Operation::Extract, Operation::Analyze] {
        let op = operation.as_str();
        counter!("llm_calls_total", "operation" => op, "outcome" => "ok").increment(0);
        counter!("llm_calls_avoided_total", "operation" => op).increment(0);
        gauge!("llm_estimated_cost_usd", "operation" => op).increment(0.0);
        gauge!("llm_estimated_cost_saved_usd", "operation" => op).increment(0.0);
        for outcome in ["hit", "miss", "stale", "uncached"] {
            counter!("idempotency_requests_total", "operation" => op, "outcome" => outcome).increment(0);
        }
    }
}

/// Records [`HTTP_REQUEST_DURATION`]; a layer of [`routes::router`](crate::routes::router).
///
/// The `path` label is the route pattern, not the path: `/admin/cache/{idempotency_key}` is one
/// series, and paths that match no route share `unmatched`. `cache` is the response's
/// [`CacheStatus`], `none` for endpoints without one.
pub async fn record_duration(request: Request, next: Next) -> Response {
    let started = Instant::now();
    let method = request.method().as_str().to_owned();
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    let response = next.run(request).await;
    let cache = response.extensions().get::<CacheStatus>().map_or("none", |status| status.label());
    http_request(&method, &route, response.status().as_u16(), cache, started.elapsed());
    response
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

fn http_request(method: &str, path: &str, status: u16, cache: &'static str, duration: Duration) {
    histogram!(
        HTTP_REQUEST_DURATION,
        "method" => method.to_owned(),
        "path" => path.to_owned(),
        "status" => status.to_string(),
        "cache" => cache
    )
    .record(duration.as_secs_f64());
}

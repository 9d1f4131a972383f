//! The cached LLM steps, and how a request learns whether its answer was a HIT, a MISS or STALE.
//!
//! Each step is a `#[cached]` function keyed by the idempotency key alone
//! (`extract:{idempotency_key}`, `analyze:{idempotency_key}`), with the TTL read from the
//! configuration at each call. The cache, single-flight included, is `cache_runtime`'s; this
//! module adds two things:
//!
//! - **Requests without an idempotency key skip the cache.** They call the LLM directly, so they
//!   can never share an entry (there is no "anonymous" key) and nothing of theirs is stored.
//! - **A truthful `X-Cache`.** `cache_runtime::outcome` tells how the cached call went: `HIT`
//!   when this request did not call the LLM (the answer was stored, or an identical request that
//!   ran at the same time called it and shared its answer: under single-flight 49 of 50
//!   concurrent identical requests find nothing stored yet never call the LLM), `MISS` when it
//!   did, `STALE` when the LLM failed and the last good answer was served in its place.
//! - **The last good answer when the LLM fails** (`CACHE_STALE`, off by default): answers are
//!   kept that long past their TTL, and a request that finds one past its TTL calls the LLM; if
//!   the call fails, it gets the kept answer with `X-Cache: STALE` instead of a 502.

use std::time::Duration;

use cache_runtime::{cached, CacheError, Outcome};

use crate::llm::{Analysis, Extraction, Llm, LlmError, Operation, Usage};
use crate::request::MeetingRequest;
use crate::IdempotencyKey;

/// Where this request's answer came from; `X-Cache` says [`header_value`](Self::header_value).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum CacheStatus {
    /// This request did not call the LLM: the answer was stored, or an identical request that was
    /// running at the same time called the LLM and shared its answer.
    Hit,
    /// This request called the LLM, and its answer is now stored.
    Miss,
    /// The LLM failed, and the last good answer, past its TTL but within `CACHE_STALE`, was
    /// served in its place.
    Stale,
    /// The request had no usable metadata: it called the LLM and nothing was stored. `X-Cache`
    /// says `MISS`, and the body's `idempotency_key` is `null`.
    Uncached,
}

impl CacheStatus {
    /// `HIT`, `MISS` or `STALE`.
    ///
    /// ```
    /// use idempotency_service::cache::CacheStatus;
    /// assert_eq!(CacheStatus::Uncached.header_value(), "MISS");
    /// ```
    pub fn header_value(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss | CacheStatus::Uncached => "MISS",
            CacheStatus::Stale => "STALE",
        }
    }

    /// `hit`, `miss`, `stale` or `uncached`: the label in metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Stale => "stale",
            CacheStatus::Uncached => "uncached",
        }
    }
}

impl CacheStatus {
    /// The status of a cached call that `cache_runtime::outcome` saw go this way.
    ///
    /// ```
    /// use cache_runtime::{Outcome, StaleReason};
    /// use idempotency_service::cache::CacheStatus;
    ///
    /// assert_eq!(CacheStatus::of(Some(Outcome::Joined)), CacheStatus::Hit);
    /// assert_eq!(CacheStatus::of(Some(Outcome::Bypass)), CacheStatus::Miss);
    /// assert_eq!(CacheStatus::of(Some(Outcome::Stale(StaleReason::Error))), CacheStatus::Stale);
    /// ```
    pub fn of(outcome: Option<Outcome>) -> CacheStatus {
        match outcome {
            // The answer was stored, or another request's call of the LLM gave it.
            Some(Outcome::Hit | Outcome::Joined) => CacheStatus::Hit,
            Some(Outcome::Stale(_)) => CacheStatus::Stale,
            // The body ran: this request called the LLM (`Bypass`: with the store down).
            _ => CacheStatus::Miss,
        }
    }
}

/// An answer, where it came from, and the key it is stored under.
#[derive(Clone, Debug)]
pub struct Served<T> {
    /// The LLM's answer, computed now or stored earlier.
    pub answer: T,
    /// Where it came from.
    pub status: CacheStatus,
    /// The request's idempotency key; `None` for uncached requests.
    pub key: Option<IdempotencyKey>,
}

/// What a cached step needs besides its key; not part of the key.
struct Step<'a> {
    llm: &'a Llm,
    request: &'a MeetingRequest,
    ttl: Duration,
    stale: Duration,
}

// Tagged by customer, so that one call drops every answer of one customer (`invalidate_customer`).
#[cached(ttl = step.ttl, stale = step.stale, key = "extract:{idempotency_key}", tags = ["customer:{customer}"])]
async fn extract_step(
    idempotency_key: &IdempotencyKey,
    customer: &str,
    step: Step<'_>,
) -> Result<Extraction, LlmError> {
    step.llm.extract(&step.request.transcript, &step.request.metadata).await
}

#[cached(ttl = step.ttl, stale = step.stale, key = "analyze:{idempotency_key}", tags = ["customer:{customer}"])]
async fn analyze_step(idempotency_key: &IdempotencyKey, customer: &str, step: Step<'_>) -> Result<Analysis, LlmError> {
    step.llm.analyze(&step.request.transcript, &step.request.metadata).await
}

/// `/extract`: the stored answer for the request's idempotency key, or a new one (stored for
/// `ttl`, and kept `stale` longer for the LLM's failures). Errors are the LLM's, and are never
/// stored; with an answer past its TTL but within `stale` at hand, a failure serves it as
/// [`CacheStatus::Stale`].
///
/// ```
/// use std::time::Duration;
/// use idempotency_service::cache::{extract, CacheStatus};
/// use idempotency_service::llm::{Llm, Pricing};
/// use idempotency_service::request::MeetingRequest;
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let llm = Llm::new(Duration::ZERO, Pricing::default());
/// let request = MeetingRequest::from_json(br#"{"transcript": "Hi.", "metadata": {"meeting_id": "doc-1",
///     "customer_id": "C", "meet_date": "2025-10-15T10:00:00Z"}}"#)?;
/// let (ttl, stale) = (Duration::from_secs(60), Duration::ZERO);
/// assert_eq!(extract(&llm, ttl, stale, &request).await?.status, CacheStatus::Miss);
/// assert_eq!(extract(&llm, ttl, stale, &request).await?.status, CacheStatus::Hit);
/// assert_eq!(llm.stats().calls, 1);
/// # Ok(()) }
/// ```
pub async fn extract(
    llm: &Llm,
    ttl: Duration,
    stale: Duration,
    request: &MeetingRequest,
) -> Result<Served<Extraction>, LlmError> {
    let Some(key) = request.idempotency_key() else {
        let answer = llm.extract(&request.transcript, &request.metadata).await?;
        return Ok(Served { answer, status: CacheStatus::Uncached, key: None });
    };
    let customer = request.metadata.customer_id.as_deref().unwrap_or_default();
    let (answer, outcome) =
        cache_runtime::outcome(extract_step(&key, customer, Step { llm, request, ttl, stale })).await;
    Ok(Served { answer: answer?, status: CacheStatus::of(outcome), key: Some(key) })
}

/// `/analyze`: as [`extract`], under `analyze:{idempotency_key}`.
///
/// ```
/// # use std::time::Duration;
/// # use idempotency_service::cache::{analyze, CacheStatus};
/// # use idempotency_service::llm::{Llm, Pricing};
/// # use idempotency_service::request::MeetingRequest;
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let llm = Llm::new(Duration::ZERO, Pricing::default());
/// let request = MeetingRequest::from_json(br#"{"transcript": "Hi."}"#)?;
/// let served = analyze(&llm, Duration::from_secs(60), Duration::ZERO, &request).await?;
/// assert_eq!((served.status, served.key), (CacheStatus::Uncached, None));
/// # Ok(()) }
/// ```
pub async fn analyze(
    llm: &Llm,
    ttl: Duration,
    stale: Duration,
    request: &MeetingRequest,
) -> Result<Served<Analysis>, LlmError> {
    let Some(key) = request.idempotency_key() else {
        let answer = llm.analyze(&request.transcript, &request.metadata).await?;
        return Ok(Served { answer, status: CacheStatus::Uncached, key: None });
    };
    let customer = request.metadata.customer_id.as_deref().unwrap_or_default();
    let (answer, outcome) =
        cache_runtime::outcome(analyze_step(&key, customer, Step { llm, request, ttl, stale })).await;
    Ok(Served { answer: answer?, status: CacheStatus::of(outcome), key: Some(key) })
}

/// Which entries [`invalidate`] removed.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, serde::Serialize)]
pub struct Removed {
    /// The `/extract` answer was stored and is gone.
    pub extract: bool,
    /// The `/analyze` answer was stored and is gone.
    pub analyze: bool,
}

/// Removes both answers stored for `key`, through the helpers `#[cached]` generates (so the keys
/// are built exactly as the cached calls build them). A store error counts as nothing removed; the
/// runtime logs and counts it.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let key = idempotency_service::IdempotencyKey::for_meeting("never", "stored", "here");
/// assert_eq!(idempotency_service::cache::invalidate(&key).await, Default::default());
/// # }
/// ```
pub async fn invalidate(key: &IdempotencyKey) -> Removed {
    Removed { extract: extract_step_invalidate(key).await, analyze: analyze_step_invalidate(key).await }
}

/// The tag of every answer stored for `customer_id`: `customer:` and the id escaped as the
/// macro escapes it.
///
/// ```
/// assert_eq!(idempotency_service::cache::customer_tag("CUST 1"), "customer:CUST%201");
/// ```
pub fn customer_tag(customer_id: &str) -> String {
    format!("customer:{}", cache_runtime::key::escape(customer_id))
}

/// Drops every answer stored for one customer, whatever their meetings, on every instance, in
/// one call whose cost does not depend on how many there are (a tag: see the runtime's README).
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cache_runtime::CacheError> {
/// idempotency_service::cache::invalidate_customer("CUST-001").await?;
/// # Ok(()) }
/// ```
pub async fn invalidate_customer(customer_id: &str) -> Result<(), CacheError> {
    cache_runtime::invalidate_tag(&customer_tag(customer_id)).await
}

/// The patterns that match every answer this service stores.
pub const PATTERNS: [&str; 2] = ["extract:*", "analyze:*"];

/// Removes every answer this service stored, and only those (a Redis shared with other services
/// keeps their keys); returns how many.
///
/// ```
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cache_runtime::CacheError> {
/// let removed = idempotency_service::cache::clear().await?;
/// # let _ = removed;
/// # Ok(()) }
/// ```
pub async fn clear() -> Result<u64, CacheError> {
    let mut removed = 0;
    for pattern in PATTERNS {
        removed += cache_runtime::clear_pattern(pattern).await?;
    }
    tracing::info!(removed, "[CACHE CLEARED]");
    Ok(removed)
}

/// The usage an answer records, for the cost-saved metric.
pub(crate) trait Answer {
    fn usage(&self) -> &Usage;
    const OPERATION: Operation;
}

impl Answer for Extraction {
    fn usage(&self) -> &Usage {
        &self.usage
    }
    const OPERATION: Operation = Operation::Extract;
}

impl Answer for Analysis {
    fn usage(&self) -> &Usage {
        &self.usage
    }
    const OPERATION: Operation = Operation::Analyze;
}

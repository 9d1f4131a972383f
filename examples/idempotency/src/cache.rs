//! The cached LLM steps, and how a request learns whether its answer was a HIT or a MISS.
//!
//! Each step is a `#[cached]` function keyed by the idempotency key alone
//! (`extract:{idempotency_key}`, `analyze:{idempotency_key}`), with the TTL read from the
//! configuration at each call. The cache, single-flight included, is `cache_runtime`'s; this
//! module adds two things:
//!
//! - **Requests without an idempotency key skip the cache.** They call the LLM directly, so they
//!   can never share an entry (there is no "anonymous" key) and nothing of theirs is stored.
//! - **A truthful `X-Cache`.** See [`Computed`].

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use cache_runtime::{cached, CacheError};

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
    /// The request had no usable metadata: it called the LLM and nothing was stored. `X-Cache`
    /// says `MISS`, and the body's `idempotency_key` is `null`.
    Uncached,
}

impl CacheStatus {
    /// `HIT` or `MISS`.
    ///
    /// ```
    /// use idempotency_service::cache::CacheStatus;
    /// assert_eq!(CacheStatus::Uncached.header_value(), "MISS");
    /// ```
    pub fn header_value(self) -> &'static str {
        match self {
            CacheStatus::Hit => "HIT",
            CacheStatus::Miss | CacheStatus::Uncached => "MISS",
        }
    }

    /// `hit`, `miss` or `uncached`: the label in metrics and logs.
    pub fn label(self) -> &'static str {
        match self {
            CacheStatus::Hit => "hit",
            CacheStatus::Miss => "miss",
            CacheStatus::Uncached => "uncached",
        }
    }
}

/// Remembers whether the body of a cached call ran *for this request*.
///
/// `X-Cache` must say whether this request called the LLM. Reading the cache first and calling the
/// cached function after would be wrong twice: the entry can appear or vanish between the two
/// calls, and under single-flight 49 of 50 concurrent identical requests find nothing in the
/// store yet never run the body (they wait for the one that does). Counting LLM calls before and
/// after is wrong under concurrency too. What is exact is the body itself: `cache_runtime` runs it
/// on the calling task exactly when this call must compute (a miss with no flight to join, a
/// leader that failed, a store that errors), and never when the answer comes from the store or
/// from another caller's flight.
///
/// So each request makes a `Computed`, passes a reference as an argument of the cached function,
/// and the body marks it before calling the LLM. The argument is not in the key template, so it
/// does not affect caching; being an explicit argument rather than a task-local, it needs no
/// scope and stays correct if the body is ever moved to another task.
///
/// ```
/// use idempotency_service::cache::{CacheStatus, Computed};
///
/// let computed = Computed::default();
/// assert_eq!(computed.status(), CacheStatus::Hit);
/// computed.mark();
/// assert_eq!(computed.status(), CacheStatus::Miss);
/// ```
#[derive(Debug, Default)]
pub struct Computed(AtomicBool);

impl Computed {
    /// Called by the cached body when it runs.
    pub fn mark(&self) {
        self.0.store(true, Ordering::Release);
    }

    /// `Miss` when the body ran for this request, else `Hit`.
    pub fn status(&self) -> CacheStatus {
        if self.0.load(Ordering::Acquire) {
            CacheStatus::Miss
        } else {
            CacheStatus::Hit
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
    computed: &'a Computed,
}

#[cached(ttl = step.ttl, key = "extract:{idempotency_key}")]
async fn extract_step(idempotency_key: &IdempotencyKey, step: Step<'_>) -> Result<Extraction, LlmError> {
    step.computed.mark();
    step.llm.extract(&step.request.transcript, &step.request.metadata).await
}

#[cached(ttl = step.ttl, key = "analyze:{idempotency_key}")]
async fn analyze_step(idempotency_key: &IdempotencyKey, step: Step<'_>) -> Result<Analysis, LlmError> {
    step.computed.mark();
    step.llm.analyze(&step.request.transcript, &step.request.metadata).await
}

/// `/extract`: the stored answer for the request's idempotency key, or a new one (stored for
/// `ttl`). Errors are the LLM's, and are never stored.
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
/// let ttl = Duration::from_secs(60);
/// assert_eq!(extract(&llm, ttl, &request).await?.status, CacheStatus::Miss);
/// assert_eq!(extract(&llm, ttl, &request).await?.status, CacheStatus::Hit);
/// assert_eq!(llm.stats().calls, 1);
/// # Ok(()) }
/// ```
pub async fn extract(llm: &Llm, ttl: Duration, request: &MeetingRequest) -> Result<Served<Extraction>, LlmError> {
    let Some(key) = request.idempotency_key() else {
        let answer = llm.extract(&request.transcript, &request.metadata).await?;
        return Ok(Served { answer, status: CacheStatus::Uncached, key: None });
    };
    let computed = Computed::default();
    let answer = extract_step(&key, Step { llm, request, ttl, computed: &computed }).await?;
    Ok(Served { answer, status: computed.status(), key: Some(key) })
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
/// let served = analyze(&llm, Duration::from_secs(60), &request).await?;
/// assert_eq!((served.status, served.key), (CacheStatus::Uncached, None));
/// # Ok(()) }
/// ```
pub async fn analyze(llm: &Llm, ttl: Duration, request: &MeetingRequest) -> Result<Served<Analysis>, LlmError> {
    let Some(key) = request.idempotency_key() else {
        let answer = llm.analyze(&request.transcript, &request.metadata).await?;
        return Ok(Served { answer, status: CacheStatus::Uncached, key: None });
    };
    let computed = Computed::default();
    let answer = analyze_step(&key, Step { llm, request, ttl, computed: &computed }).await?;
    Ok(Served { answer, status: computed.status(), key: Some(key) })
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

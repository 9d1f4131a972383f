//! How a call went: [`outcome`] tells the first `#[cached]` call made while a future runs.
//!
//! A scope is a task-local cell. While no scope runs anywhere, a call does not look for one (a
//! relaxed load of a counter, as `with_provider` does), so that the hit path pays nothing for it.

use std::cell::Cell;
use std::future::Future;
use std::sync::atomic::{AtomicUsize, Ordering};

/// How a `#[cached]` call went, as [`outcome`] reports it.
///
/// ```
/// use cache_runtime::{cached, Outcome};
///
/// #[cached(key = "answer:{n}")]
/// async fn answer(n: u32) -> u32 { n * 2 }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// assert_eq!(cache_runtime::outcome(answer(21)).await, (42, Some(Outcome::Miss)));
/// assert_eq!(cache_runtime::outcome(answer(21)).await, (42, Some(Outcome::Hit)));
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum Outcome {
    /// A stored value, fresh.
    Hit,
    /// The body ran for lack of a usable entry, and its value was returned.
    Miss,
    /// The value of another caller's computation of the same key.
    Joined,
    /// A stale value, served for this reason instead of what the body gave (option `stale`).
    Stale(StaleReason),
    /// The store could not be used (it failed, or the provider is not registered): the body ran.
    Bypass,
}

/// Why a stale value was served.
///
/// ```
/// assert_eq!(cache_runtime::StaleReason::SoftTimeout.as_str(), "soft_timeout");
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum StaleReason {
    /// The body returned `Err`.
    Error,
    /// The body returned `None`.
    None,
    /// The body panicked.
    Panic,
    /// The body ran past `soft_timeout`; it goes on in the background.
    SoftTimeout,
    /// The body ran past `hard_timeout` and was dropped.
    HardTimeout,
}

impl StaleReason {
    /// The reason as the logs and the `reason` label of `cache_stale_served_total` write it.
    ///
    /// ```
    /// assert_eq!(cache_runtime::StaleReason::Error.as_str(), "error");
    /// ```
    pub fn as_str(self) -> &'static str {
        match self {
            StaleReason::Error => "error",
            StaleReason::None => "none",
            StaleReason::Panic => "panic",
            StaleReason::SoftTimeout => "soft_timeout",
            StaleReason::HardTimeout => "hard_timeout",
        }
    }
}

impl std::fmt::Display for StaleReason {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// What a scope holds: nothing yet, a call's provisional outcome (it may still turn stale), or
/// the final one.
#[derive(Clone, Copy)]
struct Recorded {
    outcome: Option<Outcome>,
}

tokio::task_local! {
    static SCOPE: Cell<Recorded>;
}

/// How many [`outcome`] scopes run, in any task.
static SCOPES: AtomicUsize = AtomicUsize::new(0);

/// Counts one running scope until it ends or is dropped.
struct Counted;

impl Counted {
    fn new() -> Self {
        SCOPES.fetch_add(1, Ordering::Relaxed);
        Counted
    }
}

impl Drop for Counted {
    fn drop(&mut self) {
        SCOPES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Runs `future` and tells how the first `#[cached]` call it made went: `None` if it made none.
///
/// The function itself is unchanged; calls made in tasks that `future` spawns are not seen (a
/// scope is task-local), nor are calls made by a background refresh.
///
/// ```
/// use cache_runtime::{cached, Outcome};
///
/// #[cached(key = "user:{id}")]
/// async fn user(id: u64) -> Option<String> { Some(format!("user {id}")) }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() {
/// let (first, how) = cache_runtime::outcome(user(1)).await;
/// assert_eq!((first.as_deref(), how), (Some("user 1"), Some(Outcome::Miss)));
/// let (_, how) = cache_runtime::outcome(async { user(1).await; user(2).await }).await;
/// assert_eq!(how, Some(Outcome::Hit), "the first call made inside");
/// assert_eq!(cache_runtime::outcome(async { 7 }).await, (7, None));
/// # }
/// ```
pub async fn outcome<F: Future>(future: F) -> (F::Output, Option<Outcome>) {
    let _counted = Counted::new();
    let cell = Cell::new(Recorded { outcome: None });
    SCOPE
        .scope(cell, async move {
            let out = future.await;
            let recorded = SCOPE.with(|cell| cell.get());
            (out, recorded.outcome)
        })
        .await
}

/// Who recorded a scope's outcome: the call that did may replace it later (a miss that turns
/// stale); other calls may not.
#[derive(Clone, Copy)]
pub(crate) struct Claim(bool);

/// Records `outcome` if no call recorded one yet in this task's scope; whether it did.
#[inline(always)]
pub(crate) fn record(outcome: Outcome) -> Claim {
    if SCOPES.load(Ordering::Relaxed) == 0 {
        return Claim(false);
    }
    record_in_scope(outcome)
}

/// [`record`] of a hit, for the hit path: no claim to return, and the scope's work out of line.
#[inline(always)]
pub(crate) fn hit() {
    if SCOPES.load(Ordering::Relaxed) != 0 {
        record_hit_in_scope();
    }
}

#[cold]
#[inline(never)]
fn record_hit_in_scope() {
    record_in_scope(Outcome::Hit);
}

#[cold]
#[inline(never)]
fn record_in_scope(outcome: Outcome) -> Claim {
    SCOPE
        .try_with(|cell| {
            let recorded = cell.get();
            if recorded.outcome.is_some() {
                return Claim(false);
            }
            cell.set(Recorded { outcome: Some(outcome) });
            Claim(true)
        })
        .unwrap_or(Claim(false))
}

impl Claim {
    /// Replaces the outcome this call recorded.
    pub(crate) fn replace(self, outcome: Outcome) {
        if self.0 {
            let _ = SCOPE.try_with(|cell| cell.set(Recorded { outcome: Some(outcome) }));
        }
    }
}

//! The circuit breaker in front of Redis.
//!
//! Closed, every operation goes to Redis. After [`BreakerConfig::threshold`] consecutive failures
//! (connection errors, timeouts) it opens: operations fail at once with
//! [`CacheError::CircuitOpen`](crate::CacheError::CircuitOpen) instead of each waiting for its
//! timeout. When the back-off has passed, one operation goes through as a probe while the others
//! still fail at once: if it succeeds the breaker closes, if it fails the back-off doubles (up to
//! its maximum) and the breaker waits again. Any success closes the breaker, since Redis answered.
//!
//! A closed breaker costs one atomic load per operation; the mutex is only taken while it is open
//! and on the transitions.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use tokio::time::Instant;

use crate::observe::{notice, Notice};

/// When the breaker opens and how long it waits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct BreakerConfig {
    /// Consecutive failures that open the breaker.
    pub(crate) threshold: u32,
    /// The first back-off; each failed probe doubles it.
    pub(crate) min_backoff: Duration,
    /// The longest back-off.
    pub(crate) max_backoff: Duration,
}

impl Default for BreakerConfig {
    fn default() -> Self {
        // The back-off is capped at 5 s: a probe costs one call at most one operation timeout, and
        // Redis back after an outage of any length is used again within 5 s.
        BreakerConfig { threshold: 3, min_backoff: Duration::from_secs(1), max_backoff: Duration::from_secs(5) }
    }
}

/// The state of a provider's circuit breaker, from
/// [`RedisProvider::circuit`](crate::RedisProvider::circuit).
///
/// ```no_run
/// use cache_runtime::redis::CircuitState;
///
/// # async fn health(redis: cache_runtime::RedisProvider) {
/// match redis.circuit() {
///     CircuitState::Closed => println!("redis: up"),
///     CircuitState::Open { retry_in } => println!("redis: down, next attempt in {retry_in:?}"),
///     CircuitState::Probing => println!("redis: down, trying it now"),
///     _ => println!("redis: unknown"),
/// }
/// # }
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum CircuitState {
    /// Operations go to Redis.
    Closed,
    /// Operations are skipped; one will probe Redis after `retry_in`.
    Open {
        /// How long until the next probe.
        retry_in: Duration,
    },
    /// One operation is probing Redis; the others are skipped until it ends.
    Probing,
}

pub(crate) struct Breaker {
    config: BreakerConfig,
    /// Where Redis is (its URL without password), for the logs.
    target: Arc<str>,
    /// How long a probe may take: while one runs, the others are told to retry after this.
    probe_budget: Duration,
    failures: AtomicU32,
    open: AtomicBool,
    state: Mutex<OpenState>,
}

struct OpenState {
    /// When the next probe may go.
    until: Instant,
    backoff: Duration,
    probing: bool,
    since: Instant,
}

/// Leave to run one operation; tell the breaker how it went with [`success`](Self::success) or
/// [`failure`](Self::failure). A probe dropped without either (its caller gave up) lets the next
/// operation probe.
pub(crate) struct Permit<'a> {
    breaker: &'a Breaker,
    probe: bool,
    settled: bool,
}

impl Breaker {
    pub(crate) fn new(config: BreakerConfig, target: Arc<str>, probe_budget: Duration) -> Self {
        let now = Instant::now();
        Breaker {
            config,
            target,
            probe_budget,
            failures: AtomicU32::new(0),
            open: AtomicBool::new(false),
            state: Mutex::new(OpenState { until: now, backoff: config.min_backoff, probing: false, since: now }),
        }
    }

    fn lock(&self) -> MutexGuard<'_, OpenState> {
        // Every critical section only assigns plain fields: a panic cannot leave them half-written.
        self.state.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Leave to run an operation, or how long until the breaker lets one through.
    pub(crate) fn admit(&self) -> Result<Permit<'_>, Duration> {
        if !self.open.load(Ordering::Acquire) {
            return Ok(Permit { breaker: self, probe: false, settled: false });
        }
        let mut state = self.lock();
        if !self.open.load(Ordering::Relaxed) {
            return Ok(Permit { breaker: self, probe: false, settled: false });
        }
        if state.probing {
            return Err(self.probe_budget);
        }
        let now = Instant::now();
        if now < state.until {
            return Err(state.until - now);
        }
        state.probing = true;
        notice(Notice::CircuitProbing { target: &self.target });
        Ok(Permit { breaker: self, probe: true, settled: false })
    }

    /// The state now.
    pub(crate) fn state(&self) -> CircuitState {
        if !self.open.load(Ordering::Acquire) {
            return CircuitState::Closed;
        }
        let state = self.lock();
        if !self.open.load(Ordering::Relaxed) {
            CircuitState::Closed
        } else if state.probing {
            CircuitState::Probing
        } else {
            CircuitState::Open { retry_in: state.until.saturating_duration_since(Instant::now()) }
        }
    }

    fn on_success(&self) {
        if self.failures.load(Ordering::Relaxed) != 0 {
            self.failures.store(0, Ordering::Relaxed);
        }
        if !self.open.load(Ordering::Acquire) {
            return;
        }
        let mut state = self.lock();
        if self.open.load(Ordering::Relaxed) {
            self.open.store(false, Ordering::Release);
            state.probing = false;
            state.backoff = self.config.min_backoff;
            notice(Notice::CircuitClosed { target: &self.target, after: state.since.elapsed() });
        }
    }

    fn on_failure(&self, probe: bool) {
        if probe || self.open.load(Ordering::Acquire) {
            let mut state = self.lock();
            if self.open.load(Ordering::Relaxed) {
                // A failure of an operation let through before the breaker opened says nothing new.
                if probe {
                    state.probing = false;
                    state.backoff = (state.backoff * 2).min(self.config.max_backoff);
                    state.until = Instant::now() + state.backoff;
                    notice(Notice::CircuitStillFailing { target: &self.target, backoff: state.backoff });
                }
                return;
            }
        }
        let failures = self.failures.fetch_add(1, Ordering::Relaxed).saturating_add(1);
        if failures < self.config.threshold {
            return;
        }
        let mut state = self.lock();
        if self.open.load(Ordering::Relaxed) {
            return;
        }
        let now = Instant::now();
        *state = OpenState {
            until: now + self.config.min_backoff,
            backoff: self.config.min_backoff,
            probing: false,
            since: now,
        };
        self.failures.store(0, Ordering::Relaxed);
        self.open.store(true, Ordering::Release);
        notice(Notice::CircuitOpened { target: &self.target, failures, backoff: self.config.min_backoff });
    }

    fn on_abandoned_probe(&self) {
        let mut state = self.lock();
        if state.probing {
            state.probing = false;
            state.until = Instant::now();
        }
    }
}

impl Permit<'_> {
    /// Redis answered (even with an error reply).
    pub(crate) fn success(mut self) {
        self.settled = true;
        self.breaker.on_success();
    }

    /// Redis could not be reached or did not answer in time.
    pub(crate) fn failure(mut self) {
        self.settled = true;
        self.breaker.on_failure(self.probe);
    }
}

impl Drop for Permit<'_> {
    fn drop(&mut self) {
        if self.probe && !self.settled {
            self.breaker.on_abandoned_probe();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn breaker() -> Breaker {
        let config =
            BreakerConfig { threshold: 3, min_backoff: Duration::from_secs(1), max_backoff: Duration::from_secs(4) };
        Breaker::new(config, Arc::from("redis://127.0.0.1:6379"), Duration::from_millis(100))
    }

    fn fail(breaker: &Breaker) {
        breaker.admit().expect("admitted").failure();
    }

    #[tokio::test(start_paused = true)]
    async fn opens_after_consecutive_failures_only() {
        let breaker = breaker();
        fail(&breaker);
        fail(&breaker);
        breaker.admit().unwrap().success();
        fail(&breaker);
        fail(&breaker);
        assert_eq!(breaker.state(), CircuitState::Closed, "a success in between resets the count");
        fail(&breaker);
        assert_eq!(breaker.state(), CircuitState::Open { retry_in: Duration::from_secs(1) });
        assert_eq!(breaker.admit().err(), Some(Duration::from_secs(1)));
    }

    #[tokio::test(start_paused = true)]
    async fn lets_one_probe_through_and_doubles_its_backoff_up_to_the_maximum() {
        let breaker = breaker();
        (0..3).for_each(|_| fail(&breaker));
        let mut expected = Duration::from_secs(1);
        for _ in 0..4 {
            tokio::time::advance(expected).await;
            let probe = breaker.admit().expect("the back-off has passed");
            assert_eq!(breaker.state(), CircuitState::Probing);
            assert_eq!(breaker.admit().err(), Some(Duration::from_millis(100)), "one probe at a time");
            probe.failure();
            expected = (expected * 2).min(Duration::from_secs(4));
            assert_eq!(breaker.state(), CircuitState::Open { retry_in: expected });
        }
        tokio::time::advance(expected).await;
        breaker.admit().unwrap().success();
        assert_eq!(breaker.state(), CircuitState::Closed);
        // Closed again, it takes the full threshold to open, and starts from the first back-off.
        (0..3).for_each(|_| fail(&breaker));
        assert_eq!(breaker.state(), CircuitState::Open { retry_in: Duration::from_secs(1) });
    }

    #[tokio::test(start_paused = true)]
    async fn a_dropped_probe_lets_the_next_call_probe() {
        let breaker = breaker();
        (0..3).for_each(|_| fail(&breaker));
        tokio::time::advance(Duration::from_secs(1)).await;
        drop(breaker.admit().unwrap());
        let probe = breaker.admit().expect("the abandoned probe does not block the breaker");
        probe.success();
        assert_eq!(breaker.state(), CircuitState::Closed);
    }

    #[tokio::test(start_paused = true)]
    async fn a_late_failure_of_an_older_call_does_not_extend_the_backoff() {
        let breaker = breaker();
        let older = breaker.admit().unwrap();
        (0..3).for_each(|_| fail(&breaker));
        older.failure();
        assert_eq!(breaker.state(), CircuitState::Open { retry_in: Duration::from_secs(1) });
    }
}

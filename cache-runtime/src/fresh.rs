//! Fresh, stale, refreshed: the call of a function with `stale`, `soft_timeout`, `hard_timeout`
//! or `refresh_ahead`.
//!
//! An entry is stored for `ttl + stale`. A read tells its age ([`CacheProvider::get_aged`]):
//! under `ttl` it is fresh (a hit), past it stale. A call that finds a stale entry runs the body
//! as the leader of the key's flight, and serves the stale value when the body returns `Err` or
//! `None`, panics, passes `soft_timeout` (the body goes on in a task of its own, and stores its
//! value when it succeeds) or `hard_timeout` (the body is dropped). A hit on an entry older than
//! `refresh_ahead` returns at once and starts the body in a task of its own, as the leader of the
//! key's flight: one refresh per key at a time (per fleet on Redis, where it takes the lease).
//!
//! A body that runs in the background is a flight like any other: an invalidation voids it, and
//! it stores nothing after the invalidation returned. It never panics the process (a panic is
//! caught, logged and counted), and its failures are logged and counted.
//!
//! [`CacheProvider::get_aged`]: crate::CacheProvider::get_aged

use std::any::Any;
use std::future::Future;
use std::marker::PhantomData;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::task::JoinHandle;
use tokio::time::Instant;

use crate::call::{self, missed, read_again, CallSite, Lead, Leased, Mode, Read, StoreRight};
use crate::error::CacheError;
use crate::flight::{Join, Leader, Waited, FLIGHTS};
use crate::key_builder::KeyBuilder;
use crate::observe::Origin;
use crate::outcome::{self, Claim, Outcome, StaleReason};
use crate::registry::{Backend, Slot};
use crate::tags::{TagList, TagSource};
use crate::value::CachedValue;

/// A call's ttl and the options of "fresh, stale, refreshed", as the macro gives them.
#[derive(Debug, Clone, Copy)]
pub struct Fresh {
    ttl: Duration,
    stale: Duration,
    soft_timeout: Option<Duration>,
    hard_timeout: Option<Duration>,
    refresh_ahead: Option<Duration>,
}

impl Fresh {
    /// Entries fresh for `ttl`, and nothing more.
    pub fn new(ttl: Duration) -> Self {
        Fresh { ttl, stale: Duration::ZERO, soft_timeout: None, hard_timeout: None, refresh_ahead: None }
    }

    /// `stale`: entries kept this much longer than `ttl`.
    pub fn stale(mut self, stale: Duration) -> Self {
        self.stale = stale;
        self
    }

    /// `soft_timeout`.
    pub fn soft_timeout(mut self, soft_timeout: Duration) -> Self {
        self.soft_timeout = Some(soft_timeout);
        self
    }

    /// `hard_timeout`.
    pub fn hard_timeout(mut self, hard_timeout: Duration) -> Self {
        self.hard_timeout = Some(hard_timeout);
        self
    }

    /// `refresh_ahead`.
    pub fn refresh_ahead(mut self, refresh_ahead: Duration) -> Self {
        self.refresh_ahead = Some(refresh_ahead);
        self
    }

    /// How long an entry is kept: `ttl + stale`.
    pub fn lifetime(&self) -> Duration {
        self.ttl.saturating_add(self.stale)
    }
}

/// Bodies that run where their caller awaits them (`stale`, `hard_timeout`): any future.
pub struct Foreground;

/// Bodies that may go on after their caller returned (`soft_timeout`, `refresh_ahead`): they run
/// in a task of their own, and must be `Send + 'static` (owned arguments, no `&self`).
pub struct Background;

/// Where a function's bodies run: [`Foreground`] or [`Background`].
pub trait Runs<M: Mode<R>, R, F: Future<Output = R>> {
    /// Starts `job`: in a task of its own, or handed back to run in place.
    fn start(job: Job<M, R, F>) -> Started<M, R, F>;
}

/// A started [`Job`].
// Returned by `start` and matched at once, never kept: boxing the job would cost an allocation
// on every foreground run for nothing.
#[allow(clippy::large_enum_variant)]
pub enum Started<M: Mode<R>, R, F> {
    /// To run in place.
    Inline(Job<M, R, F>),
    /// Running in a task of its own.
    Spawned(JoinHandle<Ran<R>>),
}

impl<M: Mode<R>, R, F: Future<Output = R>> Runs<M, R, F> for Foreground {
    fn start(job: Job<M, R, F>) -> Started<M, R, F> {
        Started::Inline(job)
    }
}

impl<M, R, F> Runs<M, R, F> for Background
where
    M: Mode<R> + 'static,
    R: Send + 'static,
    F: Future<Output = R> + Send + 'static,
{
    fn start(job: Job<M, R, F>) -> Started<M, R, F> {
        Started::Spawned(tokio::spawn(job.run()))
    }
}

/// How a body ran.
pub enum Ran<R> {
    /// It returned.
    Value(R),
    /// It panicked.
    Panicked(Box<dyn Any + Send>),
    /// It ran past `hard_timeout` and was dropped.
    HardTimeout,
    /// A refresh ahead that did not run: another caller refreshed the entry, or refreshes it.
    Skipped,
}

/// A body run as the leader of its key's flight, and what becomes of its value.
pub struct Job<M: Mode<R>, R, F> {
    site: &'static CallSite,
    slot: Arc<Slot>,
    key: String,
    leader: Leader,
    /// `None`: a refresh ahead, which takes its lease in its own task.
    right: Option<StoreRight>,
    /// The call's tags.
    tags: Option<TagList>,
    fresh: Fresh,
    cache_if: Option<fn(&M::Value) -> bool>,
    body: F,
    /// No caller waits for the body any more: a failure is the refresh's own to log and count.
    alone: Arc<AtomicBool>,
    mode: PhantomData<fn() -> (M, R)>,
}

impl<M: Mode<R>, R, F: Future<Output = R>> Job<M, R, F> {
    /// Runs the body (under `hard_timeout`, panics caught), stores what it gave, and ends the
    /// flight.
    pub async fn run(self) -> Ran<R> {
        let Job { site, slot, key, leader, right, tags, fresh, cache_if, body, alone, .. } = self;
        let origin = site.origin(&slot);
        let right = match right {
            Some(right) => right,
            None => match refresh_right::<M, R>(&origin, &slot, &key, fresh).await {
                Some(right) => right,
                None => return Ran::Skipped,
            },
        };
        let mut right = right;
        let tagging = call::stamp(&slot, &mut right, tags).await;
        let mut lead = Lead { leader, right, replaces: false, tagging };
        let running = lead.run_body(CatchUnwind(Box::pin(body)));
        let ran = match fresh.hard_timeout {
            Some(hard_timeout) => tokio::time::timeout(hard_timeout, running).await.ok(),
            None => Some(running.await),
        };
        let failed = match ran {
            Some(Ok(out)) => {
                let kept = M::keep(&out);
                let failed = kept.is_none();
                lead.conclude::<M, R>(&origin, &slot, &key, fresh.lifetime(), cache_if, kept).await;
                if failed && alone.load(Ordering::Relaxed) {
                    origin.refresh_failed(&key, M::FAILURE);
                }
                return Ran::Value(out);
            }
            Some(Err(panic)) => (StaleReason::Panic, Ran::Panicked(panic)),
            None => (StaleReason::HardTimeout, Ran::HardTimeout),
        };
        lead.leader.fail(failed.0);
        drop(lead);
        if alone.load(Ordering::Relaxed) {
            origin.refresh_failed(&key, failed.0);
        }
        failed.1
    }
}

/// A refresh ahead's right to store, once it leads the flight: `None` when another caller
/// refreshed the entry since it was read (it is younger than `refresh_ahead` now), or another
/// instance holds the lease (it refreshes it).
async fn refresh_right<M: Mode<R>, R>(origin: &Origin<'_>, slot: &Slot, key: &str, fresh: Fresh) -> Option<StoreRight> {
    let right =
        match call::lease::<M::Value>(origin, slot, key, &Read::Unusable, &mut || Instant::now() + slot.max_wait).await
        {
            Leased::Right(right) if owns(&right) => right,
            _ => return None,
        };
    let ahead = fresh.refresh_ahead.unwrap_or(fresh.ttl);
    match aged(slot, key, Look::StoreOnly, false).await {
        Ok(Some(Aged { age, .. })) if age < ahead => None,
        _ => Some(right),
    }
}

/// Whether a leader may store: in a store this process owns, or under a lease in Redis.
fn owns(right: &StoreRight) -> bool {
    match right {
        StoreRight::Local => true,
        #[cfg(feature = "redis")]
        StoreRight::Fleet(_) => true,
        _ => false,
    }
}

/// Where the fresh path reads an entry.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Look {
    /// A Redis provider's near cache first, then Redis (filling the near cache): a call's read.
    NearFirst,
    /// The store itself: a refresh's check of what the fleet holds now (a near cache may lag
    /// behind another instance's refresh by one message).
    StoreOnly,
}

/// An entry, its age, and whether a near cache served it.
struct Aged {
    value: CachedValue,
    age: Duration,
    near: bool,
}

/// The age of a value read from a store that keeps no age of its own: from when its writer
/// stored it (the header's time on Redis, kept by the near cache's copy too).
#[cfg(feature = "redis")]
fn age_of(value: CachedValue, near: bool) -> Aged {
    let age = value.stored_at().elapsed().unwrap_or_default();
    Aged { value, age, near }
}

/// Reads `key` and its age.
#[cfg_attr(not(feature = "redis"), allow(unused_variables))]
/// `tagged`: the function has tags (see `call::read`).
async fn aged(slot: &Slot, key: &str, look: Look, tagged: bool) -> Result<Option<Aged>, CacheError> {
    match &slot.backend {
        Backend::Memory(memory) => {
            Ok(memory.get_aged_direct(key.as_bytes()).map(|(value, age)| Aged { value, age, near: false }))
        }
        #[cfg(feature = "redis")]
        Backend::Redis(redis) => {
            if look == Look::StoreOnly {
                return Ok(redis.get_within(key, redis.op_timeout(), tagged).await?.map(|value| age_of(value, false)));
            }
            if let Some(found) = redis.near_serving().and_then(|near| near.get_direct(key.as_bytes())) {
                return Ok(Some(age_of(found, true)));
            }
            // The near cache keeps the value as Redis holds it, with the time it was stored, so
            // that its age stays right there (a hit decodes it).
            let (found, fill) = redis.get_filling(key, redis.op_timeout(), tagged).await;
            let found = found?;
            if let (Some(value), Some(fill)) = (&found, fill) {
                redis.fill_near(fill, key, value.clone());
            }
            Ok(found.map(|value| age_of(value, false)))
        }
        Backend::Other => Ok(slot.provider.get_aged(key).await?.map(|(value, age)| Aged { value, age, near: false })),
    }
}

/// Counts a hit, as a near hit when a Redis provider's near cache served it.
#[cfg_attr(not(feature = "redis"), allow(unused_variables))]
fn count_hit(slot: &Slot, origin: &Origin<'_>, key: &str, found: &CachedValue, near: bool) {
    #[cfg(feature = "redis")]
    if let (true, Backend::Redis(redis)) = (near, &slot.backend) {
        origin.near_hit(key, found);
        redis.near_hit();
        return;
    }
    origin.hit(key, found);
}

/// A cached call with `stale`, `soft_timeout`, `hard_timeout` or `refresh_ahead`: see the module.
pub async fn call_fresh<M, R, F, B, T>(
    site: &'static CallSite,
    key: KeyBuilder,
    tags: T,
    fresh: Fresh,
    cache_if: Option<fn(&M::Value) -> bool>,
    body: F,
) -> R
where
    M: Mode<R>,
    F: Future<Output = R>,
    B: Runs<M, R, F>,
    T: TagSource,
{
    let Some(slot) = site.slot() else {
        outcome::record(Outcome::Bypass);
        return body.await;
    };
    let origin = site.origin(&slot);
    let key = key.finish();
    let read = match aged(&slot, &key, Look::NearFirst, T::TAGGED).await {
        Ok(Some(Aged { value: found, age, near })) => match M::typed(&found, key.as_str()) {
            Ok(value) if age < fresh.ttl => {
                count_hit(&slot, &origin, key.as_str(), &found, near);
                outcome::record(Outcome::Hit);
                if fresh.refresh_ahead.is_some_and(|ahead| age >= ahead) {
                    refresh_ahead::<M, R, F, B>(site, &slot, &key, tags.into_list(), fresh, cache_if, body);
                }
                return M::restore(value);
            }
            // Past what the store keeps it for (a store whose clock runs behind ours): no value.
            Ok(_) if age >= fresh.lifetime() => Read::Unusable,
            Ok(value) => {
                // Until when the stale value may be served: what the store keeps it for.
                let until = crate::duration::from_now(fresh.lifetime().saturating_sub(age));
                let tags = tags.into_list();
                return stale::<M, R, F, B>(site, slot, key, tags, fresh, cache_if, body, (value, until)).await;
            }
            Err(error) => call::failed(&origin, &key, error),
        },
        Ok(None) => Read::Empty,
        Err(error) => call::failed(&origin, &key, error),
    };
    missed::<M, R, F>(site, slot, &key, tags.into_list(), fresh.lifetime(), cache_if, body, read).await
}

/// Starts the refresh of a fresh entry older than `refresh_ahead`, unless a computation of the
/// key runs already.
fn refresh_ahead<M, R, F, B>(
    site: &'static CallSite,
    slot: &Arc<Slot>,
    key: &str,
    tags: Option<TagList>,
    fresh: Fresh,
    cache_if: Option<fn(&M::Value) -> bool>,
    body: F,
) where
    M: Mode<R>,
    F: Future<Output = R>,
    B: Runs<M, R, F>,
{
    let Join::Lead(leader) = FLIGHTS.join(slot.store, key) else { return };
    let job = Job {
        site,
        slot: Arc::clone(slot),
        key: key.to_owned(),
        leader,
        right: None,
        tags,
        fresh,
        cache_if,
        body,
        alone: Arc::new(AtomicBool::new(true)),
        mode: PhantomData,
    };
    // Only a function whose bodies run in the background has `refresh_ahead` (the macro sees to
    // it): a job handed back is dropped, which ends its flight.
    if let Started::Spawned(_) = B::start(job) {
        tracing::debug!(target: crate::observe::TARGET, function = site.function(), "[CACHE REFRESH AHEAD] key={key}");
    }
}

/// A call that found a stale value: the body runs (or the call joins the key's computation), and
/// the stale value is served if that fails.
#[allow(clippy::too_many_arguments)]
async fn stale<M, R, F, B>(
    site: &'static CallSite,
    slot: Arc<Slot>,
    key: String,
    tags: Option<TagList>,
    fresh: Fresh,
    cache_if: Option<fn(&M::Value) -> bool>,
    body: F,
    (stale, until): (M::Value, Instant),
) -> R
where
    M: Mode<R>,
    F: Future<Output = R>,
    B: Runs<M, R, F>,
{
    let origin = site.origin(&slot);
    let serve = |claim: Claim, reason: StaleReason, stale: M::Value| {
        origin.stale_served(&key, reason);
        claim.replace(Outcome::Stale(reason));
        M::restore(stale)
    };
    // How long a caller waits for another's computation before it serves the stale value.
    let patience = fresh.soft_timeout.or(fresh.hard_timeout).map_or(slot.max_wait, |t| t.min(slot.max_wait));
    let timed_out = match (fresh.soft_timeout, fresh.hard_timeout) {
        (Some(_), _) => StaleReason::SoftTimeout,
        _ => StaleReason::HardTimeout,
    };
    let waiter = match FLIGHTS.join(slot.store, &key) {
        Join::Lead(leader) => {
            let right = match call::lease::<M::Value>(&origin, &slot, &key, &Read::Unusable, &mut || {
                Instant::now() + slot.max_wait
            })
            .await
            {
                Leased::Right(right) => right,
                // A lease that does not look again finds no value.
                Leased::Value(_) => StoreRight::Detached,
            };
            let mut leader = leader;
            if matches!(right, StoreRight::Detached) {
                leader.detach();
            }
            origin.miss(&key);
            let claim = outcome::record(Outcome::Miss);
            let alone = Arc::new(AtomicBool::new(false));
            let job = Job::<M, R, F> {
                site,
                slot: Arc::clone(&slot),
                key: key.clone(),
                leader,
                right: Some(right),
                tags,
                fresh,
                cache_if,
                body,
                alone: Arc::clone(&alone),
                mode: PhantomData,
            };
            let ran = match B::start(job) {
                Started::Inline(job) => job.run().await,
                Started::Spawned(mut running) => {
                    let waited = match fresh.soft_timeout {
                        Some(soft_timeout) => tokio::time::timeout(soft_timeout, &mut running).await.ok(),
                        None => Some((&mut running).await),
                    };
                    match waited {
                        // The body goes on in its task; it stores its value if it succeeds.
                        None => {
                            alone.store(true, Ordering::Relaxed);
                            return serve(claim, StaleReason::SoftTimeout, stale);
                        }
                        Some(Ok(ran)) => ran,
                        // The task was cancelled (the runtime shuts down): the body did not end.
                        Some(Err(_)) => Ran::HardTimeout,
                    }
                }
            };
            return match ran {
                // A body that ran past the stale value's keep returns what it gave.
                Ran::Value(out) if M::kept(&out) || Instant::now() >= until => out,
                Ran::Value(_) => serve(claim, M::FAILURE, stale),
                Ran::Panicked(_) => serve(claim, StaleReason::Panic, stale),
                Ran::HardTimeout => serve(claim, StaleReason::HardTimeout, stale),
                // Only a refresh ahead skips its body.
                Ran::Skipped => M::restore(stale),
            };
        }
        Join::Wait(waiter) => waiter,
        Join::AfterStore(waiter) => waiter,
        Join::Cycle => {
            origin.recursion(&key);
            return alone::<M, R, F>(&origin, &key, body, stale, until).await;
        }
    };
    match waiter.wait(patience).await {
        Waited::Value(value) => match M::typed(&value, key.as_str()) {
            Ok(value) => {
                origin.joined(&key);
                outcome::record(Outcome::Joined);
                M::restore(value)
            }
            Err(error) => {
                origin.failed("join", &key, &error);
                alone::<M, R, F>(&origin, &key, body, stale, until).await
            }
        },
        Waited::InStore => match read_again::<M, R>(&slot, &key).await {
            Some(value) => {
                origin.joined(&key);
                outcome::record(Outcome::Joined);
                M::restore(value)
            }
            None => alone::<M, R, F>(&origin, &key, body, stale, until).await,
        },
        Waited::Failed(reason) => serve(outcome::record(Outcome::Miss), reason, stale),
        Waited::TimedOut if fresh.soft_timeout.is_some() || fresh.hard_timeout.is_some() => {
            serve(outcome::record(Outcome::Miss), timed_out, stale)
        }
        Waited::TimedOut => {
            origin.wait_timed_out(&key, patience);
            alone::<M, R, F>(&origin, &key, body, stale, until).await
        }
        // The computation ended without a value (an invalidation voided it, or its caller was
        // dropped): this caller computes for itself.
        Waited::NoValue => alone::<M, R, F>(&origin, &key, body, stale, until).await,
    }
}

/// Runs the body for this caller alone (nothing stored), serving the stale value if it gives
/// nothing to keep, and the stale value is still within its keep (`until`).
async fn alone<M: Mode<R>, R, F: Future<Output = R>>(
    origin: &Origin<'_>,
    key: &str,
    body: F,
    stale: M::Value,
    until: Instant,
) -> R {
    origin.miss(key);
    let claim = outcome::record(Outcome::Miss);
    let out = body.await;
    // A body that ran past the stale value's keep returns what it gave: a value older than
    // `ttl + stale` is never served.
    if M::kept(&out) || Instant::now() >= until {
        return out;
    }
    origin.stale_served(key, M::FAILURE);
    claim.replace(Outcome::Stale(M::FAILURE));
    M::restore(stale)
}

/// A future whose panics are caught: a panicking body becomes a value, so that its flight ends
/// as failed and nothing unwinds through the runtime (or kills a background task unseen).
struct CatchUnwind<F>(Pin<Box<F>>);

impl<F: Future> Future for CatchUnwind<F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        let body = self.get_mut().0.as_mut();
        match std::panic::catch_unwind(AssertUnwindSafe(|| body.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(out)) => Poll::Ready(Ok(out)),
            Err(panic) => Poll::Ready(Err(panic)),
        }
    }
}

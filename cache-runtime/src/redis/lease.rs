//! Leases in Redis: a cold key is computed once per fleet, and an invalidation on any instance
//! wins over a computation in flight on any other.
//!
//! The lease of key `user:1` is the string `<prefix>\0lease:user:1` (a NUL byte after the
//! prefix, which no escaped value holds), holding a token unique to
//! one computation, set with `NX` and a time to live. The leader stores its value only through a
//! script that checks its token ([`STORE_LEASED`](super::scripts::STORE_LEASED)); `delete`,
//! `clear_pattern` and `clear` delete the leases they cover before the entries, so a
//! computation that started before them stores nothing after them.
//!
//! The leader renews its lease while its body runs and gives it up when the body ends without a
//! value, panics or is dropped; if its process dies the lease runs out. Callers on other
//! instances wait for the key's message on the provider's channel (see `notify.rs`), looking
//! again at least every [`POLL`], and take the lease over when it is gone.

use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::LazyLock;
use std::time::Duration;

use tokio::task::AbortHandle;
use tokio::time::Instant;

use super::{scripts, RedisProvider};
use crate::error::CacheError;
use crate::observe;
use crate::value::CachedValue;

/// The longest a waiter goes without looking at the lease again, should a message be lost.
const POLL: Duration = Duration::from_millis(200);

/// Tells this process's tokens from every other's.
static INSTANCE: LazyLock<u64> =
    LazyLock::new(|| RandomState::new().hash_one((std::process::id(), std::time::SystemTime::now())));
static NEXT_TOKEN: AtomicU64 = AtomicU64::new(0);

/// What a new leader found in Redis.
pub(crate) enum Acquired {
    /// A value another instance stored since the caller read the key.
    Value(CachedValue),
    /// The lease: compute, then store under it.
    Leased(Lease),
    /// Another instance holds the lease (with the token given, if it could be read) and callers
    /// do not wait for it ([`fleet_single_flight(false)`](super::RedisProviderBuilder::fleet_single_flight)):
    /// compute, and store nothing.
    Held { holder: Option<String> },
    /// The key holds a Redis value that is not ours: compute, and store nothing.
    Foreign,
    /// Another instance held the lease (the last token seen) for longer than the wait allows.
    TimedOut { holder: Option<String> },
}

/// A computation's lease on a key; dropped without [`RedisProvider::store_leased`], it is given
/// up (in a task of its own, since a drop cannot wait).
pub(crate) struct Lease {
    provider: RedisProvider,
    key: String,
    token: String,
    /// The task that renews the lease, once the body has run for a third of it.
    renewal: Option<AbortHandle>,
    settled: bool,
    /// The tag clock when the lease was taken: the computation's start.
    /// `None` on a cluster, where the clock lives in another slot than the lease: read when a
    /// tagged call asks for it ([`tag_start`](Lease::tag_start)), before its body runs.
    tag_start: Option<u64>,
}

/// What one attempt found.
enum Attempt {
    Value(Vec<u8>),
    Leased(Lease),
    Held(Option<String>),
    Foreign,
}

impl RedisProvider {
    pub(super) fn lease_key(&self, key: &str) -> String {
        super::keyed(&self.inner.lease_prefix, key, self.inner.cluster)
    }

    /// Takes the lease of `key` for a new leader, or waits (until `deadline`) for the instance
    /// that holds it; `look` says to return a value stored meanwhile.
    pub(crate) async fn acquire(&self, key: &str, mut look: bool, deadline: Instant) -> Result<Acquired, CacheError> {
        let watch = self.inner.fleet_waits.then(|| self.inner.notifier.watch(key));
        loop {
            // Made before the attempt, so that a message sent meanwhile is not missed.
            let woken = watch.as_ref().map(|watch| watch.notified());
            let attempt = self.attempt(key, look, self.inner.op_timeout).await?;
            match attempt {
                Attempt::Leased(lease) => return Ok(Acquired::Leased(lease)),
                Attempt::Value(bytes) => match CachedValue::from_vec(bytes, self.inner.codec.clone()) {
                    Ok(value) => return Ok(Acquired::Value(value)),
                    Err(error) => {
                        // Not ours, or not readable: take the lease without looking again.
                        observe::unusable(&self.inner.counters, "redis", "lease", key, &error);
                        look = false;
                        continue;
                    }
                },
                Attempt::Foreign => return Ok(Acquired::Foreign),
                Attempt::Held(holder) => {
                    let Some(woken) = woken else { return Ok(Acquired::Held { holder }) };
                    let left = deadline.saturating_duration_since(Instant::now());
                    if left.is_zero() {
                        return Ok(Acquired::TimedOut { holder });
                    }
                    let _ = tokio::time::timeout(left.min(POLL), woken).await;
                    look = true;
                }
            }
        }
    }

    async fn attempt(&self, key: &str, look: bool, timeout: Duration) -> Result<Attempt, CacheError> {
        let attempt = self.attempt_once(key, look, timeout).await?;
        // On a cluster the script does not see the tags (their marks live in another slot): a
        // value one of them dropped is none, and the lease is taken without looking.
        if let Attempt::Value(bytes) = &attempt {
            if self.inner.cluster && self.tags_dropped(bytes, timeout).await? {
                return self.attempt_once(key, false, timeout).await;
            }
        }
        Ok(attempt)
    }

    async fn attempt_once(&self, key: &str, look: bool, timeout: Duration) -> Result<Attempt, CacheError> {
        let (entry, lease) = (self.full_key(key), self.lease_key(key));
        let cluster = self.inner.cluster;
        let clock = &self.inner.tag_clock;
        let marks = if cluster { "" } else { self.inner.tag_marks.as_str() };
        let token = format!("{:016x}:{}", *INSTANCE, NEXT_TOKEN.fetch_add(1, Ordering::Relaxed));
        let millis = self.inner.lease.as_millis() as u64;
        // Made before the script is sent: if the call is dropped, or the reply does not come in
        // time, after Redis granted the lease, dropping this gives it up (the release checks the
        // token, so giving up a lease never granted does nothing).
        let mut pending = Lease::new(self.clone(), key, token.clone());
        let (code, value) = self
            .run_within("lease", timeout, |mut connection| {
                let (entry, lease, token) = (&entry, &lease, &token);
                async move {
                    let mut invocation = scripts::ACQUIRE.key(entry);
                    invocation.key(lease);
                    // On a cluster the clock lives in another slot: read after the lease.
                    if !cluster {
                        invocation.key(clock);
                    }
                    invocation
                        .arg(token)
                        .arg(millis)
                        .arg(if look { "1" } else { "0" })
                        .arg(marks)
                        .invoke_async::<(i64, Option<Vec<u8>>)>(&mut connection)
                        .await
                }
            })
            .await?
            .map_err(|error| self.replied(error))?;
        if code == 2 {
            pending.tag_start = match cluster {
                // Read when a tagged call asks, before its body starts: an untagged miss on a
                // cluster saves the round trip.
                true => None,
                false => Some(value.and_then(|clock| std::str::from_utf8(&clock).ok()?.parse().ok()).unwrap_or(0)),
            };
            return Ok(Attempt::Leased(pending));
        }
        pending.settled = true;
        Ok(match (code, value) {
            (1, Some(bytes)) => Attempt::Value(bytes),
            (4, _) => Attempt::Foreign,
            (_, holder) => Attempt::Held(holder.and_then(|token| String::from_utf8(token).ok())),
        })
    }

    /// Stores `value` under `lease` if no invalidation voided it: `Ok(false)` when one did.
    pub(crate) async fn store_leased(
        &self,
        lease: Lease,
        key: &str,
        value: &CachedValue,
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        let Some(near) = self.near() else { return self.store_leased_remote(lease, key, value, ttl).await };
        let ticket = near.begin_write(key);
        let stored = self.store_leased_remote(lease, key, value, ttl).await;
        match stored {
            Ok(true) => {
                near.written(ticket, key, value.clone(), ttl);
                self.publish(near, super::Removal::Key(key.to_owned())).await;
            }
            // Voided by an invalidation (which removes the key itself), or unknown.
            _ => near.apply(&super::Removal::Key(key.to_owned())),
        }
        stored
    }

    /// [`store_leased`](Self::store_leased) in Redis, the near cache aside.
    async fn store_leased_remote(
        &self,
        mut lease: Lease,
        key: &str,
        value: &CachedValue,
        ttl: Duration,
    ) -> Result<bool, CacheError> {
        let bytes = value.to_bytes(self.inner.codec.as_ref())?;
        // On a cluster the script cannot read the marks (another slot): they are checked here,
        // before the store. An invalidation between this check and the store still wins: every
        // read checks the marks against the value's start.
        if self.inner.cluster && value.tagging().is_some() && self.tags_dropped(&bytes, self.inner.op_timeout).await? {
            lease.settled = true;
            let token = std::mem::take(&mut lease.token);
            self.release(key, &token).await;
            return Ok(false);
        }
        let (entry, lease_key) = (self.full_key(key), self.lease_key(key));
        let millis = super::ttl_millis(ttl);
        let channel = &self.inner.channel;
        let marks = if self.inner.cluster { "" } else { self.inner.tag_marks.as_str() };
        let stored = self
            .run("set", |mut connection| {
                let (entry, lease_key, bytes, token) = (&entry, &lease_key, &bytes, &lease.token);
                async move {
                    scripts::STORE_LEASED
                        .key(entry)
                        .key(lease_key)
                        .arg(token)
                        .arg(bytes)
                        .arg(millis)
                        .arg(channel)
                        .arg(key)
                        .arg(marks)
                        .invoke_async::<i64>(&mut connection)
                        .await
                }
            })
            .await?
            .map_err(|error| self.replied(error))?;
        // The script gave the lease up whatever it found.
        lease.settled = true;
        match stored {
            1 => Ok(true),
            0 => Ok(false),
            _ => Err(Self::foreign(key)),
        }
    }

    /// Whether the lease of `key` is still the one `holder` took: no invalidation voided it and
    /// its computation has not ended. Anything else, an error included, is `false`.
    pub(crate) async fn still_held(&self, key: &str, holder: &str) -> bool {
        let lease_key = self.lease_key(key);
        let found = self
            .run("lease", |mut connection| {
                let lease_key = &lease_key;
                async move { ::redis::cmd("GET").arg(lease_key).query_async::<Option<String>>(&mut connection).await }
            })
            .await;
        matches!(found, Ok(Ok(Some(token))) if token == holder)
    }

    /// Gives `lease` up; true when it was still intact (no invalidation voided it).
    pub(crate) async fn give_up(&self, mut lease: Lease, key: &str) -> bool {
        lease.settled = true;
        let token = std::mem::take(&mut lease.token);
        self.release(key, &token).await
    }

    async fn renew(&self, key: &str, token: &str) -> Result<bool, CacheError> {
        let lease_key = self.lease_key(key);
        let millis = self.inner.lease.as_millis() as u64;
        let renewed = self
            .run("lease", |mut connection| {
                let lease_key = &lease_key;
                async move {
                    scripts::RENEW.key(lease_key).arg(token).arg(millis).invoke_async::<i64>(&mut connection).await
                }
            })
            .await?
            .map_err(|error| self.replied(error))?;
        Ok(renewed == 1)
    }

    /// Gives up the lease of `key` if `token` still holds it, and tells the waiters; true when
    /// it did. A failure is counted: the lease then runs out by itself, and waiters take over.
    async fn release(&self, key: &str, token: &str) -> bool {
        let lease_key = self.lease_key(key);
        let channel = &self.inner.channel;
        let released = self
            .run("lease", |mut connection| {
                let lease_key = &lease_key;
                async move {
                    scripts::RELEASE
                        .key(lease_key)
                        .arg(token)
                        .arg(channel)
                        .arg(key)
                        .invoke_async::<i64>(&mut connection)
                        .await
                }
            })
            .await;
        match released.map(|reply| reply.map_err(|e| self.replied(e))) {
            Ok(Ok(released)) => released == 1,
            Err(error) | Ok(Err(error)) => {
                observe::unusable(&self.inner.counters, "redis", "lease", key, &error);
                false
            }
        }
    }
}

impl Lease {
    fn new(provider: RedisProvider, key: &str, token: String) -> Lease {
        Lease { provider, key: key.to_owned(), token, renewal: None, settled: false, tag_start: None }
    }

    /// The tag clock when the lease was taken: the start of the computation it covers.
    ///
    /// On a cluster it is read the first time it is asked for (only tagged calls ask): ask
    /// before the body runs. If Redis does not answer, the start is 0, below every mark: such a
    /// value is dropped once any of its tags was ever invalidated (a miss, never a value that
    /// outlived an invalidation).
    pub(crate) async fn tag_start(&mut self) -> u64 {
        if let Some(start) = self.tag_start {
            return start;
        }
        let start = self.provider.tag_clock_now("lease").await.unwrap_or(0);
        self.tag_start = Some(start);
        start
    }

    /// Runs `body`, renewing the lease every third of its length while it runs. Most bodies end
    /// before the first renewal is due: the renewing task is only started for those that don't.
    pub(crate) async fn keep_alive<F: std::future::Future>(&mut self, body: F) -> F::Output {
        let period = self.provider.inner.lease / 3;
        let mut body = std::pin::pin!(body);
        // The timeout polls the body before its clock: a body that is ready is never renewed.
        if let Ok(out) = tokio::time::timeout(period, &mut body).await {
            return out;
        }
        let (provider, key, token) = (self.provider.clone(), self.key.clone(), self.token.clone());
        let renewal = tokio::spawn(async move {
            let mut tick = tokio::time::interval(period);
            loop {
                tick.tick().await;
                // A lease that is gone (voided, or run out while Redis was unreachable) is not
                // taken again: the store will find out and store nothing.
                if let Ok(false) = provider.renew(&key, &token).await {
                    return;
                }
            }
        });
        self.renewal = Some(renewal.abort_handle());
        body.await
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if let Some(renewal) = &self.renewal {
            renewal.abort();
        }
        if self.settled {
            return;
        }
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let (provider, key, token) =
                (self.provider.clone(), std::mem::take(&mut self.key), std::mem::take(&mut self.token));
            runtime.spawn(async move { provider.release(&key, &token).await });
        }
    }
}

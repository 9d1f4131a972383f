//! The near cache: a [`MemoryProvider`] in front of Redis, kept coherent across instances.
//!
//! Reads look in memory first, then in Redis (filling memory with what they found, for the time
//! Redis has left on the entry); writes go to both. Every write and removal is published on the
//! channel `<prefix>__cache:near` after Redis has it, and each instance removes what a message
//! names from its own near cache. A message carries the publishing instance's id: an instance
//! skips its own messages, having already done locally what they say.
//!
//! # Fills and invalidations
//!
//! A fill from a Redis read can race with an invalidation: the read may return the old value
//! after the message that removes it was handled. So each fill holds a [`Ticket`], taken before
//! it went to Redis: the generation of the key's stripe (bumped by every removal and write of a
//! key in it) and the epoch of the whole cache (bumped by every pattern removal, flush and change
//! of state). A fill goes in only if neither moved; a write goes in only if no other write or
//! removal of its stripe started since it did, else it removes the key. Check and insert happen
//! under the stripe's lock, and a fill looks at the epoch again afterwards, so that a flush or a
//! pattern removal running meanwhile cannot miss it.
//!
//! # The channel
//!
//! One dedicated pub/sub connection per provider (on a Redis Cluster, to one node: a classic
//! `PUBLISH` reaches every node; when that node is lost, the next node given that answers). While it is subscribed, the near cache serves
//! ([`State::Live`]). When it is lost, the watcher asks Redis for a `PING`: if Redis answers,
//! messages may have been missed while others write, so the near cache is flushed and bypassed
//! ([`State::Bypassed`]) until the subscription is back. If Redis does not answer, nobody can
//! write: the near cache keeps serving what it holds and keeps what calls compute
//! ([`State::Outage`]) until Redis answers again. Removals made meanwhile apply locally at once
//! and are queued; when the subscription is back, the near cache is flushed (it may hold what
//! another instance invalidated just before Redis went away) and the queue is replayed to Redis
//! and published.

use std::collections::VecDeque;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, AtomicU8, Ordering::SeqCst};
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::time::Duration;

use futures_util::StreamExt;
use tokio::sync::oneshot;

use super::connection::Subscriber;
use super::{Inner, RedisProvider};
use crate::error::CacheError;
use crate::key::Pattern;
use crate::memory::MemoryProvider;
use crate::observe;
use crate::provider::CacheProvider;
use crate::value::CachedValue;

/// The channel, after the prefix, on which removals are published.
pub(super) const CHANNEL: &str = "__cache:near";

/// How long the watcher waits between two attempts to subscribe again.
const RESUBSCRIBE: Duration = Duration::from_millis(100);

/// How often an idle watcher checks that its provider still exists.
const IDLE_CHECK: Duration = Duration::from_secs(1);

/// Stripes of generations: a removal of one key rejects only the fills of keys in its stripe.
const STRIPES: usize = 256;

/// The most removals kept for replay; past it, the queue becomes one clear of the whole cache.
const MAX_QUEUED: usize = 10_000;

/// What the near cache does, by the state of its channel.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[repr(u8)]
pub(super) enum State {
    /// Subscribed: serves, and is filled by reads and writes.
    Live = 0,
    /// The channel is lost while Redis answers (or not yet up): empty and bypassed.
    Bypassed = 1,
    /// Redis does not answer: serves what it holds and keeps what calls compute.
    Outage = 2,
}

/// What a write or removal took away, as published and as queued for replay.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) enum Removal {
    Key(String),
    Pattern(String),
    All,
    /// A tag invalidated, with its mark: the near cache takes the mark, and drops the entries it
    /// holds with the tag on their next read.
    Tag(String, u64),
}

/// Where a fill or write stood when it started: see the module docs.
#[derive(Debug, Clone, Copy)]
pub(crate) struct Ticket {
    epoch: u64,
    stripe: usize,
    generation: u64,
}

/// The near cache of one provider.
pub(super) struct Near {
    memory: MemoryProvider,
    state: AtomicU8,
    epoch: AtomicU64,
    stripes: Box<[Mutex<u64>]>,
    /// Tells this instance's messages from the others'.
    instance: u64,
    /// Removals to replay when Redis is back.
    queued: Mutex<VecDeque<Removal>>,
}

/// An id of its own for each near cache: two providers in one process are two instances.
fn instance_id() -> u64 {
    static NEXT: AtomicU64 = AtomicU64::new(0);
    RandomState::new().hash_one((std::process::id(), std::time::SystemTime::now(), NEXT.fetch_add(1, SeqCst)))
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // Each critical section is a bump, an insert or a removal: a panic cannot leave it half-done.
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

impl Near {
    pub(super) fn new(memory: MemoryProvider) -> Near {
        Near {
            memory,
            state: AtomicU8::new(State::Bypassed as u8),
            epoch: AtomicU64::new(0),
            stripes: (0..STRIPES).map(|_| Mutex::new(0)).collect(),
            instance: instance_id(),
            queued: Mutex::new(VecDeque::new()),
        }
    }

    pub(super) fn memory(&self) -> &MemoryProvider {
        &self.memory
    }

    pub(super) fn state(&self) -> State {
        match self.state.load(SeqCst) {
            0 => State::Live,
            2 => State::Outage,
            _ => State::Bypassed,
        }
    }

    /// The memory store, when it may serve.
    #[inline]
    pub(super) fn serving(&self) -> Option<&MemoryProvider> {
        (self.state.load(SeqCst) != State::Bypassed as u8).then_some(&self.memory)
    }

    /// Changes the state. Leaving [`State::Live`] for anything but an outage goes with a
    /// flush, which rejects the fills in flight; an outage keeps what it holds.
    fn set_state(&self, state: State) {
        self.state.store(state as u8, SeqCst);
    }

    fn stripe(key: &str) -> usize {
        // FNV-1a: the stripe only spreads keys, it needs no defence against chosen keys.
        let hash = key
            .bytes()
            .fold(0xcbf2_9ce4_8422_2325_u64, |hash, byte| (hash ^ u64::from(byte)).wrapping_mul(0x0100_0000_01b3));
        (hash % STRIPES as u64) as usize
    }

    /// A ticket for a read of `key` about to go to Redis.
    pub(super) fn ticket(&self, key: &str) -> Ticket {
        let stripe = Self::stripe(key);
        let epoch = self.epoch.load(SeqCst);
        let generation = *lock(&self.stripes[stripe]);
        Ticket { epoch, stripe, generation }
    }

    /// A ticket for a write of `key` about to go to Redis: it rejects the fills and writes of the
    /// stripe that started before it.
    pub(super) fn begin_write(&self, key: &str) -> Ticket {
        let stripe = Self::stripe(key);
        let epoch = self.epoch.load(SeqCst);
        let mut generation = lock(&self.stripes[stripe]);
        *generation += 1;
        Ticket { epoch, stripe, generation: *generation }
    }

    /// Puts what a Redis read found in memory, unless a removal or write came since the ticket.
    pub(super) fn fill(&self, ticket: Ticket, key: &str, value: CachedValue, ttl: Duration) {
        if self.state() == State::Live {
            self.insert_if_untouched(ticket, key, value, ttl);
        }
    }

    /// Inserts `value` unless a removal or write of its stripe, or a flush, came since `ticket`.
    fn insert_if_untouched(&self, ticket: Ticket, key: &str, value: CachedValue, ttl: Duration) {
        if ttl.is_zero() {
            return;
        }
        {
            let generation = lock(&self.stripes[ticket.stripe]);
            if *generation != ticket.generation || self.epoch.load(SeqCst) != ticket.epoch {
                return;
            }
            self.memory.insert(key, value, ttl);
        }
        self.recheck(ticket, key);
    }

    /// Puts what a write stored in Redis in memory, or removes the key when another write or
    /// removal of its stripe started meanwhile (which of the two Redis kept is unknown here).
    pub(super) fn written(&self, ticket: Ticket, key: &str, value: CachedValue, ttl: Duration) {
        {
            let mut generation = lock(&self.stripes[ticket.stripe]);
            let alone = *generation == ticket.generation && self.epoch.load(SeqCst) == ticket.epoch;
            if alone && self.state() == State::Live && !ttl.is_zero() {
                self.memory.insert(key, value, ttl);
            } else {
                self.memory.remove_live(key.as_bytes());
            }
            *generation += 1;
        }
        self.recheck(ticket, key);
    }

    /// A flush or pattern removal ran while `key` went in: it may have missed it.
    fn recheck(&self, ticket: Ticket, key: &str) {
        if self.epoch.load(SeqCst) != ticket.epoch {
            self.remove_key(key);
        }
    }

    /// Keeps a value computed while Redis did not answer, to serve until it does, unless a
    /// removal of the key reached this cache since the computation started (the ticket).
    pub(super) fn keep(&self, ticket: Ticket, key: &str, value: CachedValue, ttl: Duration) {
        if self.state() != State::Bypassed {
            self.insert_if_untouched(ticket, key, value, ttl);
        }
    }

    /// Whether removals wait to be replayed.
    fn has_queued(&self) -> bool {
        !lock(&self.queued).is_empty()
    }

    fn remove_key(&self, key: &str) {
        let mut generation = lock(&self.stripes[Self::stripe(key)]);
        *generation += 1;
        self.memory.remove_live(key.as_bytes());
    }

    /// Removes what `removal` names from memory.
    pub(super) fn apply(&self, removal: &Removal) {
        match removal {
            Removal::Key(key) => self.remove_key(key),
            Removal::Pattern(pattern) => match Pattern::parse(pattern) {
                Ok(pattern) => {
                    self.epoch.fetch_add(1, SeqCst);
                    self.memory.remove_matching(|key| pattern.matches(key));
                }
                // Not a pattern this build reads: remove everything rather than too little.
                Err(_) => self.flush(),
            },
            Removal::All => self.flush(),
            Removal::Tag(tag, mark) => self.memory.note_tag(tag, *mark),
        }
    }

    /// Empties memory; fills in flight are rejected.
    pub(super) fn flush(&self) {
        self.epoch.fetch_add(1, SeqCst);
        self.memory.remove_matching(|_| true);
    }

    /// Redis answered an operation: if it was thought down, what the near cache holds may have
    /// been invalidated by another instance since, and the channel is not back yet.
    #[inline]
    pub(super) fn redis_answered(&self) {
        if self.state.load(SeqCst) == State::Outage as u8
            && self.state.compare_exchange(State::Outage as u8, State::Bypassed as u8, SeqCst, SeqCst).is_ok()
        {
            self.epoch.fetch_add(1, SeqCst);
        }
    }

    /// Queues a removal that did not reach Redis, to replay when it is back.
    pub(super) fn queue(&self, removal: Removal) {
        let mut queued = lock(&self.queued);
        if queued.front() == Some(&Removal::All) {
            // Everything goes anyway.
            return;
        }
        if removal == Removal::All || queued.len() >= MAX_QUEUED {
            queued.clear();
            queued.push_back(Removal::All);
            return;
        }
        if queued.back() != Some(&removal) {
            queued.push_back(removal);
        }
    }

    fn take_queued(&self) -> Vec<Removal> {
        lock(&self.queued).drain(..).collect()
    }

    /// The message that tells the other instances about `removal`.
    pub(super) fn message(&self, removal: &Removal) -> String {
        let id = self.instance;
        match removal {
            Removal::Key(key) => format!("{id:016x}k{key}"),
            Removal::Pattern(pattern) => format!("{id:016x}p{pattern}"),
            Removal::All => format!("{id:016x}c"),
            Removal::Tag(tag, mark) => format!("{}{mark} {tag}", self.tag_message_head()),
        }
    }

    /// What a tag's message says before its mark (the `INVALIDATE_TAG` script writes the rest:
    /// the mark, a space, the tag).
    pub(super) fn tag_message_head(&self) -> String {
        format!("{:016x}t", self.instance)
    }

    /// Handles a message from the channel: what another instance removed.
    fn receive(&self, message: &str) {
        let Some((id, rest)) = message.split_at_checked(16) else { return };
        if u64::from_str_radix(id, 16).is_ok_and(|id| id == self.instance) {
            return;
        }
        let removal = match rest.split_at_checked(1) {
            Some(("k", key)) => Removal::Key(key.to_owned()),
            Some(("p", pattern)) => Removal::Pattern(pattern.to_owned()),
            Some(("t", tagged)) => match tagged.split_once(' ').and_then(|(mark, tag)| Some((mark.parse().ok()?, tag)))
            {
                Some((mark, tag)) => Removal::Tag(tag.to_owned(), mark),
                None => Removal::All,
            },
            // A message this build does not read: remove everything rather than too little.
            _ => Removal::All,
        };
        self.apply(&removal);
    }
}

/// A Redis read that may fill the near cache with what it found: see
/// [`RedisProvider::get_filling`].
pub(crate) struct Fill {
    ticket: Ticket,
    ttl: Duration,
}

impl RedisProvider {
    pub(super) fn near(&self) -> Option<&Near> {
        self.inner.near.as_ref()
    }

    /// The near cache's store when it may serve: what the runtime's hit path reads.
    #[inline]
    pub(crate) fn near_serving(&self) -> Option<&MemoryProvider> {
        self.inner.near.as_ref()?.serving()
    }

    /// Counts a hit served by the near cache (the provider's own counters count it as a hit too).
    #[inline]
    pub(crate) fn near_hit(&self) {
        if let Some(near) = &self.inner.near {
            near.memory().counters().record_hit();
        }
    }

    /// Reads `key` from Redis, with what is needed to put the value found in the near cache
    /// afterwards ([`fill_near`](Self::fill_near)): `None` without a near cache, or while it does
    /// not take fills. The time Redis has left on the entry comes with it, in the same round trip.
    /// `tagged`: see [`read`](Self::read).
    pub(crate) async fn get_filling(
        &self,
        key: &str,
        timeout: Duration,
        tagged: bool,
    ) -> (Result<Option<CachedValue>, CacheError>, Option<Fill>) {
        let ticket = match self.near() {
            Some(near) if near.state() == State::Live => near.ticket(key),
            _ => return (self.get_within(key, timeout, tagged).await, None),
        };
        let (bytes, ttl) = match self.read(key, timeout, true, tagged).await {
            Err(error) => return (Err(error), None),
            Ok(None) => return (Ok(None), None),
            Ok(Some(found)) => found,
        };
        let fill =
            u64::try_from(ttl).ok().filter(|&ms| ms > 0).map(|ms| Fill { ticket, ttl: Duration::from_millis(ms) });
        (CachedValue::from_vec(bytes, Arc::clone(&self.inner.codec)).map(Some), fill)
    }

    /// Puts `value`, read by [`get_filling`](Self::get_filling) and made ready to serve, in the
    /// near cache, unless a write or removal of the key came since the read started.
    pub(crate) fn fill_near(&self, fill: Fill, key: &str, value: CachedValue) {
        if let Some(near) = self.near() {
            near.fill(fill.ticket, key, value, fill.ttl);
        }
    }

    /// A ticket for a computation about to start while Redis does not answer: `None` without a
    /// near cache, or while it is bypassed.
    pub(crate) fn near_ticket(&self, key: &str) -> Option<Ticket> {
        let near = self.near()?;
        (near.state() != State::Bypassed).then(|| near.ticket(key))
    }

    /// The near cache's tag clock: the start of a computation that runs while Redis does not
    /// answer (0 without a near cache).
    pub(crate) fn near_tag_clock(&self) -> u64 {
        self.near().map_or(0, |near| near.memory.tag_clock())
    }

    /// Keeps a value computed while Redis did not answer in the near cache, to serve until it
    /// does (see [`near_ticket`](Self::near_ticket)).
    pub(crate) fn keep_near(&self, ticket: Ticket, key: &str, value: CachedValue, ttl: Duration) {
        if let Some(near) = self.near() {
            near.keep(ticket, key, value, ttl);
        }
    }

    /// Tells the other instances about a removal that Redis has, or queues it if Redis did not
    /// answer; `result` is what the Redis side returned, passed through. The near cache of this
    /// instance removes it either way.
    pub(super) async fn removed<T>(&self, removal: Removal, result: Result<T, CacheError>) -> Result<T, CacheError> {
        let Some(near) = self.near() else { return result };
        near.apply(&removal);
        match &result {
            Ok(_) => self.publish(near, removal).await,
            Err(error) if unavailable(error) => near.queue(removal),
            Err(_) => {}
        }
        result
    }

    /// Publishes `removal`; queued for replay if Redis does not take it.
    pub(super) async fn publish(&self, near: &Near, removal: Removal) {
        let (channel, message) = (&self.inner.near_channel, near.message(&removal));
        let published = self
            .run("publish", |mut connection| {
                let message = &message;
                async move { ::redis::cmd("PUBLISH").arg(channel).arg(message).query_async::<i64>(&mut connection).await }
            })
            .await
            .and_then(|reply| reply.map_err(|error| self.replied(error)));
        if let Err(error) = published {
            observe::unusable(&self.inner.counters, "redis", "publish", &message, &error);
            near.queue(removal);
        }
    }

    /// Replays the removals queued while Redis did not answer; from the first that fails on,
    /// they stay queued.
    async fn replay(&self, near: &Near) {
        let mut queued = near.take_queued().into_iter();
        while let Some(removal) = queued.next() {
            let result = match &removal {
                Removal::Key(key) => self.delete_one(key).await.map(drop),
                Removal::Pattern(pattern) => match Pattern::parse(pattern) {
                    Ok(parsed) => self.delete_matching(Some(&parsed)).await.map(drop),
                    Err(_) => continue,
                },
                Removal::All => self.delete_matching(None).await.map(drop),
                // The script publishes the tag itself, with the mark Redis gave it.
                Removal::Tag(tag, floor) => match self.mark_tag(tag, *floor).await {
                    Ok(_) => continue,
                    Err(error) => Err(error),
                },
            };
            match result {
                Ok(()) => self.publish(near, removal).await,
                Err(error) => {
                    observe::unusable(&self.inner.counters, "redis", "replay", "", &error);
                    near.queue(removal);
                    queued.for_each(|removal| near.queue(removal));
                    return;
                }
            }
        }
    }

    /// Starts the watcher of the channel; the receiver hears when it first subscribed.
    pub(super) fn watch_near(&self, subscriber: Arc<Subscriber>, connect_timeout: Duration) -> oneshot::Receiver<()> {
        let (ready, subscribed) = oneshot::channel();
        tokio::spawn(watch(Arc::downgrade(&self.inner), subscriber, connect_timeout, ready));
        subscribed
    }
}

/// Whether an error says that Redis did not answer (as opposed to a reply it gave).
pub(super) fn unavailable(error: &CacheError) -> bool {
    matches!(error, CacheError::Timeout { .. } | CacheError::Connection { .. } | CacheError::CircuitOpen { .. })
}

/// Subscribes to the channel and applies what it says, until the provider is dropped; on a lost
/// connection, decides between [`State::Bypassed`] and [`State::Outage`], then subscribes again.
async fn watch(inner: Weak<Inner>, subscriber: Arc<Subscriber>, connect_timeout: Duration, ready: oneshot::Sender<()>) {
    let mut ready = Some(ready);
    loop {
        let Some(channel) = inner.upgrade().map(|inner| inner.near_channel.clone()) else { return };
        let subscribing = async {
            let mut pubsub = subscriber.pubsub().await?;
            pubsub.subscribe(&channel).await?;
            Ok::<_, redis::RedisError>(pubsub)
        };
        if let Ok(Ok(pubsub)) = tokio::time::timeout(connect_timeout, subscribing).await {
            let Some(provider) = inner.upgrade().map(|inner| RedisProvider { inner }) else { return };
            let Some(near) = provider.near() else { return };
            let was = near.state();
            // Whatever was missed while unsubscribed is gone with the flush.
            near.flush();
            near.set_state(State::Live);
            if was != State::Live {
                tracing::info!(target: observe::TARGET, url = %provider.url(), "near cache: invalidation channel subscribed, serving");
            }
            if let Some(ready) = ready.take() {
                let _ = ready.send(());
            }
            provider.replay(near).await;
            drop(provider);
            let mut messages = pubsub.into_on_message();
            loop {
                // Removals that did not reach Redis (it hung, say, without the channel breaking)
                // are tried again at a short interval.
                let queued = inner.upgrade().is_some_and(|inner| inner.near.as_ref().is_some_and(Near::has_queued));
                let wait = if queued { RESUBSCRIBE } else { IDLE_CHECK };
                match tokio::time::timeout(wait, messages.next()).await {
                    Ok(Some(message)) => {
                        let Some(inner) = inner.upgrade() else { return };
                        if let (Some(near), Ok(text)) = (&inner.near, message.get_payload::<String>()) {
                            near.receive(&text);
                        }
                    }
                    Ok(None) => break,
                    Err(_) if inner.strong_count() == 0 => return,
                    Err(_) => {}
                }
                if queued {
                    let Some(provider) = inner.upgrade().map(|inner| RedisProvider { inner }) else { return };
                    if let Some(near) = provider.near() {
                        provider.replay(near).await;
                    }
                }
            }
            let Some(provider) = inner.upgrade().map(|inner| RedisProvider { inner }) else { return };
            lost(&provider).await;
            // On a cluster, the next node is tried.
            subscriber.lost();
        }
        tokio::time::sleep(RESUBSCRIBE).await;
    }
}

/// The subscription's connection is gone: bypass the near cache if Redis still answers (others
/// may write and this instance would not hear of it), else serve it through the outage.
async fn lost(provider: &RedisProvider) {
    let Some(near) = provider.near() else { return };
    // Not through `run`: a success there would count as Redis answering during an outage.
    let answered = tokio::time::timeout(provider.inner.op_timeout, provider.inner.connection.clone().answers())
        .await
        .unwrap_or(false);
    if answered {
        near.set_state(State::Bypassed);
        near.flush();
        tracing::warn!(target: observe::TARGET, url = %provider.url(), "near cache: invalidation channel lost while redis answers: emptied and bypassed until it is back");
    } else {
        near.set_state(State::Outage);
        tracing::warn!(target: observe::TARGET, url = %provider.url(), "near cache: redis does not answer: serving what the near cache holds until it does");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn near() -> Near {
        let near = Near::new(MemoryProvider::new());
        near.set_state(State::Live);
        near
    }

    fn value(n: u64) -> CachedValue {
        CachedValue::new(n)
    }

    fn held(near: &Near, key: &str) -> Option<u64> {
        near.serving()?.get_direct(key.as_bytes()).map(|found| found.to_typed::<u64, str>(key).unwrap())
    }

    const TTL: Duration = Duration::from_secs(60);

    #[test]
    fn a_fill_that_started_before_a_removal_is_rejected() {
        let near = near();
        let ticket = near.ticket("k");
        near.receive(&format!("{:016x}kk", near.instance ^ 1));
        near.fill(ticket, "k", value(1), TTL);
        assert_eq!(held(&near, "k"), None);
        let ticket = near.ticket("k");
        near.fill(ticket, "k", value(2), TTL);
        assert_eq!(held(&near, "k"), Some(2));
    }

    #[test]
    fn a_fill_that_started_before_a_pattern_removal_or_a_flush_is_rejected() {
        let near = near();
        let ticket = near.ticket("user:1");
        near.apply(&Removal::Pattern("order:*".into()));
        near.fill(ticket, "user:1", value(1), TTL);
        assert_eq!(held(&near, "user:1"), None);
        let ticket = near.ticket("user:1");
        near.flush();
        near.fill(ticket, "user:1", value(1), TTL);
        assert_eq!(held(&near, "user:1"), None);
    }

    #[test]
    fn of_two_overlapping_writes_neither_stays() {
        let near = near();
        let first = near.begin_write("k");
        let second = near.begin_write("k");
        near.written(second, "k", value(2), TTL);
        assert_eq!(held(&near, "k"), Some(2));
        // Redis may have kept either: the first to finish after another started removes the key.
        near.written(first, "k", value(1), TTL);
        assert_eq!(held(&near, "k"), None);
    }

    #[test]
    fn a_read_that_started_before_a_write_ended_does_not_fill() {
        let near = near();
        let write = near.begin_write("k");
        let read = near.ticket("k");
        near.written(write, "k", value(2), TTL);
        near.fill(read, "k", value(1), TTL);
        assert_eq!(held(&near, "k"), Some(2));
    }

    #[test]
    fn own_messages_are_skipped_and_others_applied() {
        let near = near();
        near.memory.insert("k", value(1), TTL);
        near.receive(&near.message(&Removal::Key("k".into())));
        assert_eq!(held(&near, "k"), Some(1));
        near.receive(&format!("{:016x}kk", near.instance.wrapping_add(1)));
        assert_eq!(held(&near, "k"), None);
        near.memory.insert("a:1", value(1), TTL);
        near.memory.insert("b:1", value(1), TTL);
        near.receive(&format!("{:016x}pa:*", near.instance.wrapping_add(1)));
        assert_eq!((held(&near, "a:1"), held(&near, "b:1")), (None, Some(1)));
        near.receive(&format!("{:016x}c", near.instance.wrapping_add(1)));
        assert_eq!(held(&near, "b:1"), None);
    }

    #[test]
    fn bypassed_it_serves_nothing_and_is_not_filled() {
        let near = near();
        near.set_state(State::Bypassed);
        assert!(near.serving().is_none());
        let ticket = near.ticket("k");
        near.fill(ticket, "k", value(1), TTL);
        near.keep(ticket, "k", value(1), TTL);
        assert_eq!(near.memory.get_direct(b"k").map(|_| ()), None);
    }

    #[test]
    fn in_an_outage_it_keeps_computed_values_until_redis_answers() {
        let near = near();
        near.set_state(State::Outage);
        let ticket = near.ticket("k");
        near.keep(ticket, "k", value(3), TTL);
        assert_eq!(held(&near, "k"), Some(3));
        // A computation that started before a removal is not kept.
        let ticket = near.ticket("k");
        near.apply(&Removal::Key("k".into()));
        near.keep(ticket, "k", value(4), TTL);
        assert_eq!(held(&near, "k"), None);
        let ticket = near.ticket("k");
        near.keep(ticket, "k", value(3), TTL);
        near.redis_answered();
        assert_eq!(near.state(), State::Bypassed);
        assert!(near.serving().is_none());
    }

    #[test]
    fn the_replay_queue_is_bounded_and_skips_repeats() {
        let near = near();
        near.queue(Removal::Key("a".into()));
        near.queue(Removal::Key("a".into()));
        near.queue(Removal::Pattern("b:*".into()));
        assert_eq!(near.take_queued(), vec![Removal::Key("a".into()), Removal::Pattern("b:*".into())]);
        for n in 0..=MAX_QUEUED {
            near.queue(Removal::Key(n.to_string()));
        }
        assert_eq!(near.take_queued(), vec![Removal::All]);
    }
}

//! Single-flight: concurrent misses of one key wait for one computation.
//!
//! The first caller to miss a key becomes its leader and runs the body; later callers of the same
//! key find its flight and wait on a `watch` channel. The leader publishes the value when it has
//! one. If it does not (the body returned `Err` or `None`, panicked, or its future was dropped),
//! its guard drops the sender without a value: every waiter wakes and they start over, so one of
//! them becomes the next leader. The map's lock is only held to look a key up, never across a
//! computation, and hits never touch it.
//!
//! Flights are global and keyed by store and key, so that every handle on one store (clones of a
//! provider, `with_provider` scopes in many tasks) shares them. A store is recognised by the
//! address of its [`StatsCounters`](crate::StatsCounters), which all its clones share.

use std::collections::HashMap;
use std::hash::{BuildHasher, RandomState};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{LazyLock, Mutex, MutexGuard};

use tokio::sync::watch;

use crate::CachedValue;

const SHARDS: usize = 32;

type Receiver = watch::Receiver<Option<CachedValue>>;

/// Identifies a store: see the module docs.
pub(crate) type StoreId = usize;

/// The running flights, per store, per key, each with the id of its leader.
type Shard = HashMap<StoreId, HashMap<String, (u64, Receiver)>>;

/// The flights of every store.
pub(crate) static FLIGHTS: LazyLock<Flights> = LazyLock::new(Flights::new);

/// Running computations, sharded by key.
pub(crate) struct Flights {
    shards: Box<[Mutex<Shard>]>,
    hasher: RandomState,
    /// Bumped each time a flight ends, so that a caller who missed before a flight ended and looks
    /// for it after knows to read the cache again instead of computing a second time.
    finished: AtomicU64,
    /// Numbers the flights, so that a leader removes only its own.
    next_id: AtomicU64,
}

/// What a caller who missed a key is to do.
pub(crate) enum Join<'a> {
    /// Run the body, then [`Leader::publish`] the value.
    Leader(Leader<'a>),
    /// Wait for the running flight.
    Wait(Waiter),
    /// A flight ended since the caller read the cache: read it again.
    ReadAgain,
}

impl Flights {
    pub(crate) fn new() -> Self {
        Flights {
            shards: (0..SHARDS).map(|_| Mutex::new(HashMap::new())).collect(),
            hasher: RandomState::new(),
            finished: AtomicU64::new(0),
            next_id: AtomicU64::new(0),
        }
    }

    /// Taken before reading the cache and handed to [`join`](Self::join) after a miss.
    pub(crate) fn epoch(&self) -> u64 {
        self.finished.load(Ordering::Acquire)
    }

    fn shard(&self, key: &str) -> MutexGuard<'_, Shard> {
        let index = self.hasher.hash_one(key) as usize % SHARDS;
        // A panic while the lock was held cannot leave the map half-written: every critical
        // section is a single insert, lookup or remove.
        self.shards[index].lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Joins the flight of `key` in `store`, or starts one.
    pub(crate) fn join<'a>(&'a self, store: StoreId, key: &str, epoch: Option<u64>) -> Join<'a> {
        let mut shard = self.shard(key);
        if let Some((_, receiver)) = shard.get(&store).and_then(|flights| flights.get(key)) {
            return Join::Wait(Waiter { receiver: receiver.clone() });
        }
        if epoch.is_some_and(|epoch| self.finished.load(Ordering::Acquire) != epoch) {
            return Join::ReadAgain;
        }
        let (sender, receiver) = watch::channel(None);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        shard.entry(store).or_default().insert(key.to_owned(), (id, receiver));
        Join::Leader(Leader { flights: self, store, id, key: key.to_owned(), sender })
    }
}

/// The caller that runs the body. Dropping it ends the flight; waiters that got no value retry.
pub(crate) struct Leader<'a> {
    flights: &'a Flights,
    store: StoreId,
    id: u64,
    key: String,
    sender: watch::Sender<Option<CachedValue>>,
}

impl Leader<'_> {
    /// Hands the value to every waiter, present and joining until the flight ends.
    pub(crate) fn publish(&self, value: CachedValue) {
        self.sender.send_replace(Some(value));
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let mut shard = self.flights.shard(&self.key);
        if let Some(flights) = shard.get_mut(&self.store) {
            if flights.get(&self.key).is_some_and(|(id, _)| *id == self.id) {
                flights.remove(&self.key);
            }
            if flights.is_empty() {
                shard.remove(&self.store);
            }
        }
        self.flights.finished.fetch_add(1, Ordering::AcqRel);
        // The sender drops after this: waiters still waiting wake up with no value.
    }
}

/// A caller waiting for another's computation.
pub(crate) struct Waiter {
    receiver: Receiver,
}

impl Waiter {
    /// The leader's value, or `None` when the leader ended without one.
    pub(crate) async fn wait(mut self) -> Option<CachedValue> {
        match self.receiver.wait_for(Option::is_some).await {
            Ok(value) => value.clone(),
            Err(_) => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_second_caller_waits_and_gets_the_value() {
        let flights = Flights::new();
        let epoch = flights.epoch();
        let Join::Leader(leader) = flights.join(1, "k", Some(epoch)) else { panic!("first caller leads") };
        let Join::Wait(waiter) = flights.join(1, "k", Some(epoch)) else { panic!("second caller waits") };
        leader.publish(CachedValue::new(5u32));
        drop(leader);
        assert_eq!(waiter.wait().await.unwrap().to_typed::<u32>("k").unwrap(), 5);
    }

    #[tokio::test]
    async fn a_leader_without_value_releases_its_waiters() {
        let flights = Flights::new();
        let epoch = flights.epoch();
        let Join::Leader(leader) = flights.join(1, "k", Some(epoch)) else { panic!() };
        let Join::Wait(waiter) = flights.join(1, "k", Some(epoch)) else { panic!() };
        drop(leader);
        assert!(waiter.wait().await.is_none());
        // The stale epoch says: read the cache again before leading.
        assert!(matches!(flights.join(1, "k", Some(epoch)), Join::ReadAgain));
        assert!(matches!(flights.join(1, "k", Some(flights.epoch())), Join::Leader(_)));
    }
}

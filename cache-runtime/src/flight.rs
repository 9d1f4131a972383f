//! Single-flight, and the leases that let an invalidation win over a computation in flight.
//!
//! The first caller to miss a key in a store leads its *flight*: it runs the body, stores the
//! value and hands it to the callers that joined meanwhile. A flight doubles as a lease on the
//! key (as in "Scaling Memcache at Facebook"): an invalidation that covers the key detaches the
//! flight, so that later callers start a new one, and voids it, so that its leader stores
//! nothing and its waiters are not handed its value. On a store that one process owns (memory,
//! or a store of your own), a leader stores under a read lock of its key's shard and an
//! invalidation runs under the write lock: it waits for the stores under way, and the stores
//! that come after it find their flight voided. (On Redis the leases in Redis do that job, see
//! the `redis` module.) So once an invalidation returns, no value computed before it is stored,
//! nor handed to a caller.
//!
//! A waiter learns the outcome of the flight it joined: a value, or none (the leader failed,
//! panicked, was dropped, or its flight was voided), and then it starts over. Only callers that
//! joined while the leader computed take its value: one that comes once the leader has begun to
//! store reads the store when the leader is done. On a store shared by a fleet, an invalidation on
//! another instance may run between the leader's write and the caller's arrival, and only the
//! store knows. Every wait is
//! bounded. A caller never waits on a flight that waits on it: each task that leads flights
//! records which flight it waits on, and a caller that would close a cycle (a body calling its
//! own key, or two bodies calling each other's) computes instead.
//!
//! Flights are global and keyed by store and key, so that every handle on one store (clones of a
//! provider, `with_provider` scopes in many tasks) shares them. The map's lock is held only to
//! look a key up, never across a computation, and hits never touch it.

use ahash::RandomState;
use std::pin::pin;

use hashbrown::HashTable;
use std::collections::HashMap;
use std::sync::{Arc, LazyLock, Mutex, MutexGuard, Weak};
use std::time::Duration;

use tokio::sync::{Notify, RwLock, RwLockReadGuard, RwLockWriteGuard};

use crate::key::Pattern;
use crate::outcome::StaleReason;
use crate::stats::StoreId;
use crate::value::CachedValue;

const SHARDS: usize = 32;

/// How far a cycle check follows the chain of waits before it gives up looking (the bounded
/// wait still holds past it).
const MAX_CHAIN: usize = 256;

/// The flights of every store.
pub(crate) static FLIGHTS: LazyLock<Flights> = LazyLock::new(Flights::new);

tokio::task_local! {
    /// The task running a leader's body, for the cycle check: known by its first flight.
    static LEADING: Arc<Flight>;
}

/// Locks a mutex whose critical sections cannot leave it half-written (each is a single insert,
/// remove or assignment), so a poisoned one is still consistent.
fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// The flights of one shard, found by their hash (of store and key): a miss hashes its key once
/// for the shard, the lookup, the insert and the removal.
type Shard = HashTable<Arc<Flight>>;

/// Running computations, sharded by key.
pub(crate) struct Flights {
    shards: Box<[Mutex<Shard>]>,
    /// The [`StoreLocks`] of each store, while a handle on it holds them.
    locks: Mutex<LockSets>,
    hasher: RandomState,
}

/// The locks that order one store's leaders against its invalidations, one per shard of keys:
/// leaders store under a read lock, invalidations run under the write lock. Each store has its
/// own, so that an invalidation that takes long on one store (a store of the user's that hangs)
/// holds back no other.
pub(crate) struct StoreLocks(Box<[RwLock<()>]>);

impl StoreLocks {
    fn new() -> StoreLocks {
        StoreLocks((0..SHARDS).map(|_| RwLock::new(())).collect())
    }
}

#[derive(Default)]
struct LockSets {
    by_store: HashMap<StoreId, Weak<StoreLocks>>,
    /// Forget the stores no handle holds any more when the map grows past this many.
    prune_at: usize,
}

/// One computation of one key.
pub(crate) struct Flight {
    store: StoreId,
    key: String,
    /// The hash of `store` and `key`, which places the flight in its shard and in the shard's
    /// table.
    hash: u64,
    phase: Mutex<Phase>,
    /// How the flight ended: `Pending` until it does. Waiters read it when `ended` wakes them.
    outcome: Mutex<Outcome>,
    ended: Notify,
    /// The first flight of the task that runs this one's body, when that is another flight (a
    /// call made inside a leader's body); `None` when this flight is its task's first. A task is
    /// known by its first flight, so that leading one allocates nothing besides the flight.
    task: Option<Arc<Flight>>,
    /// When this flight is its task's first: the flight that the task waits on, if any.
    waiting_on: Mutex<Option<Arc<Flight>>>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Phase {
    Computing,
    /// The leader has begun to store its value (and may have stored it).
    Storing,
    Voided,
}

#[derive(Clone)]
enum Outcome {
    Pending,
    Value(CachedValue),
    /// The value is in the store (another instance stored it): each waiter reads it there.
    InStore,
    NoValue,
    /// The leader's body failed (`Err`, `None`, a panic, a hard timeout): a waiter with a stale
    /// value at hand serves it for this reason; the others start over.
    Failed(StaleReason),
}

/// Which keys an invalidation covers.
pub(crate) enum Scope<'a> {
    Key(&'a str),
    Pattern(&'a Pattern),
    All,
}

impl Scope<'_> {
    fn covers(&self, key: &str) -> bool {
        match self {
            Scope::Key(k) => *k == key,
            Scope::Pattern(pattern) => pattern.matches(key),
            Scope::All => true,
        }
    }
}

/// What a caller who missed a key is to do.
pub(crate) enum Join {
    /// Run the body, then store and hand out the value.
    Lead(Leader),
    /// Wait for the running flight.
    Wait(Waiter),
    /// The running flight waits, directly or not, on this caller: compute instead of waiting.
    Cycle,
    /// The flight's leader is storing or has stored its value: read the store once the flight
    /// ends, instead of taking the value from the leader. (On a shared store an invalidation on
    /// another instance may have removed it since, and this caller may have started after that.)
    AfterStore(Waiter),
}

impl Flights {
    fn new() -> Self {
        Flights {
            shards: (0..SHARDS).map(|_| Mutex::new(HashTable::new())).collect(),
            locks: Mutex::default(),
            hasher: RandomState::new(),
        }
    }

    fn hash(&self, store: StoreId, key: &str) -> u64 {
        self.hasher.hash_one((store, key))
    }

    /// The shard of a hash: from its middle bits, since a shard's table uses the low ones.
    fn index(hash: u64) -> usize {
        (hash >> 32) as usize % SHARDS
    }

    fn shard(&self, hash: u64) -> MutexGuard<'_, Shard> {
        lock(&self.shards[Self::index(hash)])
    }

    /// Takes `flight` out of its shard, if it is still there.
    fn remove(&self, flight: &Arc<Flight>) {
        let mut shard = self.shard(flight.hash);
        if let Ok(entry) = shard.find_entry(flight.hash, |current| Arc::ptr_eq(current, flight)) {
            entry.remove();
        }
    }

    /// The locks of `store`: every handle on one store shares them. (Taken when a provider is
    /// registered or scoped, never on a call.)
    pub(crate) fn locks_of(&self, store: StoreId) -> Arc<StoreLocks> {
        let mut sets = lock(&self.locks);
        if let Some(locks) = sets.by_store.get(&store).and_then(Weak::upgrade) {
            return locks;
        }
        if sets.by_store.len() >= sets.prune_at {
            sets.by_store.retain(|_, locks| locks.strong_count() > 0);
            sets.prune_at = (2 * sets.by_store.len()).max(64);
        }
        let locks = Arc::new(StoreLocks::new());
        sets.by_store.insert(store, Arc::downgrade(&locks));
        locks
    }

    /// Joins the flight of `key` in `store`, or starts one.
    pub(crate) fn join(&'static self, store: StoreId, key: &str) -> Join {
        let me = LEADING.try_with(Arc::clone).ok();
        let hash = self.hash(store, key);
        let mut shard = self.shard(hash);
        if let Some(flight) = shard.find(hash, |flight| flight.store == store && flight.key == key) {
            let flight = Arc::clone(flight);
            drop(shard);
            if *lock(&flight.phase) != Phase::Computing {
                return Join::AfterStore(Waiter { flight, me: None });
            }
            if let Some(me) = &me {
                if waits_on(&flight, me) {
                    return Join::Cycle;
                }
            }
            return Join::Wait(Waiter { flight, me });
        }
        let flight = Arc::new(Flight {
            store,
            key: key.to_owned(),
            hash,
            phase: Mutex::new(Phase::Computing),
            outcome: Mutex::new(Outcome::Pending),
            ended: Notify::new(),
            task: me,
            waiting_on: Mutex::new(None),
        });
        shard.insert_unique(hash, Arc::clone(&flight), |flight| flight.hash);
        Join::Lead(Leader { flights: self, flight, outcome: Outcome::NoValue })
    }

    /// Voids the flights of `store` that `scope` covers, and detaches them so that later callers
    /// start new ones. With the store's `locks` (a store that this process owns), the returned
    /// guard holds the write lock of the shards the scope covers, once every store under way
    /// there is over: remove the entries while holding it, so that no voided leader stores after
    /// them.
    pub(crate) async fn void<'a>(
        &self,
        store: StoreId,
        scope: &Scope<'_>,
        locks: Option<&'a StoreLocks>,
    ) -> Invalidation<'a> {
        let shards: Vec<usize> = match scope {
            Scope::Key(key) => vec![Self::index(self.hash(store, key))],
            Scope::Pattern(_) | Scope::All => (0..SHARDS).collect(),
        };
        let mut guards = Vec::new();
        if let Some(locks) = locks {
            // In index order, so that two invalidations never wait on each other in a cycle.
            for &index in &shards {
                guards.push(locks.0[index].write().await);
            }
        }
        for index in shards {
            lock(&self.shards[index]).retain(|flight| {
                let covered = flight.store == store && scope.covers(&flight.key);
                if covered {
                    let mut phase = lock(&flight.phase);
                    if *phase == Phase::Computing {
                        *phase = Phase::Voided;
                    }
                }
                !covered
            });
        }
        Invalidation { _guards: guards }
    }
}

/// Held while an invalidation removes entries: see [`Flights::void`].
pub(crate) struct Invalidation<'a> {
    _guards: Vec<RwLockWriteGuard<'a, ()>>,
}

/// Whether `flight`'s leader waits, directly or through other flights, on a flight `me` leads.
fn waits_on(flight: &Arc<Flight>, me: &Arc<Flight>) -> bool {
    let mut current = Arc::clone(flight);
    for _ in 0..MAX_CHAIN {
        let task = current.task();
        if Arc::ptr_eq(task, me) {
            return true;
        }
        let next = lock(&task.waiting_on).clone();
        match next {
            Some(next) => current = next,
            None => return false,
        }
    }
    false
}

/// The caller that runs the body. Dropping it ends the flight without a value: its waiters start
/// over, and one of them leads next.
pub(crate) struct Leader {
    flights: &'static Flights,
    flight: Arc<Flight>,
    outcome: Outcome,
}

/// Leave to store, from [`Leader::begin_store`]; holds the read lock of the key's shard, if any.
pub(crate) struct Storing<'a> {
    _guard: Option<RwLockReadGuard<'a, ()>>,
}

impl Leader {
    /// Runs `body` as this flight's computation: the calls it makes know that they run inside it.
    pub(crate) async fn run<F: std::future::Future>(&self, body: F) -> F::Output {
        LEADING.scope(Arc::clone(self.flight.task()), body).await
    }

    /// Leave to store the value, unless an invalidation voided the flight. With the store's
    /// `locks` (a store this process owns) it holds the read lock of the key's shard: store
    /// before dropping it.
    pub(crate) async fn begin_store<'a>(&self, locks: Option<&'a StoreLocks>) -> Option<Storing<'a>> {
        let guard = match locks {
            Some(locks) => {
                let shard = &locks.0[Flights::index(self.flight.hash)];
                // No invalidation of the shard running, as nearly always: taken without a future.
                Some(match shard.try_read() {
                    Ok(guard) => guard,
                    Err(_) => shard.read().await,
                })
            }
            None => None,
        };
        let mut phase = lock(&self.flight.phase);
        match *phase {
            Phase::Computing => {
                *phase = Phase::Storing;
                Some(Storing { _guard: guard })
            }
            _ => None,
        }
    }

    /// Ends the flight without a value, telling its waiters why.
    pub(crate) fn fail(&mut self, reason: StaleReason) {
        self.outcome = Outcome::Failed(reason);
    }

    /// Takes the flight out of the map at once and releases its waiters: this leader keeps its
    /// value, and callers compute for themselves.
    pub(crate) fn detach(&mut self) {
        self.flights.remove(&self.flight);
        self.flight.end(Outcome::NoValue);
    }

    /// Whether an invalidation voided the flight.
    pub(crate) fn is_voided(&self) -> bool {
        *lock(&self.flight.phase) == Phase::Voided
    }

    /// The value to hand to the waiters when the flight ends.
    pub(crate) fn hand_out(&mut self, value: CachedValue) {
        self.outcome = Outcome::Value(value);
    }

    /// Sends the waiters to read the store when the flight ends: a value is there that this
    /// leader may not hand out itself (it read it, or another instance stored it).
    pub(crate) fn send_to_store(&mut self) {
        self.outcome = Outcome::InStore;
    }
}

impl Drop for Leader {
    fn drop(&mut self) {
        let flight = &self.flight;
        self.flights.remove(flight);
        // A voided flight hands out nothing, whatever it computed.
        let outcome =
            if self.is_voided() { Outcome::NoValue } else { std::mem::replace(&mut self.outcome, Outcome::NoValue) };
        flight.end(match outcome {
            Outcome::Pending => Outcome::NoValue,
            other => other,
        });
    }
}

/// A caller waiting for another's computation.
pub(crate) struct Waiter {
    flight: Arc<Flight>,
    /// The task this caller leads flights in, if any (its first flight): it records the wait
    /// for the cycle check.
    me: Option<Arc<Flight>>,
}

/// How a wait ended.
pub(crate) enum Waited {
    /// The leader's value.
    Value(CachedValue),
    /// A value is in the store: read it there.
    InStore,
    /// The leader ended without a value: start over.
    NoValue,
    /// The leader's body failed, for this reason: start over, or serve a stale value.
    Failed(StaleReason),
    /// The leader took longer than the wait allows.
    TimedOut,
}

impl Waiter {
    /// Waits at most `max_wait` for the leader's outcome.
    pub(crate) async fn wait(self, max_wait: Duration) -> Waited {
        let _recorded = self.me.as_ref().map(|me| RecordedWait::new(me, &self.flight));
        let flight = &self.flight;
        let ended = async {
            loop {
                // Registered before the outcome is read, so that an end between the two wakes it.
                let mut woken = pin!(flight.ended.notified());
                woken.as_mut().enable();
                match &*lock(&flight.outcome) {
                    Outcome::Pending => {}
                    Outcome::Value(value) => return Waited::Value(value.clone()),
                    Outcome::InStore => return Waited::InStore,
                    Outcome::NoValue => return Waited::NoValue,
                    Outcome::Failed(reason) => return Waited::Failed(*reason),
                }
                woken.await;
            }
        };
        tokio::time::timeout(max_wait, ended).await.unwrap_or(Waited::TimedOut)
    }
}

impl Flight {
    /// The first flight of the task that runs this one's body: this one, or the one `task` names.
    fn task(self: &Arc<Self>) -> &Arc<Flight> {
        self.task.as_ref().unwrap_or(self)
    }

    /// Ends the flight with `outcome` (a later end replaces it, as a waiter that has not looked
    /// yet would see) and wakes its waiters.
    fn end(&self, outcome: Outcome) {
        *lock(&self.outcome) = outcome;
        self.ended.notify_waiters();
    }
}

/// Records, for the cycle check, that a task waits on a flight; forgets it when dropped.
struct RecordedWait<'a> {
    task: &'a Flight,
}

impl<'a> RecordedWait<'a> {
    fn new(task: &'a Flight, flight: &Arc<Flight>) -> Self {
        *lock(&task.waiting_on) = Some(Arc::clone(flight));
        RecordedWait { task }
    }
}

impl Drop for RecordedWait<'_> {
    fn drop(&mut self) {
        *lock(&self.task.waiting_on) = None;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn flights() -> &'static Flights {
        Box::leak(Box::new(Flights::new()))
    }

    fn store() -> StoreId {
        crate::stats::StatsCounters::default().store()
    }

    const WAIT: Duration = Duration::from_secs(5);

    #[tokio::test]
    async fn a_second_caller_waits_and_gets_the_value() {
        let (flights, store) = (flights(), store());
        let Join::Lead(mut leader) = flights.join(store, "k") else { panic!("the first caller leads") };
        let Join::Wait(waiter) = flights.join(store, "k") else { panic!("the second caller waits") };
        leader.hand_out(CachedValue::new(5u32));
        drop(leader);
        let Waited::Value(value) = waiter.wait(WAIT).await else { panic!("the waiter gets the value") };
        assert_eq!(value.to_typed::<u32, _>("k").unwrap(), 5);
    }

    #[tokio::test]
    async fn a_leader_without_value_releases_its_waiters_and_the_next_caller_leads() {
        let (flights, store) = (flights(), store());
        let Join::Lead(leader) = flights.join(store, "k") else { panic!() };
        let Join::Wait(waiter) = flights.join(store, "k") else { panic!() };
        drop(leader);
        assert!(matches!(waiter.wait(WAIT).await, Waited::NoValue));
        assert!(matches!(flights.join(store, "k"), Join::Lead(_)));
    }

    #[tokio::test]
    async fn a_voided_flight_stores_nothing_hands_out_nothing_and_is_detached() {
        let (flights, store) = (flights(), store());
        let Join::Lead(mut leader) = flights.join(store, "k") else { panic!() };
        let Join::Wait(waiter) = flights.join(store, "k") else { panic!() };
        let locks = StoreLocks::new();
        drop(flights.void(store, &Scope::Key("k"), Some(&locks)).await);
        let Join::Lead(_next) = flights.join(store, "k") else { panic!("a caller after the invalidation starts anew") };
        assert!(leader.begin_store(Some(&locks)).await.is_none());
        leader.hand_out(CachedValue::new(1u8));
        drop(leader);
        assert!(matches!(waiter.wait(WAIT).await, Waited::NoValue));
    }

    #[tokio::test]
    async fn an_invalidation_waits_for_a_leader_that_is_storing() {
        let (flights, store) = (flights(), store());
        let Join::Lead(leader) = flights.join(store, "k") else { panic!() };
        let locks = Arc::new(StoreLocks::new());
        let storing = leader.begin_store(Some(&locks)).await.unwrap();
        let void = {
            let locks = Arc::clone(&locks);
            tokio::spawn(async move { drop(flights.void(store, &Scope::All, Some(&locks)).await) })
        };
        tokio::time::sleep(Duration::from_millis(50)).await;
        assert!(!void.is_finished(), "the invalidation waits until the store is over");
        drop(storing);
        void.await.unwrap();
    }

    #[tokio::test]
    async fn each_store_has_its_own_locks_and_waits_on_no_other() {
        let (flights, store, other) = (flights(), store(), store());
        let (locks, other_locks) = (flights.locks_of(store), flights.locks_of(other));
        assert!(Arc::ptr_eq(&locks, &flights.locks_of(store)), "every handle on a store shares its locks");
        let Join::Lead(leader) = flights.join(other, "k") else { panic!() };
        let _storing = leader.begin_store(Some(&other_locks)).await.unwrap();
        let cleared = tokio::time::timeout(WAIT, flights.void(store, &Scope::All, Some(&locks))).await;
        assert!(cleared.is_ok(), "a clear of one store waited for a store under way on another");
    }

    #[tokio::test]
    async fn a_wait_is_bounded() {
        let (flights, store) = (flights(), store());
        let Join::Lead(_leader) = flights.join(store, "k") else { panic!() };
        let Join::Wait(waiter) = flights.join(store, "k") else { panic!() };
        assert!(matches!(waiter.wait(Duration::from_millis(20)).await, Waited::TimedOut));
    }

    #[tokio::test]
    async fn a_body_that_joins_its_own_flight_is_a_cycle() {
        let (flights, store) = (flights(), store());
        let Join::Lead(leader) = flights.join(store, "k") else { panic!() };
        let inner = leader.run(async { matches!(flights.join(store, "k"), Join::Cycle) }).await;
        assert!(inner);
        // Another task is no cycle: it waits.
        assert!(matches!(flights.join(store, "k"), Join::Wait(_)));
    }
}

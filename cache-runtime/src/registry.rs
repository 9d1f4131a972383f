//! The global providers: the default one, named ones, and the per-task override.

use std::any::Any;
use std::cell::RefCell;
use std::collections::HashMap;
use std::future::Future;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, LazyLock, Mutex, OnceLock};
use std::time::Duration;

use arc_swap::ArcSwap;

use crate::error::CacheError;
use crate::flight::{StoreLocks, FLIGHTS};
use crate::memory::MemoryProvider;
use crate::observe::SiteCounters;
use crate::provider::CacheProvider;
#[cfg(feature = "redis")]
use crate::redis::RedisProvider;
use crate::stats::{CacheStats, StoreId};

/// The name under which the default provider is known, in `#[cached(provider = ..)]` and labels.
pub const DEFAULT: &str = "default";

/// A provider under the name it serves.
pub(crate) struct Slot {
    pub(crate) name: Arc<str>,
    pub(crate) provider: Arc<dyn CacheProvider>,
    /// The built-in store behind the provider, found once when it was registered.
    pub(crate) backend: Backend,
    /// Which store the provider is a handle on, for single-flight.
    pub(crate) store: StoreId,
    /// The locks that order the store's leaders against its invalidations (shared by every slot
    /// of the store).
    locks: Arc<StoreLocks>,
    /// How long a call waits for another caller's computation before it computes itself.
    pub(crate) max_wait: Duration,
    /// The metric handles of the cache-aside calls on this provider.
    pub(crate) aside_counters: OnceLock<SiteCounters>,
}

/// The built-in stores the runtime reads without boxing a future, or coordinates across
/// processes; every other store is reached through the trait alone.
#[derive(Clone)]
pub(crate) enum Backend {
    Memory(MemoryProvider),
    #[cfg(feature = "redis")]
    Redis(RedisProvider),
    Other,
}

impl Backend {
    fn of<P: CacheProvider>(provider: &P) -> Backend {
        let any: &dyn Any = provider;
        if let Some(memory) = any.downcast_ref::<MemoryProvider>() {
            return Backend::Memory(memory.clone());
        }
        if let Some(memory) = any.downcast_ref::<Arc<MemoryProvider>>() {
            return Backend::Memory(MemoryProvider::clone(memory));
        }
        #[cfg(feature = "redis")]
        {
            if let Some(redis) = any.downcast_ref::<RedisProvider>() {
                return Backend::Redis(redis.clone());
            }
            if let Some(redis) = any.downcast_ref::<Arc<RedisProvider>>() {
                return Backend::Redis(RedisProvider::clone(redis));
            }
        }
        Backend::Other
    }

    fn max_wait(&self) -> Duration {
        match self {
            Backend::Memory(memory) => memory.max_wait(),
            #[cfg(feature = "redis")]
            Backend::Redis(redis) => redis.max_wait(),
            Backend::Other => MemoryProvider::DEFAULT_MAX_WAIT,
        }
    }
}

impl Slot {
    /// The store's locks when this process owns it (memory, or a store of the user's): then
    /// stores and invalidations exclude each other here. Redis orders them itself, with leases.
    pub(crate) fn exclusive(&self) -> Option<&StoreLocks> {
        match self.backend {
            #[cfg(feature = "redis")]
            Backend::Redis(_) => None,
            _ => Some(&self.locks),
        }
    }

    fn new<P: CacheProvider>(name: &str, provider: P) -> Arc<Slot> {
        let backend = Backend::of(&provider);
        let store = provider.counters().store();
        Arc::new(Slot {
            name: Arc::from(name),
            // Capped: every wait's deadline is `now + max_wait`.
            max_wait: backend.max_wait().min(crate::duration::LONGEST_AHEAD),
            backend,
            provider: Arc::new(provider),
            store,
            locks: FLIGHTS.locks_of(store),
            aside_counters: OnceLock::new(),
        })
    }

    /// The same provider under the same name, behind a new `Arc`.
    fn copy(&self) -> Arc<Slot> {
        self.renamed(&self.name)
    }

    /// The same provider (the same store, for single-flight and invalidations) under `name`.
    fn renamed(&self, name: &str) -> Arc<Slot> {
        Arc::new(Slot {
            name: Arc::from(name),
            provider: Arc::clone(&self.provider),
            backend: self.backend.clone(),
            store: self.store,
            locks: Arc::clone(&self.locks),
            max_wait: self.max_wait,
            aside_counters: OnceLock::new(),
        })
    }
}

/// The stores of the functions with `max_entries`, by function and by the memory store they
/// would otherwise use: each (function, store) pair gets a store of its own, made on first use, so
/// that a `with_provider` scope still isolates them. They are never dropped.
static BOUNDED: LazyLock<std::sync::Mutex<BoundedStores>> = LazyLock::new(Default::default);

/// The bounded stores, by function and by the store each replaces.
type BoundedStores = HashMap<(&'static str, StoreId), Arc<Slot>>;

/// The store of `function`, bounded to `max_entries`, in place of the memory store `shared`.
pub(crate) fn bounded(function: &'static str, shared: &Slot, max_entries: u64) -> Arc<Slot> {
    let mut bounded = BOUNDED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    let max_wait = shared.max_wait;
    let slot = bounded.entry((function, shared.store)).or_insert_with(|| {
        let memory = MemoryProvider::builder().max_capacity(max_entries).max_wait(max_wait).build();
        Slot::new(&shared.name, memory)
    });
    Arc::clone(slot)
}

/// The stores made in place of `shared` for functions with `max_entries` or local values: what
/// reaches `shared`'s entries by tag reaches theirs too.
pub(crate) fn bounded_of(shared: StoreId) -> Vec<Arc<Slot>> {
    let bounded = BOUNDED.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
    bounded.iter().filter(|((_, store), _)| *store == shared).map(|(_, slot)| Arc::clone(slot)).collect()
}

/// Every provider a call of the current task may use, each store once: inside [`with_provider`]
/// that scope's provider, else the default and every registered one.
pub(crate) fn every_slot() -> Vec<Arc<Slot>> {
    if let Some(scoped) = scope(|scope| Arc::clone(&scope.default)) {
        return vec![scoped];
    }
    let mut slots = vec![REGISTRY.default.load_full()];
    for slot in REGISTRY.named.load().values() {
        if slots.iter().all(|known| known.store != slot.store) {
            slots.push(Arc::clone(slot));
        }
    }
    slots
}

struct Registry {
    default: ArcSwap<Slot>,
    named: ArcSwap<HashMap<String, Arc<Slot>>>,
}

static REGISTRY: LazyLock<Registry> = LazyLock::new(|| Registry {
    default: ArcSwap::new(Slot::new(DEFAULT, MemoryProvider::new())),
    named: ArcSwap::default(),
});

tokio::task_local! {
    static OVERRIDE: Arc<Override>;
}

/// What [`with_provider`] puts in place of every registered provider for one future.
struct Override {
    /// The provider, under the name `"default"`.
    default: Arc<Slot>,
    /// The same provider under each other name asked for in the scope, so that logs and metrics
    /// still name the provider the function asked for. Only calls inside a scope lock it.
    named: Mutex<HashMap<String, Arc<Slot>>>,
}

impl Override {
    fn slot(&self, name: &str) -> Arc<Slot> {
        if name == DEFAULT {
            return Arc::clone(&self.default);
        }
        // A panic while the lock was held cannot leave the map half-written: take it as it is.
        let mut named = self.named.lock().unwrap_or_else(|poisoned| poisoned.into_inner());
        let slot = named.entry(name.to_owned()).or_insert_with(|| self.default.renamed(name));
        Arc::clone(slot)
    }
}

/// Bumped each time a provider is set or registered, so that threads refresh their copies.
static GENERATION: AtomicU64 = AtomicU64::new(0);

/// One thread's copies of the registered slots.
///
/// Each call holds the slot it uses across its awaits. Were that a clone of the one global `Arc`,
/// every hit on every thread would count references on one cache line; with a copy per thread,
/// the count a call touches is its thread's own.
struct LocalSlots {
    generation: u64,
    default: Option<Arc<Slot>>,
    named: HashMap<String, Arc<Slot>>,
}

thread_local! {
    static LOCAL: RefCell<LocalSlots> =
        RefCell::new(LocalSlots { generation: u64::MAX, default: None, named: HashMap::new() });
}

/// The slot registered as `name` (not the default), from this thread's copies.
fn registered(name: &str) -> Option<Arc<Slot>> {
    let generation = GENERATION.load(Ordering::Acquire);
    LOCAL
        .try_with(|local| {
            let Ok(mut local) = local.try_borrow_mut() else { return REGISTRY.named.load().get(name).cloned() };
            if local.generation != generation {
                *local = LocalSlots { generation, default: None, named: HashMap::new() };
            }
            if let Some(slot) = local.named.get(name) {
                return Some(Arc::clone(slot));
            }
            let slot = REGISTRY.named.load().get(name)?.copy();
            local.named.insert(name.to_owned(), Arc::clone(&slot));
            Some(slot)
        })
        // While the thread shuts down its locals are gone: read the registry itself.
        .unwrap_or_else(|_| REGISTRY.named.load().get(name).cloned())
}

/// Whether a provider is registered as `name` (not the default), whatever the current task's
/// [`with_provider`] scope.
pub(crate) fn is_registered(name: &str) -> bool {
    REGISTRY.named.load().contains_key(name)
}

/// Makes `provider` the default: every call that names no provider uses it from now on.
///
/// With nothing set, the default is a [`MemoryProvider`] of
/// [`DEFAULT_CAPACITY`](MemoryProvider::DEFAULT_CAPACITY) entries. Calling it again replaces the
/// provider; calls already running finish on the old one.
///
/// ```
/// use cache_runtime::MemoryProvider;
///
/// cache_runtime::set_default(MemoryProvider::builder().max_capacity(10_000).build());
/// ```
pub fn set_default<P: CacheProvider>(provider: P) {
    REGISTRY.default.store(Slot::new(DEFAULT, provider));
    GENERATION.fetch_add(1, Ordering::Release);
}

/// Makes `provider` the default only if the default is still the store `expected`; true when it
/// did. The check and the swap are one atomic step, so a `set_default` in between is never undone.
#[cfg_attr(not(feature = "redis"), allow(dead_code))]
pub(crate) fn replace_default_if<P: CacheProvider>(expected: StoreId, provider: P) -> bool {
    let new = Slot::new(DEFAULT, provider);
    let mut replaced = false;
    REGISTRY.default.rcu(|current| {
        replaced = current.store == expected;
        if replaced {
            Arc::clone(&new)
        } else {
            Arc::clone(current)
        }
    });
    if replaced {
        GENERATION.fetch_add(1, Ordering::Release);
    }
    replaced
}

/// Registers `provider` under `name`, for `#[cached(provider = "name")]` and [`named`](crate::named). Registering
/// a name again replaces its provider; `"default"` is the same as [`set_default`].
///
/// ```
/// cache_runtime::register("sessions", cache_runtime::MemoryProvider::new());
/// assert!(cache_runtime::named("sessions").is_ok());
/// ```
pub fn register<P: CacheProvider>(name: &str, provider: P) {
    if name == DEFAULT {
        return set_default(provider);
    }
    let slot = Slot::new(name, provider);
    REGISTRY.named.rcu(|named| {
        let mut named = HashMap::clone(named);
        named.insert(name.to_owned(), Arc::clone(&slot));
        named
    });
    GENERATION.fetch_add(1, Ordering::Release);
}

/// Runs `future` with `provider` in place of every provider, the default one and every named one:
/// within it, the macro's calls (`#[cached(provider = "sessions")]` included), the generated
/// `<fn>_invalidate` helpers, the cache-aside calls, [`cache`](crate::cache),
/// [`named`](crate::named) (for any name, registered or not) and [`stats`] all use `provider`, and
/// no registered store is read or written. Other tasks are not affected, and neither are tasks
/// that `future` spawns. Tests use it to get a fresh cache each, which no other test sees.
///
/// Inside the scope every function shares `provider`, so functions meant for different stores
/// share its keyspace: give them key templates that do not meet (the default keys never do).
/// Logs and metrics keep the provider name each call asked for. [`check`](crate::check) reads the
/// global registry, scope or not.
///
/// ```
/// use std::time::Duration;
/// use cache_runtime::{cached, MemoryProvider};
///
/// #[cached(provider = "sessions", key = "session:{id}")]
/// async fn session(id: u64) -> u64 { id }
///
/// # #[tokio::main(flavor = "current_thread")] async fn main() -> Result<(), cache_runtime::CacheError> {
/// let sessions = MemoryProvider::new();
/// cache_runtime::register("sessions", sessions.clone());
///
/// let isolated = MemoryProvider::new();
/// cache_runtime::with_provider(isolated.clone(), async {
///     session(7).await;                                        // stored in `isolated`
///     cache_runtime::set("k", &1u8, Duration::from_secs(5)).await?;
///     assert!(cache_runtime::named("sessions")?.exists("session:7").await?);
///     Ok::<_, cache_runtime::CacheError>(())
/// })
/// .await?;
/// assert_eq!(isolated.stats().sets, 2);
/// assert_eq!(sessions.stats().sets, 0, "the registered store was never touched");
/// # Ok(()) }
/// ```
pub async fn with_provider<P: CacheProvider, F: Future>(provider: P, future: F) -> F::Output {
    let scope = Override { default: Slot::new(DEFAULT, provider), named: Mutex::default() };
    let _running = RunningScope::enter();
    OVERRIDE.scope(Arc::new(scope), future).await
}

/// How many [`with_provider`] scopes are running, in any task: while none is, a call does not
/// look for one in its task's locals. A task inside a scope counted it before it entered, so it
/// always reads at least its own.
static SCOPES: AtomicUsize = AtomicUsize::new(0);

/// Counts one running scope, until it ends or is dropped.
struct RunningScope;

impl RunningScope {
    fn enter() -> RunningScope {
        SCOPES.fetch_add(1, Ordering::Relaxed);
        RunningScope
    }
}

impl Drop for RunningScope {
    fn drop(&mut self) {
        SCOPES.fetch_sub(1, Ordering::Relaxed);
    }
}

/// The current task's [`with_provider`] scope, if it runs in one.
#[inline]
fn scope<T>(with: impl FnOnce(&Override) -> T) -> Option<T> {
    if SCOPES.load(Ordering::Relaxed) == 0 {
        return None;
    }
    OVERRIDE.try_with(|scope| with(scope)).ok()
}

/// The slot that serves `name` for the current task: inside [`with_provider`], its provider
/// whatever the name; else the registered one, if any.
pub(crate) fn slot(name: &str) -> Result<Arc<Slot>, CacheError> {
    slot_of(name, name == DEFAULT)
}

/// [`slot`], for a name already known to be `"default"` or not (a call site knows it when it is
/// compiled, see [`is_default`]).
#[inline]
pub(crate) fn slot_of(name: &str, is_default: bool) -> Result<Arc<Slot>, CacheError> {
    if let Some(slot) = scope(|scope| scope.slot(name)) {
        return Ok(slot);
    }
    if is_default {
        return Ok(local_default());
    }
    registered(name).ok_or_else(|| CacheError::UnknownProvider { name: name.to_owned() })
}

/// Whether `name` is `"default"`, in a `const` context.
pub(crate) const fn is_default(name: &str) -> bool {
    let (name, default) = (name.as_bytes(), DEFAULT.as_bytes());
    if name.len() != default.len() {
        return false;
    }
    let mut i = 0;
    while i < name.len() {
        if name[i] != default[i] {
            return false;
        }
        i += 1;
    }
    true
}

pub(crate) fn default_slot() -> Arc<Slot> {
    scope(|scope| Arc::clone(&scope.default)).unwrap_or_else(local_default)
}

/// Runs `with` on this thread's copy of the registered default, borrowed rather than cloned: the
/// memory hit path takes no reference count. `None` when the current task runs in a
/// [`with_provider`] scope, or the copy is not at hand (not made yet, out of date, or borrowed by
/// a call further up this thread's stack): [`slot_of`] is the way then.
#[inline]
pub(crate) fn with_local_default<T>(with: impl FnOnce(&Arc<Slot>) -> T) -> Option<T> {
    if SCOPES.load(Ordering::Relaxed) != 0 {
        return None;
    }
    let generation = GENERATION.load(Ordering::Acquire);
    LOCAL
        .try_with(|local| {
            let local = local.try_borrow().ok()?;
            match (&local.default, local.generation == generation) {
                (Some(slot), true) => Some(with(slot)),
                _ => None,
            }
        })
        .ok()
        .flatten()
}

/// This thread's copy of the registered default (the registry's own while the thread shuts down,
/// or while a call further up the stack borrows the copies).
fn local_default() -> Arc<Slot> {
    let generation = GENERATION.load(Ordering::Acquire);
    LOCAL
        .try_with(|local| {
            let Ok(mut local) = local.try_borrow_mut() else { return REGISTRY.default.load_full() };
            if local.generation != generation {
                *local = LocalSlots { generation, default: None, named: HashMap::new() };
            }
            Arc::clone(local.default.get_or_insert_with(|| REGISTRY.default.load().copy()))
        })
        .unwrap_or_else(|_| REGISTRY.default.load_full())
}

/// The counters of the default provider (or of the one [`with_provider`] put in its place).
///
/// ```
/// let stats = cache_runtime::stats();
/// println!("hit rate {:.0}%", stats.hit_rate() * 100.0);
/// ```
pub fn stats() -> CacheStats {
    default_slot().provider.stats()
}

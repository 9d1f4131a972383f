//! A hostile review of the companions (`_refresh`, `_uncached`, `_clear`), `cache_if`,
//! `max_entries`, `stats_for`, the new key writers and the Notify-based flight wait: each test is
//! an attack that should fail if the promise in the README (or `API.md`) did not hold.

use std::fmt::Display;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering::SeqCst};
use std::sync::Arc;
use std::time::Duration;

use cache_runtime::key::escape;
use cache_runtime::{cached, stats_for, with_provider, MemoryProvider};
use cache_tests::{spawn_on, Rng};

// ---------------------------------------------------------------------------------------------
// `_refresh` / `_invalidate` / `_clear` racing: an invalidation must win.
// ---------------------------------------------------------------------------------------------

static RACE_VERSION: AtomicU64 = AtomicU64::new(1);
/// The version every call that starts from now on must see at least: set after an invalidation
/// of the key returned.
static RACE_FLOOR: AtomicU64 = AtomicU64::new(0);
static RACE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "adv3_race:{id}")]
async fn raced(id: u32, delay_us: u64) -> u64 {
    RACE_RUNS.fetch_add(1, SeqCst);
    let seen = RACE_VERSION.load(SeqCst);
    tokio::time::sleep(Duration::from_micros(delay_us)).await;
    let _ = id;
    seen
}

/// Normal calls, refreshes and invalidations (by key and by `_clear`) on one key, in random
/// order on many tasks: a call that starts after an invalidation returned never gets a value
/// computed before it, whether through a hit, a join, or a refresh that stored late.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn refresh_and_normal_misses_never_undo_an_invalidation() {
    let store = MemoryProvider::new();
    let mut tasks = Vec::new();
    for seed in 1..=24u64 {
        let store = store.clone();
        tasks.push(tokio::spawn(async move {
            let mut rng = Rng(seed.wrapping_mul(0x9E37_79B9_7F4A_7C15));
            for _ in 0..60 {
                let action = rng.below(10);
                let delay = rng.below(3_000);
                let inner = store.clone();
                with_provider(inner, async {
                    match action {
                        0 => {
                            let version = RACE_VERSION.fetch_add(1, SeqCst) + 1;
                            raced_invalidate(7).await;
                            RACE_FLOOR.fetch_max(version, SeqCst);
                        }
                        1 => {
                            let version = RACE_VERSION.fetch_add(1, SeqCst) + 1;
                            raced_clear().await;
                            RACE_FLOOR.fetch_max(version, SeqCst);
                        }
                        2..=4 => {
                            let floor = RACE_FLOOR.load(SeqCst);
                            let got = raced_refresh(7, delay).await;
                            assert!(got >= floor, "a refresh that started after floor {floor} computed {got}");
                        }
                        _ => {
                            let floor = RACE_FLOOR.load(SeqCst);
                            let got = raced(7, delay).await;
                            assert!(got >= floor, "a call that started after floor {floor} got {got}");
                        }
                    }
                })
                .await;
                if rng.below(4) == 0 {
                    tokio::task::yield_now().await;
                }
            }
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    // Quiescent: one last invalidation, then the store holds nothing older.
    let version = RACE_VERSION.fetch_add(1, SeqCst) + 1;
    with_provider(store.clone(), async {
        raced_invalidate(7).await;
        assert!(raced(7, 0).await >= version);
    })
    .await;
}

static SLOW_REFRESH_RUNS: AtomicUsize = AtomicUsize::new(0);
static SLOW_REFRESH_VERSION: AtomicU64 = AtomicU64::new(0);

#[cached(key = "adv3_slow_refresh:{id}")]
async fn slow_refresh(id: u32) -> u64 {
    SLOW_REFRESH_RUNS.fetch_add(1, SeqCst);
    let seen = SLOW_REFRESH_VERSION.load(SeqCst);
    tokio::time::sleep(Duration::from_millis(60)).await;
    seen + u64::from(id)
}

/// A refresh that is invalidated while it computes stores nothing, and the callers that joined it
/// after the invalidation are not handed its value (they start a computation of their own).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn an_invalidation_during_a_refresh_wins_for_stores_and_for_joiners() {
    let store = MemoryProvider::new();
    SLOW_REFRESH_VERSION.store(1, SeqCst);
    let refresh = spawn_on(&store, slow_refresh_refresh(0));
    tokio::time::sleep(Duration::from_millis(10)).await;
    // Joiners before the invalidation may take the refresh's value; joiners after may not.
    let early: Vec<_> = (0..8).map(|_| spawn_on(&store, slow_refresh(0))).collect();
    tokio::time::sleep(Duration::from_millis(10)).await;
    SLOW_REFRESH_VERSION.store(2, SeqCst);
    let inner = store.clone();
    assert!(!with_provider(inner, slow_refresh_invalidate(0)).await, "nothing was stored yet");
    let late: Vec<_> = (0..8).map(|_| spawn_on(&store, slow_refresh(0))).collect();
    assert_eq!(refresh.await.unwrap(), 1, "the refresh's caller keeps what it computed");
    for early in early {
        // Voided before it stored: the joiners start over and compute after the invalidation.
        assert_eq!(early.await.unwrap(), 2);
    }
    for late in late {
        assert_eq!(late.await.unwrap(), 2);
    }
    assert_eq!(with_provider(store.clone(), slow_refresh(0)).await, 2, "the refresh stored nothing");
}

/// A refresh voids a normal computation that started before it: that computation stores
/// nothing, its late joiners get the refresh's value, and the refreshed value is what stays.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refresh_racing_a_normal_miss_keeps_the_newer_value() {
    let store = MemoryProvider::new();
    SLOW_REFRESH_VERSION.store(10, SeqCst);
    let old = spawn_on(&store, slow_refresh(5));
    tokio::time::sleep(Duration::from_millis(10)).await;
    SLOW_REFRESH_VERSION.store(20, SeqCst);
    let refresh = spawn_on(&store, slow_refresh_refresh(5));
    tokio::time::sleep(Duration::from_millis(10)).await;
    let joiners: Vec<_> = (0..16).map(|_| spawn_on(&store, slow_refresh(5))).collect();
    assert_eq!(old.await.unwrap(), 15, "the voided computation's caller keeps its value");
    assert_eq!(refresh.await.unwrap(), 25);
    for joiner in joiners {
        assert_eq!(joiner.await.unwrap(), 25);
    }
    tokio::time::sleep(Duration::from_millis(80)).await;
    assert_eq!(with_provider(store.clone(), slow_refresh(5)).await, 25);
}

// ---------------------------------------------------------------------------------------------
// `_clear` of the default key: "matches no other function".
// ---------------------------------------------------------------------------------------------

mod accounts {
    use cache_runtime::cached;

    /// The default key's pattern is `...::accounts::owner:*`.
    #[cached]
    pub async fn owner(id: u32) -> u32 {
        id
    }

    /// A module named like the function beside it: its functions' default keys start with
    /// `...::accounts::owner::`.
    pub mod owner {
        use cache_runtime::cached;

        #[cached]
        pub async fn name(id: u32) -> String {
            format!("owner {id}")
        }
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_of_a_default_key_spares_a_module_named_like_the_function() {
    with_provider(MemoryProvider::new(), async {
        accounts::owner(1).await;
        accounts::owner::name(1).await;
        let removed = accounts::owner_clear().await;
        assert_eq!(removed, 1, "only `owner`'s own entry");
        assert!(accounts::owner::name_invalidate(1).await, "`owner::name`'s entry is still there");
    })
    .await;
}

static SHOW_RUNS: AtomicUsize = AtomicUsize::new(0);

/// `impl Trait` arguments make a function generic without a generic parameter in its signature.
#[cached]
async fn show(value: impl Display + Send + Sync) -> String {
    SHOW_RUNS.fetch_add(1, SeqCst);
    format!("<{value}>")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn clear_and_invalidate_of_a_function_with_impl_trait_arguments() {
    with_provider(MemoryProvider::new(), async {
        assert_eq!(show(5u32).await, "<5>");
        assert_eq!(show(5u32).await, "<5>");
        assert_eq!(SHOW_RUNS.load(SeqCst), 1);
        assert!(show_invalidate(5u32).await);
        show(5u32).await;
        show("x").await;
        assert_eq!(show_clear().await, 2, "both entries of `show`");
        show(5u32).await;
        assert_eq!(SHOW_RUNS.load(SeqCst), 4);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// `max_entries`.
// ---------------------------------------------------------------------------------------------

static TINY_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "adv3_tiny:{id}", max_entries = 1)]
async fn tiny(id: u32) -> u32 {
    TINY_RUNS.fetch_add(1, SeqCst);
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_entries_one_keeps_the_newest_key() {
    with_provider(MemoryProvider::new(), async {
        let before = TINY_RUNS.load(SeqCst);
        for id in 0..20 {
            tiny(id).await;
            tiny(id).await;
        }
        assert_eq!(TINY_RUNS.load(SeqCst) - before, 20, "each key, once stored, is a hit right after");
        assert!(!tiny_invalidate(0).await, "the oldest key is gone");
        assert!(tiny_invalidate(19).await, "the newest key is there");
    })
    .await;
}

static BOUNDED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "adv3_bounded:{id}", max_entries = 8)]
async fn bounded(id: u32) -> u32 {
    BOUNDED_RUNS.fetch_add(1, SeqCst);
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_entries_bounds_the_function_and_stays_out_of_the_shared_store() {
    let shared = MemoryProvider::new();
    with_provider(shared.clone(), async {
        for id in 0..500 {
            bounded(id).await;
        }
        let before = BOUNDED_RUNS.load(SeqCst);
        for id in 0..500 {
            bounded(id).await;
        }
        // Each key is visited once: only the keys held at the start of the pass can hit.
        let hits = 500 - (BOUNDED_RUNS.load(SeqCst) - before);
        assert!(hits <= 8, "{hits} hits with max_entries = 8");
        assert_eq!(shared.entry_count(), 0, "the shared store holds none of them");
        let stats = stats_for(concat!(module_path!(), "::bounded")).unwrap();
        assert!(stats.sets >= 500, "{stats:?}");
    })
    .await;
    // Another scope is another bounded store.
    let before = BOUNDED_RUNS.load(SeqCst);
    with_provider(MemoryProvider::new(), bounded(499)).await;
    assert_eq!(BOUNDED_RUNS.load(SeqCst) - before, 1, "a new scope starts empty");
}

// ---------------------------------------------------------------------------------------------
// `cache_if`: refused values are returned, never stored, waiters released, counted.
// ---------------------------------------------------------------------------------------------

static PICKY_RUNS: AtomicUsize = AtomicUsize::new(0);
static PICKY_VALUE: AtomicU64 = AtomicU64::new(0);

fn positive(value: &u64) -> bool {
    *value > 0
}

#[cached(key = "adv3_picky:{id}", cache_if = positive)]
async fn picky(id: u32) -> Result<u64, String> {
    PICKY_RUNS.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(40)).await;
    let _ = id;
    Ok(PICKY_VALUE.load(SeqCst))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn a_refused_value_releases_every_waiter_and_is_counted_once() {
    let store = MemoryProvider::new();
    PICKY_VALUE.store(0, SeqCst);
    let label = concat!(module_path!(), "::picky");
    let refused_before = stats_for(label).map_or(0, |s| s.refused);
    let runs_before = PICKY_RUNS.load(SeqCst);
    let callers: Vec<_> = (0..32).map(|_| spawn_on(&store, picky(1))).collect();
    let all = tokio::time::timeout(Duration::from_secs(10), async {
        let mut out = Vec::new();
        for caller in callers {
            out.push(caller.await.unwrap());
        }
        out
    })
    .await
    .expect("no waiter hangs on a refused value");
    assert!(all.iter().all(|v| *v == Ok(0)));
    assert_eq!(PICKY_RUNS.load(SeqCst) - runs_before, 1, "the waiters took the refused value");
    assert_eq!(stats_for(label).unwrap().refused - refused_before, 1);
    assert_eq!(store.stats().refused, 1);
    assert_eq!(store.entry_count(), 0, "not stored");
    // A refused refresh stores nothing either, and is counted.
    assert_eq!(with_provider(store.clone(), picky_refresh(1)).await, Ok(0));
    assert_eq!(store.entry_count(), 0);
    assert_eq!(store.stats().refused, 2);
    PICKY_VALUE.store(3, SeqCst);
    assert_eq!(with_provider(store.clone(), picky(1)).await, Ok(3));
    assert_eq!(store.entry_count(), 1);
}

// ---------------------------------------------------------------------------------------------
// The Notify-based wait: leaders dropped, detached, ending before a waiter looks.
// ---------------------------------------------------------------------------------------------

static DROPPY_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "adv3_droppy:{id}")]
async fn droppy(id: u32, delay_ms: u64) -> u32 {
    DROPPY_RUNS.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    id
}

/// Leaders cancelled at random points, waiters joining at random times, many keys: every caller
/// that is not cancelled gets its value well within `max_wait` (a lost wakeup would park it for
/// the whole 60 s).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn cancelled_leaders_never_strand_their_waiters() {
    let store = MemoryProvider::builder().max_wait(Duration::from_secs(60)).build();
    let mut rng = Rng(0xDEAD_BEEF_1234_5678);
    for round in 0..40u32 {
        let key = round % 5;
        let mut tasks = Vec::new();
        for _ in 0..12 {
            let delay = rng.below(8);
            let cancel_after = rng.below(12);
            let cancel = rng.below(3) == 0;
            let store = store.clone();
            tasks.push(tokio::spawn(async move {
                let call = with_provider(store, droppy(key, delay));
                if cancel {
                    let _ = tokio::time::timeout(Duration::from_millis(cancel_after), call).await;
                    None
                } else {
                    Some(call.await)
                }
            }));
            if rng.below(2) == 0 {
                tokio::time::sleep(Duration::from_micros(rng.below(2_000))).await;
            }
        }
        let results = tokio::time::timeout(Duration::from_secs(10), async {
            let mut out = Vec::new();
            for task in tasks {
                out.push(task.await.unwrap());
            }
            out
        })
        .await
        .expect("a waiter was stranded");
        assert!(results.into_iter().flatten().all(|v| v == key));
        if rng.below(2) == 0 {
            with_provider(store.clone(), droppy_invalidate(key)).await;
        }
    }
}

static VOIDY_RUNS: AtomicUsize = AtomicUsize::new(0);

/// `droppy`'s twin, with a counter of its own (the tests run at once).
#[cached(key = "adv3_voidy:{id}")]
async fn voidy(id: u32, delay_ms: u64) -> u32 {
    VOIDY_RUNS.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(delay_ms)).await;
    id
}

/// Waiters and an invalidation: after `_invalidate` detaches a flight, late callers lead new
/// ones; the early waiters must be released when the voided leader ends (not left parked).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn waiters_of_a_voided_flight_are_released_and_recompute() {
    let store = MemoryProvider::builder().max_wait(Duration::from_secs(60)).build();
    for round in 0..20u32 {
        let key = 1_000 + round;
        let before = VOIDY_RUNS.load(SeqCst);
        let leader = spawn_on(&store, voidy(key, 30));
        tokio::time::sleep(Duration::from_millis(5)).await;
        let waiters: Vec<_> = (0..10).map(|_| spawn_on(&store, voidy(key, 30))).collect();
        tokio::time::sleep(Duration::from_millis(5)).await;
        with_provider(store.clone(), voidy_invalidate(key)).await;
        let late: Vec<_> = (0..10).map(|_| spawn_on(&store, voidy(key, 30))).collect();
        tokio::time::timeout(Duration::from_secs(10), async {
            assert_eq!(leader.await.unwrap(), key);
            for task in waiters.into_iter().chain(late) {
                assert_eq!(task.await.unwrap(), key);
            }
        })
        .await
        .expect("a waiter of a voided flight was stranded");
        // The voided leader, then one new flight that the early waiters and the late callers share
        // (one in all when the invalidation came before the leader started, on a loaded machine).
        let runs = VOIDY_RUNS.load(SeqCst) - before;
        assert!((1..=3).contains(&runs), "{runs} runs");
    }
}

// ---------------------------------------------------------------------------------------------
// Keys: the fast writers write what `Display` writes; `{x:?}` is Debug.
// ---------------------------------------------------------------------------------------------

#[cached(key = "adv3_int:{x}")]
async fn int_key(x: i128) -> u8 {
    1
}

#[cached(key = "adv3_int_ref:{x}")]
async fn int_ref_key(x: &&u16) -> u8 {
    let _ = x;
    1
}

#[cached(key = "adv3_text:{x}")]
async fn text_key(x: String) -> u8 {
    let _ = x;
    1
}

#[cached(key = "adv3_str:{x}")]
async fn str_key(x: &str) -> u8 {
    let _ = x;
    1
}

#[cached(key = "adv3_mut_string:{x}")]
async fn mut_string_key(x: &mut String) -> u8 {
    x.push('!');
    1
}

#[cached(key = "adv3_dbg:{x:?}")]
async fn debug_string_key(x: String) -> u8 {
    let _ = x;
    1
}

#[cached(key = "adv3_disp_and_dbg:{x}:{x:?}")]
async fn both_key(x: &str) -> u8 {
    let _ = x;
    1
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fast_writers_write_what_display_writes() {
    with_provider(MemoryProvider::new(), async {
        for x in [i128::MIN, -1, 0, 42, i128::MAX] {
            int_key(x).await;
            assert_eq!(
                cache_runtime::get::<u8>(&format!("adv3_int:{}", escape(&x.to_string()))).await.unwrap(),
                Some(1)
            );
        }
        int_ref_key(&&65_535).await;
        assert_eq!(cache_runtime::get::<u8>("adv3_int_ref:65535").await.unwrap(), Some(1));
        let texts = ["", "a b", "a:b", "*", "é%/\\[]?", "%41"];
        for text in texts {
            text_key(text.to_string()).await;
            str_key(text).await;
            debug_string_key(text.to_string()).await;
            both_key(text).await;
            let mut owned = text.to_string();
            mut_string_key(&mut owned).await;
            let e = escape(text);
            let d = escape(&format!("{text:?}"));
            for key in [
                format!("adv3_text:{e}"),
                format!("adv3_str:{e}"),
                format!("adv3_dbg:{d}"),
                format!("adv3_disp_and_dbg:{e}:{d}"),
                format!("adv3_mut_string:{e}"),
            ] {
                assert_eq!(cache_runtime::get::<u8>(&key).await.unwrap(), Some(1), "{key}");
            }
        }
        // `"a"` and `"\"a\""` stay apart under `{x:?}` and `{x}` alike.
        assert!(cache_runtime::get::<u8>("adv3_text:%22%22").await.unwrap().is_none());
    })
    .await;
}

static DEFAULT_TEXT_RUNS: AtomicUsize = AtomicUsize::new(0);

/// A default key over two text arguments, written by the fast path: `("", "a")`, `("a", "")` and
/// `(":", "")` are three keys.
#[cached]
async fn default_text(a: String, b: &str) -> String {
    DEFAULT_TEXT_RUNS.fetch_add(1, SeqCst);
    format!("{a}|{b}")
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn default_text_keys_do_not_collide() {
    with_provider(MemoryProvider::new(), async {
        let cases = [("", "a"), ("a", ""), ("", ""), (":", ""), ("", ":"), ("%", ""), ("", "%")];
        for (a, b) in cases {
            assert_eq!(default_text(a.to_string(), b).await, format!("{a}|{b}"));
        }
        for (a, b) in cases {
            assert_eq!(default_text(a.to_string(), b).await, format!("{a}|{b}"), "a hit of its own key");
        }
        assert_eq!(DEFAULT_TEXT_RUNS.load(SeqCst), cases.len());
        for (a, b) in cases {
            assert!(default_text_invalidate(a.to_string(), b).await, "{a:?} {b:?}");
        }
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// `with_provider` and named providers.
// ---------------------------------------------------------------------------------------------

static NAMED_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(provider = "adv3_never_registered", key = "adv3_named:{id}")]
async fn on_named(id: u32) -> u32 {
    NAMED_RUNS.fetch_add(1, SeqCst);
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_provider_routes_a_named_provider_and_leaks_nothing() {
    let scoped = MemoryProvider::new();
    with_provider(scoped.clone(), async {
        on_named(1).await;
        on_named(1).await;
        assert!(on_named_invalidate(1).await);
        on_named(1).await;
        assert_eq!(on_named_clear().await, 1);
    })
    .await;
    assert_eq!(NAMED_RUNS.load(SeqCst), 2);
    assert_eq!(scoped.entry_count(), 0);
    // Outside: the provider is not registered, the body runs every time and nothing is stored.
    on_named(1).await;
    on_named(1).await;
    assert_eq!(NAMED_RUNS.load(SeqCst), 4);
    assert!(cache_runtime::get::<u32>("adv3_named:1").await.unwrap().is_none());
    let err = cache_runtime::check().expect_err("the named provider is missing");
    assert!(err.to_string().contains("adv3_never_registered"), "{err}");
}

// ---------------------------------------------------------------------------------------------
// Shapes that must compile with the companions generated, and behave.
// ---------------------------------------------------------------------------------------------

#[derive(Clone)]
struct Repo {
    tenant: String,
}

impl Repo {
    #[cached(key = "adv3_arc:{self.tenant}:{id}")]
    async fn by_arc(self: Arc<Self>, id: u32) -> String {
        format!("{}:{id}", self.tenant)
    }

    #[cached(key = "adv3_mut:{id}")]
    async fn with_mut(&self, mut id: u32) -> u32 {
        id += 1;
        id
    }

    #[cached]
    async fn assoc<T: Display + Send + Sync>(value: T) -> String {
        value.to_string()
    }

    #[cached(key = "adv3_life:{name}")]
    async fn life<'a>(&'a self, name: &'a str) -> usize {
        name.len() + self.tenant.len()
    }
}

#[cached(key = "adv3_pat:{id}")]
async fn with_pattern(id: u32, (a, b): (u32, u32)) -> u32 {
    id + a + b
}

#[cfg(any())]
#[cached]
async fn compiled_out(id: u32) -> u32 {
    id
}

#[cfg(not(any()))]
#[cached]
async fn compiled_in(id: u32) -> u32 {
    id
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shapes_compile_and_their_companions_work() {
    with_provider(MemoryProvider::new(), async {
        let repo = Arc::new(Repo { tenant: "acme".into() });
        assert_eq!(Arc::clone(&repo).by_arc(1).await, "acme:1");
        assert_eq!(Arc::clone(&repo).by_arc_refresh(1).await, "acme:1");
        assert_eq!(Arc::clone(&repo).by_arc_uncached(1).await, "acme:1");
        assert!(repo.by_arc_invalidate(1).await);
        assert_eq!(repo.with_mut(1).await, 2);
        assert_eq!(repo.with_mut_refresh(1).await, 2);
        assert!(Repo::with_mut_invalidate(1).await);
        assert_eq!(Repo::assoc(5u8).await, "5");
        assert_eq!(Repo::assoc_refresh(5u8).await, "5");
        assert_eq!(Repo::assoc_clear().await, 1);
        assert_eq!(repo.life("ab").await, 6);
        assert_eq!(repo.life_refresh("ab").await, 6);
        assert_eq!(with_pattern(1, (2, 3)).await, 6);
        assert_eq!(with_pattern_refresh(1, (2, 3)).await, 6);
        assert_eq!(with_pattern_uncached(1, (2, 3)).await, 6);
        assert!(with_pattern_invalidate(1).await);
        assert_eq!(compiled_in(3).await, 3);
        assert_eq!(compiled_in_clear().await, 1);
    })
    .await;
}

// ---------------------------------------------------------------------------------------------
// `max_entries` on two methods of one name in one module.
// ---------------------------------------------------------------------------------------------

struct Small;
struct Large;

static LARGE_RUNS: AtomicUsize = AtomicUsize::new(0);

impl Small {
    #[cached(max_entries = 2)]
    async fn lookup(id: u32) -> u32 {
        id
    }
}

impl Large {
    #[cached(max_entries = 1_000)]
    async fn lookup(id: u32) -> u32 {
        LARGE_RUNS.fetch_add(1, SeqCst);
        id
    }
}

/// "each function with it gets its own memory store of that bound": `Large::lookup` keeps its
/// 1,000 entries even though `Small::lookup` (same name, same module, bound 2) was called first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn max_entries_of_two_methods_of_one_name_are_their_own() {
    with_provider(MemoryProvider::new(), async {
        Small::lookup(0).await;
        for id in 0..50 {
            Large::lookup(id).await;
        }
        let before = LARGE_RUNS.load(SeqCst);
        for id in 0..50 {
            Large::lookup(id).await;
        }
        assert_eq!(LARGE_RUNS.load(SeqCst) - before, 0, "all 50 entries of `Large::lookup` are kept");
    })
    .await;
}

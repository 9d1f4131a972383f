//! `with_provider` puts one provider in place of every provider, named ones included: inside the
//! scope a function with `provider = "sessions"`, its `_invalidate` helper and the cache-aside
//! calls on `named("sessions")` use the scope's provider, and the registered store is never read
//! or written. So tests that each run in their own scope never share state.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::{cached, named, register, with_provider, CacheError, MemoryProvider};

static SESSION_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(provider = "sessions", key = "session:{id}")]
async fn session(id: u32) -> u32 {
    SESSION_RUNS.fetch_add(1, SeqCst);
    id
}

const MINUTE: Duration = Duration::from_secs(60);

#[tokio::test]
async fn a_named_function_in_a_scope_leaves_the_registered_store_untouched() -> Result<(), CacheError> {
    let sessions = MemoryProvider::new();
    register("sessions", sessions.clone());
    // What the registered store holds under the function's key: never read inside the scope.
    named("sessions")?.set("session:1", &100u32, MINUTE).await?;

    let isolated = MemoryProvider::new();
    with_provider(isolated.clone(), async {
        assert_eq!(session(1).await, 1, "the registered entry was read");
        assert_eq!(session(1).await, 1);
        assert!(session_invalidate(1).await);

        let handle = named("sessions")?;
        assert_eq!(handle.name(), "sessions");
        handle.set("aside", &5u32, MINUTE).await?;
        assert_eq!(handle.get::<u32>("aside").await?, Some(5));
        assert!(!handle.exists("session:1").await?, "the helper removed the scope's entry");
        // Any name serves, registered or not: a test need not register the providers it uses.
        assert_eq!(named("never-registered")?.get::<u32>("aside").await?, Some(5));
        Ok::<_, CacheError>(())
    })
    .await?;

    let untouched = sessions.stats();
    assert_eq!(
        (untouched.hits, untouched.misses, untouched.sets, untouched.deletes),
        (0, 0, 1, 0),
        "only the set made before the scope: {untouched:?}"
    );
    let used = isolated.stats();
    assert_eq!((used.misses, used.sets, used.deletes), (1, 2, 1), "{used:?}");
    assert_eq!(named("sessions")?.get::<u32>("session:1").await?, Some(100));
    assert!(!named("sessions")?.exists("aside").await?);
    Ok(())
}

/// Two scopes running at once, on other threads, each see only their own entries.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn scopes_running_at_once_share_nothing() {
    let scopes: Vec<_> = (0..2)
        .map(|_| {
            tokio::spawn(async {
                let own = MemoryProvider::new();
                with_provider(own.clone(), async {
                    session(2).await;
                    session(2).await;
                })
                .await;
                own.stats()
            })
        })
        .collect();
    for scope in scopes {
        let stats = scope.await.unwrap();
        assert_eq!((stats.misses, stats.hits, stats.sets), (1, 1, 1), "{stats:?}");
    }
}

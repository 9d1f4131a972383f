//! `cache_if = path`: a value the predicate refuses is returned and not stored, and counted.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};
use std::time::Duration;

use cache_runtime::{cached, stats_for, with_provider, MemoryProvider};

// The predicate takes `&V` exactly, and `V` here is a `Vec`.
#[allow(clippy::ptr_arg)]
fn not_empty(list: &Vec<u32>) -> bool {
    !list.is_empty()
}

static LIST_RUNS: AtomicUsize = AtomicUsize::new(0);

/// Do not cache an empty list.
#[cached(key = "list:{id}", cache_if = not_empty)]
async fn list(id: u32) -> Vec<u32> {
    LIST_RUNS.fetch_add(1, SeqCst);
    (0..id).collect()
}

#[tokio::test]
async fn a_refused_value_is_returned_not_stored_and_counted() {
    let store = MemoryProvider::new();
    with_provider(store.clone(), async {
        assert!(list(0).await.is_empty());
        assert!(list(0).await.is_empty());
        assert_eq!(LIST_RUNS.load(SeqCst), 2, "the empty list was computed twice");
        assert!(!cache_runtime::exists("list:0").await.unwrap());
        assert_eq!(list(3).await, [0, 1, 2]);
        assert_eq!(list(3).await, [0, 1, 2]);
        assert_eq!(LIST_RUNS.load(SeqCst), 3, "the second call was a hit");
        assert_eq!(list_refresh(0).await, Vec::<u32>::new());
        assert!(!cache_runtime::exists("list:0").await.unwrap(), "a refresh obeys cache_if too");
    })
    .await;
    assert_eq!(store.stats().refused, 3);
    assert_eq!(store.stats().sets, 1);
    assert_eq!(stats_for(concat!(module_path!(), "::list")).unwrap().refused, 3);
}

#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
struct Response {
    status: u16,
}

mod rules {
    /// Do not cache a 404.
    pub fn found(response: &super::Response) -> bool {
        response.status != 404
    }
}

static FETCH_RUNS: AtomicUsize = AtomicUsize::new(0);

/// The predicate sees the `Ok` payload; an `Err` is never stored anyway.
#[cached(key = "fetch:{path}", cache_if = rules::found)]
async fn fetch(path: &str) -> Result<Response, String> {
    FETCH_RUNS.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(30)).await;
    match path {
        "/missing" => Ok(Response { status: 404 }),
        "/broken" => Err("timeout".into()),
        _ => Ok(Response { status: 200 }),
    }
}

#[tokio::test]
async fn the_predicate_sees_the_ok_payload() {
    with_provider(MemoryProvider::new(), async {
        assert_eq!(fetch("/").await.unwrap().status, 200);
        assert_eq!(fetch("/missing").await.unwrap().status, 404);
        assert!(fetch("/broken").await.is_err());
        assert!(cache_runtime::exists("fetch:%2F").await.unwrap());
        assert!(!cache_runtime::exists("fetch:%2Fmissing").await.unwrap());
        assert_eq!(cache_runtime::stats().refused, 1, "an Err is not a refusal");
    })
    .await;
}

static MISSING_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "missing:{path}", cache_if = rules::found)]
async fn missing(path: &str) -> Result<Response, String> {
    MISSING_RUNS.fetch_add(1, SeqCst);
    tokio::time::sleep(Duration::from_millis(30)).await;
    Ok(Response { status: if path.is_empty() { 200 } else { 404 } })
}

/// Callers that joined a computation whose value is refused receive that value: they do not run
/// the body again one after the other.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn joined_callers_receive_a_refused_value() {
    let store = MemoryProvider::new();
    let tasks: Vec<_> = (0..20)
        .map(|_| tokio::spawn(with_provider(store.clone(), async { missing("/a").await.unwrap().status })))
        .collect();
    for task in tasks {
        assert_eq!(task.await.unwrap(), 404);
    }
    let runs = MISSING_RUNS.load(SeqCst);
    let stats = store.stats();
    assert_eq!(runs as u64, stats.misses, "every run is a counted miss");
    assert!(stats.joined > 0 && runs < 20, "callers joined: {stats:?}");
    assert_eq!(stats.refused, runs as u64);
}

//! `{x:?}` placeholders, default keys over `Debug` arguments, and `key_fn`, as a user writes them:
//! keys tell values apart, helpers remove the right entry, and escaping keeps a `Debug` value from
//! reaching another function's keys.

use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use cache_runtime::{cached, with_provider, MemoryProvider};

async fn exists(key: &str) -> bool {
    cache_runtime::exists(key).await.expect("the memory store answers")
}

static PAGE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key = "page:{cursor:?}")]
async fn page(cursor: Option<u64>) -> String {
    PAGE_RUNS.fetch_add(1, SeqCst);
    format!("{cursor:?}")
}

#[tokio::test]
async fn debug_placeholders_tell_some_from_none_and_invalidate_the_right_entry() {
    with_provider(MemoryProvider::new(), async {
        assert_eq!(page(Some(1)).await, "Some(1)");
        assert_eq!(page(None).await, "None");
        assert_eq!(page(Some(2)).await, "Some(2)");
        assert_eq!(page(Some(1)).await, "Some(1)");
        assert_eq!(PAGE_RUNS.load(SeqCst), 3, "three keys, one hit");
        assert!(exists("page:Some%281%29").await);
        assert!(exists("page:None").await);

        assert!(page_invalidate(Some(1)).await);
        assert!(!exists("page:Some%281%29").await);
        assert!(exists("page:None").await && exists("page:Some%282%29").await, "the others stay");
        assert!(!page_invalidate(Some(1)).await);
    })
    .await;
}

#[derive(Debug)]
struct Filter {
    text: &'static str,
}

#[cached(key = "search:{filter:?}")]
async fn search(filter: Filter) -> usize {
    filter.text.len()
}

#[cached(key = "search:{id}")]
async fn other(id: u64) -> u64 {
    id
}

#[tokio::test]
async fn debug_values_are_escaped_and_a_pattern_reaches_only_its_own_keys() {
    with_provider(MemoryProvider::new(), async {
        // `Filter { text: "a:*" }`: spaces, `:`, braces, quotes and `*` are all escaped.
        assert_eq!(search(Filter { text: "a:* b" }).await, 5);
        assert!(exists("search:Filter%20%7B%20text%3A%20%22a%3A%2A%20b%22%20%7D").await);
        // A key of another function under a prefix the Debug text would reach unescaped.
        assert_eq!(other(7).await, 7);
        assert!(exists("search:7").await);
        assert_eq!(cache_runtime::clear_pattern("search:Filter*").await.expect("memory answers"), 1);
        assert!(exists("search:7").await, "the pattern on the Debug text reached only its own key");
        assert!(!search_invalidate(Filter { text: "a:* b" }).await, "already cleared");
    })
    .await;
}

static LOOKUP_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached]
async fn lookup(name: Option<&str>, at: (u32, u32)) -> String {
    LOOKUP_RUNS.fetch_add(1, SeqCst);
    format!("{name:?}{at:?}")
}

#[tokio::test]
async fn a_default_key_over_option_str_tells_none_from_empty_and_from_the_word_none() {
    with_provider(MemoryProvider::new(), async {
        for _ in 0..2 {
            assert_eq!(lookup(None, (1, 2)).await, "None(1, 2)");
            assert_eq!(lookup(Some(""), (1, 2)).await, "Some(\"\")(1, 2)");
            assert_eq!(lookup(Some("None"), (1, 2)).await, "Some(\"None\")(1, 2)");
            assert_eq!(lookup(None, (2, 1)).await, "None(2, 1)");
        }
        assert_eq!(LOOKUP_RUNS.load(SeqCst), 4, "four keys, each a hit the second time");
        assert!(exists("keys_debug::lookup:None:%281%2C%202%29").await);
        assert!(exists("keys_debug::lookup:Some%28%22%22%29:%281%2C%202%29").await);
        assert!(lookup_invalidate(Some(""), (1, 2)).await);
        assert!(!exists("keys_debug::lookup:Some%28%22%22%29:%281%2C%202%29").await);
        assert!(exists("keys_debug::lookup:None:%281%2C%202%29").await, "None's entry stays");
    })
    .await;
}

fn tenant_key(tenant: &str, ids: &[u32]) -> String {
    format!("{tenant}/{}", ids.len())
}

static BATCH_RUNS: AtomicUsize = AtomicUsize::new(0);

#[cached(key_fn = tenant_key)]
async fn batch(tenant: &str, ids: &[u32]) -> usize {
    BATCH_RUNS.fetch_add(1, SeqCst);
    ids.len()
}

fn same_key(tenant: &str, ids: &[u32]) -> String {
    tenant_key(tenant, ids)
}

#[cached(key_fn = same_key)]
async fn batch_too(tenant: &str, ids: &[u32]) -> usize {
    ids.len() * 10
}

#[tokio::test]
async fn key_fn_keys_follow_the_function_path_and_the_helper_computes_them() {
    with_provider(MemoryProvider::new(), async {
        assert_eq!(batch("acme", &[1, 2]).await, 2);
        assert_eq!(batch("acme", &[3, 4]).await, 2, "the key function says these are the same");
        assert_eq!(BATCH_RUNS.load(SeqCst), 1);
        assert!(exists("keys_debug::batch:acme%2F2").await);
        // Same key function output, another function: another key.
        assert_eq!(batch_too("acme", &[1, 2]).await, 20);
        assert!(exists("keys_debug::batch_too:acme%2F2").await);

        assert!(batch_invalidate("acme", &[9, 9]).await);
        assert!(!exists("keys_debug::batch:acme%2F2").await);
        assert!(exists("keys_debug::batch_too:acme%2F2").await, "the other function's entry stays");
    })
    .await;
}

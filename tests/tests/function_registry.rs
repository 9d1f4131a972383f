//! `cache_runtime::functions()` lists every `#[cached]` function linked into the binary, called or
//! not (free, generic, methods, associated fns), and `cache_runtime::check()` names each function
//! whose named provider is not registered, with the provider it lacks.
//!
//! None of the functions below is ever called, nor is `cache_tests::never_called::archived`, in a
//! library crate that this binary links.
#![allow(dead_code)]

// The binary names the library, so that it is linked: a crate that a binary never names is not
// linked at all, and neither are its functions.
use cache_tests as _;

use std::error::Error;
use std::time::Duration;

use cache_runtime::{cached, CacheError, CachedFunction, FunctionTtl, MemoryProvider};

#[cached(ttl = "5m", key = "user:{id}")]
async fn user(id: u64) -> String {
    format!("user {id}")
}

#[cached]
async fn generic_len<T: AsRef<str> + std::fmt::Display>(value: T) -> usize {
    value.as_ref().len()
}

fn settings_ttl(factor: u32) -> Duration {
    Duration::from_secs(u64::from(factor))
}

#[cached(ttl = settings_ttl(2 * 30), key = "page:{n}", provider = "pages")]
async fn page(n: u32) -> u32 {
    n
}

#[cached(provider = "sesions", key = "session:{id}")]
async fn session_with_a_typo(id: u32) -> u32 {
    id
}

struct Repo {
    tenant: String,
}

impl Repo {
    #[cached(ttl = 60, key = "count:{self.tenant}", provider = "sesions")]
    async fn count(&self) -> u64 {
        1
    }

    #[cached(key = "by_id:{id}")]
    async fn by_id<T: Clone>(id: u64, _marker: Option<T>) -> u64 {
        id
    }
}

fn named(path: &str) -> &'static CachedFunction {
    let all = cache_runtime::functions();
    let found: Vec<_> =
        all.iter().filter(|f| f.name() == path || f.name() == format!("function_registry::{path}")).collect();
    assert_eq!(found.len(), 1, "one `{path}` in {all:#?}");
    found[0]
}

#[test]
fn every_function_is_listed_though_none_was_called() {
    let all = cache_runtime::functions();
    assert_eq!(all.len(), 7, "{all:#?}");
    let names: Vec<&str> = all.iter().map(|f| f.name()).collect();
    let mut sorted = names.clone();
    sorted.sort_unstable();
    assert_eq!(names, sorted, "sorted by name");

    let user = named("user");
    assert_eq!(
        (user.key(), user.provider(), user.ttl()),
        (Some("user:{id}"), "default", FunctionTtl::Fixed(Duration::from_secs(300)))
    );
    assert_eq!(user.to_string(), r#"function_registry::user: key "user:{id}", provider "default", ttl 300s"#);

    let generic = named("generic_len");
    assert_eq!((generic.key(), generic.ttl()), (None, FunctionTtl::Fixed(Duration::from_secs(300))));
    assert!(generic.to_string().contains("default key"), "{generic}");

    let page = named("page");
    assert_eq!((page.provider(), page.ttl()), ("pages", FunctionTtl::PerCall("settings_ttl(2 * 30)")));

    // Methods: named after their module, as in logs and metrics.
    let count = named("count");
    assert_eq!(
        (count.key(), count.provider(), count.ttl()),
        (Some("count:{self.tenant}"), "sesions", FunctionTtl::Fixed(Duration::from_secs(60)))
    );
    assert_eq!(named("by_id").key(), Some("by_id:{id}"));

    // In a library crate, never called.
    assert_eq!(named("cache_tests::never_called::archived").provider(), "archive");
}

/// The one test of this binary that registers providers.
#[test]
fn check_names_each_function_whose_provider_is_not_registered() {
    let error = cache_runtime::check().expect_err("nothing is registered");
    let CacheError::MissingProviders { functions } = &error else { panic!("{error:?}") };
    let missing: Vec<(&str, &str)> = functions.iter().map(|f| (f.name(), f.provider())).collect();
    assert_eq!(
        missing,
        [
            ("cache_tests::never_called::archived", "archive"),
            ("function_registry::count", "sesions"),
            ("function_registry::page", "pages"),
            ("function_registry::session_with_a_typo", "sesions"),
        ]
    );
    assert_eq!(error.kind(), "missing_providers");
    let dyn_error: &dyn Error = &error;
    assert_eq!(
        dyn_error.to_string(),
        "cache providers are not registered: `cache_tests::never_called::archived` uses provider \"archive\", \
         `function_registry::count` uses provider \"sesions\", \
         `function_registry::page` uses provider \"pages\", `function_registry::session_with_a_typo` uses \
         provider \"sesions\"; call cache_runtime::register(\"archive\", provider) and \
         cache_runtime::register(\"pages\", provider) and \
         cache_runtime::register(\"sesions\", provider) before cache_runtime::check(), or fix the name in \
         #[cached(provider = \"...\")]"
    );

    cache_runtime::register("pages", MemoryProvider::new());
    cache_runtime::register("archive", MemoryProvider::new());
    let error = cache_runtime::check().expect_err("the typo is still there");
    assert!(
        error.to_string().starts_with(
            "a cache provider is not registered: `function_registry::count` uses provider \"sesions\", \
             `function_registry::session_with_a_typo` uses provider \"sesions\"; \
             call cache_runtime::register(\"sesions\", provider) before"
        ),
        "{error}"
    );

    // A with_provider scope does not hide a missing provider from check().
    let scoped = tokio::runtime::Builder::new_current_thread()
        .build()
        .unwrap()
        .block_on(cache_runtime::with_provider(MemoryProvider::new(), async { cache_runtime::check() }));
    assert!(scoped.is_err());

    cache_runtime::register("sesions", MemoryProvider::new());
    cache_runtime::check().expect("every provider is registered");
}

//! Default keys (no `key` option) are unique per function: the `Self` type of an associated
//! function and every type argument are part of them, and so is each argument, an empty one
//! included. Each helper removes its own function's entry and no other.

use std::fmt::Display;
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use cache_runtime::{cached, with_provider, MemoryProvider};

async fn exists(key: &str) -> bool {
    cache_runtime::exists(key).await.expect("the memory store answers")
}

struct Users;
struct Orders;

impl Users {
    #[cached]
    async fn name_by_id(id: u64) -> String {
        format!("user {id}")
    }
}

impl Orders {
    #[cached]
    async fn name_by_id(id: u64) -> String {
        format!("order {id}")
    }
}

#[tokio::test]
async fn two_impl_blocks_never_share_entries() {
    let store = MemoryProvider::new();
    with_provider(store.clone(), async {
        assert_eq!(Users::name_by_id(1).await, "user 1");
        assert_eq!(Orders::name_by_id(1).await, "order 1");
        assert_eq!(Users::name_by_id(1).await, "user 1");
        assert_eq!(Orders::name_by_id(1).await, "order 1");
        assert!(exists("default_keys::Users::name_by_id:1").await);
        assert!(exists("default_keys::Orders::name_by_id:1").await);

        assert!(Users::name_by_id_invalidate(1).await);
        assert!(!exists("default_keys::Users::name_by_id:1").await);
        assert!(exists("default_keys::Orders::name_by_id:1").await, "the other type's entry stays");
        assert!(!Users::name_by_id_invalidate(1).await, "nothing left to remove");
        assert!(Orders::name_by_id_invalidate(1).await);
    })
    .await;
    let stats = store.stats();
    assert_eq!((stats.misses, stats.hits, stats.sets, stats.deletes), (2, 2, 2, 2));
}

trait Table {
    const NAME: &'static str;
}

struct User;
struct Order;

impl Table for User {
    const NAME: &'static str = "users";
}

impl Table for Order {
    const NAME: &'static str = "orders";
}

static COUNT_RUNS: AtomicUsize = AtomicUsize::new(0);

/// `T` appears in no parameter: only the type arguments tell the two instances apart.
#[cached]
async fn count<T: Table>() -> String {
    COUNT_RUNS.fetch_add(1, SeqCst);
    format!("{} rows", T::NAME)
}

#[tokio::test]
async fn one_generic_function_at_two_type_arguments_never_shares_entries() {
    with_provider(MemoryProvider::new(), async {
        assert_eq!(count::<User>().await, "users rows");
        assert_eq!(count::<Order>().await, "orders rows");
        assert_eq!(count::<User>().await, "users rows");
        assert_eq!(count::<Order>().await, "orders rows");
        assert_eq!(COUNT_RUNS.load(SeqCst), 2, "one run per type argument");
        assert!(exists("default_keys::count<default_keys::User>").await);
        assert!(exists("default_keys::count<default_keys::Order>").await);

        assert!(count_invalidate::<User>().await);
        assert!(!exists("default_keys::count<default_keys::User>").await);
        assert!(exists("default_keys::count<default_keys::Order>").await, "the other instance's entry stays");
        assert!(!count_invalidate::<User>().await);
        assert!(count_invalidate::<Order>().await);
    })
    .await;
}

/// The type argument is inferred from the argument, in the function and in its helper.
#[cached]
async fn describe<T: Display + Send>(value: T) -> String {
    format!("{value} as {}", std::any::type_name::<T>())
}

#[tokio::test]
async fn inferred_type_arguments_are_part_of_the_key() {
    with_provider(MemoryProvider::new(), async {
        assert_eq!(describe(7u8).await, "7 as u8");
        assert_eq!(describe(7u64).await, "7 as u64");
        assert!(exists("default_keys::describe<u8>:7").await);
        assert!(exists("default_keys::describe<u64>:7").await);
        assert!(describe_invalidate(7u8).await);
        assert!(exists("default_keys::describe<u64>:7").await);
        assert!(describe_invalidate(7u64).await);
    })
    .await;
}

struct Repo<T>(std::marker::PhantomData<T>);

impl<T: Send + Sync + 'static> Repo<T> {
    #[cached]
    async fn kind(id: u32) -> String {
        format!("{id}: {}", std::any::type_name::<T>())
    }
}

#[tokio::test]
async fn the_type_arguments_of_the_self_type_are_part_of_the_key() {
    with_provider(MemoryProvider::new(), async {
        assert_eq!(Repo::<u8>::kind(1).await, "1: u8");
        assert_eq!(Repo::<String>::kind(1).await, "1: alloc::string::String");
        assert!(exists("default_keys::Repo<u8>::kind:1").await);
        assert!(exists("default_keys::Repo<alloc::string::String>::kind:1").await);
        assert!(Repo::<u8>::kind_invalidate(1).await);
        assert!(exists("default_keys::Repo<alloc::string::String>::kind:1").await);
        assert!(Repo::<String>::kind_invalidate(1).await);
    })
    .await;
}

/// `f` and the module `f` beside it: the default key of `f("", "g")` must not be `...::f::g`, the
/// default key of `f::g()`.
mod clash {
    use cache_runtime::cached;

    #[cached]
    pub async fn f(x: &str, y: &str) -> String {
        format!("f({x:?}, {y:?})")
    }

    pub mod f {
        use cache_runtime::cached;

        #[cached]
        pub async fn g() -> String {
            "g()".into()
        }
    }
}

#[tokio::test]
async fn an_empty_argument_never_makes_the_key_of_another_function() {
    with_provider(MemoryProvider::new(), async {
        assert_eq!(clash::f("", "g").await, "f(\"\", \"g\")");
        assert_eq!(clash::f::g().await, "g()");
        assert_eq!(clash::f("", "g").await, "f(\"\", \"g\")");
        assert!(exists("default_keys::clash::f:%:g").await, "an empty argument is written `%`");
        assert!(exists("default_keys::clash::f::g").await);

        assert!(clash::f_invalidate("", "g").await);
        assert!(exists("default_keys::clash::f::g").await, "the other function's entry stays");
        assert!(clash::f::g_invalidate().await);
    })
    .await;
}

#[tokio::test]
async fn functions_declared_in_a_test_body_never_share_entries() {
    // Declared inside an async block (`#[tokio::test]` wraps the body in one): their paths hold
    // a `{{closure}}` segment before their own names
    // (`default_keys::functions_declared_in_a_test_body_never_share_entries::{{closure}}::first`),
    // so `function_path` may strip only the trailing `::{{closure}}`s, not everything from the
    // first one on.
    #[cached]
    async fn first(n: u8) -> String {
        format!("first {n}")
    }

    #[cached]
    async fn second(n: u8) -> String {
        format!("second {n}")
    }

    with_provider(MemoryProvider::new(), async {
        assert_eq!(first(1).await, "first 1");
        assert_eq!(second(1).await, "second 1");
        assert_eq!(first(1).await, "first 1");
        assert!(first_invalidate(1).await);
        assert_eq!(second(1).await, "second 1");
        assert!(second_invalidate(1).await);
    })
    .await;
}

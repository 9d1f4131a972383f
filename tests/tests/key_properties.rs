//! Keys are injective and values never act as wildcards, for any arguments.

use std::collections::HashMap;
use std::time::Duration;

use cache_runtime::{cached, key, with_provider, MemoryProvider};
use proptest::prelude::*;

/// Values full of the characters that could confuse a key: separators, globs, escapes, unicode.
fn tricky() -> impl Strategy<Value = String> {
    proptest::string::string_regex("([a-z0-9:/*?\\[\\]\\\\%_. -]|é|\u{1F600}){0,8}").unwrap()
}

#[cached(key = "list:{owner}:{page}/{filter}")]
async fn list(owner: String, page: i64, filter: String) -> String {
    format!("{owner}|{page}|{filter}")
}

#[cached(key = "item:{id}")]
async fn item(id: String) -> String {
    id
}

fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap()
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(200))]

    /// Different argument lists never share an entry: each call returns its own arguments.
    #[test]
    fn argument_lists_never_collide(calls in proptest::collection::vec((tricky(), any::<i64>(), tricky()), 1..12)) {
        runtime().block_on(with_provider(MemoryProvider::new(), async {
            for (owner, page, filter) in &calls {
                let got = list(owner.clone(), *page, filter.clone()).await;
                prop_assert_eq!(got, format!("{owner}|{page}|{filter}"));
            }
            Ok(())
        }))?;
    }

    /// The escaping itself is injective on any pair of values.
    #[test]
    fn escaping_is_injective(a in tricky(), b in tricky()) {
        prop_assert_eq!(key::escape(&a) == key::escape(&b), a == b);
    }

    /// A value's key used as a pattern removes exactly that entry: `*`, `?`, `[` or `:` in a value
    /// never reaches another one. The prefix pattern still reaches them all.
    #[test]
    fn values_never_act_as_wildcards(ids in proptest::collection::hash_set(tricky(), 1..10)) {
        runtime().block_on(with_provider(MemoryProvider::new(), async {
            for id in &ids {
                item(id.clone()).await;
            }
            let victim = ids.iter().next().unwrap();
            let removed = cache_runtime::clear_pattern(&format!("item:{}", key::escape(victim))).await.unwrap();
            prop_assert_eq!(removed, 1);
            let mut alive = HashMap::new();
            for id in &ids {
                alive.insert(id.clone(), cache_runtime::exists(&format!("item:{}", key::escape(id))).await.unwrap());
            }
            for (id, alive) in &alive {
                prop_assert_eq!(*alive, id != victim, "{:?}", id);
            }
            let rest = cache_runtime::clear_pattern("item:*").await.unwrap();
            prop_assert_eq!(rest as usize, ids.len() - 1);
            Ok(())
        }))?;
    }
}

#[tokio::test]
async fn a_star_argument_is_its_own_entry() {
    with_provider(MemoryProvider::new(), async {
        item("1".into()).await;
        item("2".into()).await;
        item("*".into()).await;
        assert!(item_invalidate("*".into()).await);
        assert!(cache_runtime::exists("item:1").await.unwrap(), "the `*` entry's removal left the others");
        assert!(cache_runtime::exists("item:2").await.unwrap());
        assert!(!item_invalidate("*".into()).await);
        cache_runtime::set("item:1%3Aadmin", &"x".to_string(), Duration::from_secs(5)).await.unwrap();
        assert_eq!(item("1:admin".into()).await, "x", "`1:admin` reads only its own escaped key");
    })
    .await;
}

// Generic functions: the helper keeps the generic parameters its own parameters use, so that it
// can be called without naming a type.
use std::fmt::Display;

use cache_runtime::cached;
use serde::de::DeserializeOwned;
use serde::Serialize;

#[cached(key = "render:{item}")]
async fn render<T: Display + Send + Sync>(item: T) -> String {
    format!("<{item}>")
}

#[cached(key = "labelled:{label}:{item}")]
async fn labelled<L, T>(label: L, item: T) -> String
where
    L: Display + Send,
    T: Display + Send + Sync,
{
    format!("{label}={item}")
}

/// `V` is the cached value and appears in no parameter: the helper does not take it.
#[cached(key = "decode:{id}")]
async fn decode<V>(id: u64, raw: &str) -> Option<V>
where
    V: Clone + Serialize + DeserializeOwned + Send + Sync + 'static,
{
    let _ = id;
    parse_nothing(raw)
}

fn parse_nothing<V: DeserializeOwned>(_raw: &str) -> Option<V> {
    None
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(render(5u8).await, "<5>");
    assert_eq!(render("x").await, "<x>");
    assert!(render_invalidate(5u8).await);

    assert_eq!(labelled("a", 1.5).await, "a=1.5");
    assert!(labelled_invalidate("a", 1.5).await);

    assert_eq!(decode::<Vec<u8>>(1, "[1]").await, None);
    assert!(!decode_invalidate(1).await);
}

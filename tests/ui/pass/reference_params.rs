// Parameters by reference (`&str`, `&T` with `{param.field}`), a tuple field `{pair.0}`, and a
// lifetime; the helper takes the same types.
use cache_runtime::cached;

struct Query {
    page: u32,
    filter: String,
}

#[cached(key = "search:{term}:{query.page}:{query.filter}")]
async fn search(term: &str, query: &Query) -> Vec<String> {
    vec![format!("{term}@{}/{}", query.page, query.filter)]
}

#[cached(key = "pair:{pair.0}/{pair.1}")]
async fn pair(pair: (u8, String)) -> String {
    format!("{}{}", pair.0, pair.1)
}

#[cached(key = "first:{words}")]
async fn first<'a>(words: &'a str, _unused: &'a [u8]) -> Option<String> {
    words.split(' ').next().map(str::to_string)
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let query = Query { page: 2, filter: "new".into() };
    assert_eq!(search("rust", &query).await, ["rust@2/new"]);
    assert!(cache_runtime::exists("search:rust:2:new").await.unwrap());
    assert!(search_invalidate("rust", &query).await);

    assert_eq!(pair((1, "x".into())).await, "1x");
    assert!(cache_runtime::exists("pair:1/x").await.unwrap());
    assert!(pair_invalidate((1, "x".into())).await);

    assert_eq!(first("a b", &[]).await.as_deref(), Some("a"));
    assert!(first_invalidate("a b").await);
}

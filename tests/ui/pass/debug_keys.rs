// `{x:?}` writes a placeholder with `Debug`: `Option`, slices and tuples, fields too; the helper
// builds the same key.
use cache_runtime::cached;

#[derive(Debug)]
enum Kind {
    Open,
}

struct Filter {
    kind: Kind,
}

#[cached(key = "search:{query:?}:{ids:?}:{range:?}:{filter.kind:?}")]
async fn search(query: Option<&str>, ids: &[u32], range: (u32, u32), filter: &Filter) -> usize {
    query.map_or(0, str::len) + ids.len() + (range.1 - range.0) as usize + matches!(filter.kind, Kind::Open) as usize
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let filter = Filter { kind: Kind::Open };
    assert_eq!(search(Some("ab"), &[1, 2], (3, 5), &filter).await, 7);
    let key = "search:Some%28%22ab%22%29:%5B1%2C%202%5D:%283%2C%205%29:Open";
    assert!(cache_runtime::exists(key).await.unwrap());
    assert!(search_invalidate(Some("ab"), &[1, 2], (3, 5), &filter).await);
    assert!(!cache_runtime::exists(key).await.unwrap());
}

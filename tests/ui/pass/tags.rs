// `tags = [...]` with every kind of key and with the other options: each tag is a template as a
// key is (`{param}`, `{param.field}`, `{self.field}`, `{x:?}`), and a tagged entry is dropped by
// `invalidate_tag` whatever its key. `_refresh` stores with the same tags.
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use cache_runtime::cached;

#[derive(Debug)]
enum Region {
    Eu,
}

#[derive(Debug)]
struct Filter {
    region: Region,
    team: String,
}

fn team_key(team: &String) -> String {
    team.clone()
}

/// A free function, an integer and a text placeholder.
#[cached(key = "order:{id}", tags = ["user:{user_id}", "orders", "by:{by}"])]
async fn order(id: u64, user_id: u64, by: &str) -> String {
    format!("{id}/{user_id}/{by}")
}

/// A `Debug` placeholder, a field, a glob character (a tag is never a pattern) and the default key.
#[cached(tags = ["region:{region:?}", "team:{filter.team}", "region:{filter.region:?}", "all[*]"])]
async fn search(region: Region, filter: Filter) -> usize {
    format!("{region:?}{:?}", filter.region).len() + filter.team.len()
}

/// With `stale`, `hard_timeout` and `refresh_ahead`, which run the body in the background.
#[cached(ttl = "5m", stale = "1h", hard_timeout = "3s", refresh_ahead = "4m", tags = ["quote:{symbol}"])]
async fn quote(symbol: String) -> Result<u64, std::io::Error> {
    Ok(symbol.len() as u64)
}

/// With `local`, `max_entries` and `key_fn`.
#[cached(local, max_entries = 10, key_fn = team_key, tags = ["team:{team}"])]
async fn members(team: String) -> Vec<String> {
    vec![team]
}

struct Repo {
    tenant: String,
    runs: AtomicUsize,
}

impl Repo {
    /// A method whose tag names the receiver's field.
    #[cached(key = "page:{self.tenant}:{page}", tags = ["tenant:{self.tenant}", "page:{page}"])]
    async fn page(&self, page: u32) -> String {
        self.runs.fetch_add(1, SeqCst);
        format!("{}#{page}", self.tenant)
    }

    /// A tag that names `self` while the key does not: the helper still takes no `&self`.
    #[cached(key = "size:{n}", stale = "1h", tags = ["tenant:{self.tenant}"])]
    async fn size(&self, n: u64) -> Option<u64> {
        Some(n + self.tenant.len() as u64)
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(order(1, 42, "ada").await, "1/42/ada");
    assert_eq!(order_refresh(1, 42, "ada").await, "1/42/ada");
    assert!(order_invalidate(1).await);
    let filter = || Filter { region: Region::Eu, team: "core".into() };
    assert_eq!(search(Region::Eu, filter()).await, 8);
    assert_eq!(quote("ACME".into()).await.unwrap(), 4);
    assert_eq!(quote_refresh("ACME".into()).await.unwrap(), 4);
    assert_eq!(members("core".into()).await, ["core"]);
    let repo = Repo { tenant: "acme".into(), runs: AtomicUsize::new(0) };
    assert_eq!(repo.page(2).await, "acme#2");
    assert_eq!(repo.page(2).await, "acme#2");
    assert_eq!(repo.runs.load(SeqCst), 1);
    cache_runtime::invalidate_tag("tenant:acme").await.unwrap();
    assert_eq!(repo.page(2).await, "acme#2");
    assert_eq!(repo.runs.load(SeqCst), 2);
    assert_eq!(repo.size(3).await, Some(7));
    assert!(Repo::size_invalidate(3).await);
    search_clear().await;
}

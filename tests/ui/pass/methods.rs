// Methods: `&self` with `{self.field}` in the key, an associated fn without `self` (with a key and
// with the default key), `&mut self`. The helper of a method is an associated fn; it takes `&self`
// only where the key names `self`. A method with a receiver has no default key: its key says
// whether the receiver matters.
use std::sync::atomic::{AtomicUsize, Ordering::SeqCst};

use cache_runtime::cached;

struct Repo {
    tenant: String,
    runs: AtomicUsize,
}

impl Repo {
    #[cached(ttl = "5m", key = "page:{self.tenant}:{page}")]
    async fn page(&self, page: u32) -> String {
        self.runs.fetch_add(1, SeqCst);
        format!("{}#{page}", self.tenant)
    }

    #[cached(key = "square:{n}")]
    async fn square(n: u64) -> u64 {
        n * n
    }

    /// The key does not name `self`: the entry is shared by every `Repo`.
    #[cached(key = "bump:{by}")]
    async fn bump(&mut self, by: usize) -> usize {
        *self.runs.get_mut() += by;
        by
    }

    /// The key does not name `self`: the entry is shared by every `Repo`.
    #[cached(key = "count:{a}:{b}")]
    async fn count(&self, a: u8, b: String) -> usize {
        self.runs.fetch_add(1, SeqCst);
        usize::from(a) + b.len()
    }

    /// The default key: the path `<crate>::Repo::cube`, then the argument.
    #[cached]
    async fn cube(n: u64) -> u64 {
        n * n * n
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut repo = Repo { tenant: "acme".into(), runs: AtomicUsize::new(0) };
    assert_eq!(repo.page(2).await, "acme#2");
    assert_eq!(repo.page(2).await, "acme#2");
    assert_eq!(repo.runs.load(SeqCst), 1);
    assert!(cache_runtime::exists("page:acme:2").await.unwrap());
    assert!(repo.page_invalidate(2).await);

    assert_eq!(Repo::square(12).await, 144);
    assert!(Repo::square_invalidate(12).await);

    assert_eq!(repo.bump(3).await, 3);
    assert_eq!(repo.bump(3).await, 3);
    assert_eq!(repo.runs.load(SeqCst), 4, "the second bump was a hit");
    assert!(Repo::bump_invalidate(3).await);

    assert_eq!(repo.count(1, "ab".into()).await, 3);
    assert_eq!(repo.count(1, "ab".into()).await, 3);
    assert_eq!(repo.runs.load(SeqCst), 5);
    assert!(cache_runtime::exists("count:1:ab").await.unwrap());
    assert!(Repo::count_invalidate(1, "ab".into()).await);

    assert_eq!(Repo::cube(3).await, 27);
    assert!(Repo::cube_invalidate(3).await);
}

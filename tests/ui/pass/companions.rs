// The companions of `#[cached]` functions, free and in impl blocks, with `cache_if` and
// `max_entries`: each takes the function's parameters (and receiver), `_clear` none.
use cache_runtime::cached;

fn positive(n: &u64) -> bool {
    *n > 0
}

#[cached(key = "square:{n}", cache_if = positive, max_entries = 100)]
pub async fn square(n: u64) -> u64 {
    n * n
}

#[cached]
async fn generic<T: std::fmt::Display + Send>(label: T) -> Option<String> {
    Some(label.to_string())
}

struct Repo {
    tenant: String,
}

impl Repo {
    #[cached(key = "page:{self.tenant}:{page}", cache_if = Repo::nonempty)]
    async fn page(&self, page: u32) -> Result<String, std::io::Error> {
        Ok(format!("{}#{page}", self.tenant))
    }

    fn nonempty(text: &String) -> bool {
        !text.is_empty()
    }

    #[cached(key = "cube:{n}")]
    async fn cube(n: u64) -> u64 {
        n * n * n
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(square_refresh(3).await, 9);
    assert_eq!(square_uncached(3).await, 9);
    assert_eq!(square(3).await, 9);
    assert_eq!(square_clear().await, 1);

    assert_eq!(generic_refresh(5u8).await.as_deref(), Some("5"));
    assert_eq!(generic_uncached("a").await.as_deref(), Some("a"));
    assert_eq!(generic_clear().await, 1);

    let repo = Repo { tenant: "acme".into() };
    assert_eq!(repo.page_refresh(2).await.unwrap(), "acme#2");
    assert_eq!(repo.page_uncached(2).await.unwrap(), "acme#2");
    assert_eq!(Repo::page_clear().await, 1);
    assert_eq!(Repo::cube_refresh(2).await, 8);
    assert_eq!(Repo::cube_uncached(2).await, 8);
    assert_eq!(Repo::cube_clear().await, 1);
}

// `key_fn = path`: the key is the function's path, `:`, and the escaped `Display` of the key
// function's result; it is called with references to the receiver (as `&Self`) and to every
// parameter, and the helper computes the same key.
use cache_runtime::cached;

struct Query {
    words: Vec<String>,
}

mod keys {
    pub fn query(query: &super::Query, limit: &usize) -> String {
        format!("{}/{limit}", query.words.join("+"))
    }

    pub fn scoped(repo: &super::Repo, id: &u64) -> String {
        format!("{}-{id}", repo.tenant)
    }
}

#[cached(key_fn = keys::query)]
async fn find(query: Query, limit: usize) -> usize {
    query.words.len().min(limit)
}

struct Repo {
    tenant: &'static str,
}

impl Repo {
    #[cached(key_fn = keys::scoped)]
    async fn get(&self, id: u64) -> u64 {
        id
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    // trybuild names the crate, and so the module, after the case number.
    let find_key = &format!("{}::find:a%20b%2Bc%2F5", module_path!());
    let query = || Query { words: vec!["a b".into(), "c".into()] };
    assert_eq!(find(query(), 5).await, 2);
    assert!(cache_runtime::exists(find_key).await.unwrap());
    assert!(find_invalidate(query(), 5).await);
    assert!(!cache_runtime::exists(find_key).await.unwrap());

    let repo = Repo { tenant: "acme" };
    assert_eq!(repo.get(7).await, 7);
    assert!(cache_runtime::exists(&format!("{}::Repo::get:acme-7", module_path!())).await.unwrap());
    assert!(repo.get_invalidate(7).await);
}

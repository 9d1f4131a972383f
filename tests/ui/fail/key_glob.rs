// A key template cannot hold glob characters: every key is also matched by `clear_pattern`.
use cache_runtime::cached;

#[cached(key = "user:*")]
async fn all_users() -> Vec<u64> {
    vec![1, 2]
}

fn main() {
    let _ = all_users();
    let _ = all_users_invalidate();
}

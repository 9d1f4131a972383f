// `key` and `key_fn` both give the key: only one may be given.
use cache_runtime::cached;

fn user_key(id: &u64) -> u64 {
    *id
}

#[cached(key = "user:{id}", key_fn = user_key)]
async fn get_user(id: u64) -> u64 {
    id
}

fn main() {
    let _ = get_user(1);
    let _ = get_user_invalidate(1);
}

// `key` takes a string literal, not an expression.
use cache_runtime::cached;

const KEY: &str = "user:{id}";

#[cached(key = KEY)]
async fn get_user(id: u64) -> u64 {
    id
}

fn main() {
    let _ = get_user(1);
    let _ = get_user_invalidate(1);
}

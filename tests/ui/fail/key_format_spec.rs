// Keys take `{x}` (Display) and `{x:?}` (Debug) only: any other format spec is an error.
use cache_runtime::cached;

#[cached(key = "user:{id:>5}")]
async fn get_user(id: u64) -> u64 {
    id
}

#[cached(key = "user:{id:#?}")]
async fn get_pretty(id: u64) -> u64 {
    id
}

fn main() {
    let _ = get_user(1);
    let _ = get_user_invalidate(1);
    let _ = get_pretty(1);
}

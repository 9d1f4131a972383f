// Placeholders are written with `Display`: a format spec such as `{id:?}` is an error.
use cache_runtime::cached;

#[cached(key = "user:{id:?}")]
async fn get_user(id: u64) -> u64 {
    id
}

fn main() {
    let _ = get_user(1);
    let _ = get_user_invalidate(1);
}

// A `{x}` placeholder value must be `Display` (`{x:?}` takes `Debug`); the error points at the key
// that names it. (The default key takes `Debug` arguments: see
// default_key_neither_display_nor_debug.rs.)
use cache_runtime::cached;

#[derive(Debug)]
struct UserId(u64);

#[cached(key = "user:{id}")]
async fn get_user(id: UserId) -> u64 {
    id.0
}

fn main() {
    let _ = get_user(UserId(1));
}

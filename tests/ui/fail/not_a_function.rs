// `#[cached]` goes on an `async fn`, not on a struct.
use cache_runtime::cached;

#[cached(ttl = 30)]
struct Settings {
    ttl: u64,
}

fn main() {
    let _ = Settings { ttl: 1 }.ttl;
}

// `provider` takes a string literal, the name the provider was registered under, and not an
// empty one.
use cache_runtime::cached;

#[cached(provider = sessions)]
async fn session(id: u64) -> u64 {
    id
}

#[cached(provider = "")]
async fn unnamed(id: u64) -> u64 {
    id
}

fn main() {
    let _ = unnamed(1);
    let _ = session(1);
    let _ = session_invalidate(1);
}

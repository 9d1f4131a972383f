// Options are `name = value`: an option without a value, or two options without a comma, is an
// error in its place, and the other options are still checked (here the duplicate `key`).
use cache_runtime::cached;

#[cached(ttl, key = "a:{n}", key = "b:{n}")]
async fn no_value(n: u64) -> u64 {
    n
}

#[cached(ttl = 30 key = "a:{n}")]
async fn no_comma(n: u64) -> u64 {
    n
}

fn main() {
    let _ = no_value(1);
    let _ = no_comma(1);
    let _ = no_value_invalidate(1);
}

// The default key names every parameter, and a pattern has no name.
use cache_runtime::cached;

#[cached]
async fn add((a, b): (u8, u8)) -> u8 {
    a + b
}

fn main() {
    let _ = add((1, 2));
}

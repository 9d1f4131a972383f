// `local` asks only for `Clone + Send + Sync + 'static`, and this value is not `Clone`.
use std::sync::Mutex;

use cache_runtime::cached;

struct Client {
    requests: Mutex<u32>,
}

#[cached(local, key = "client:{id}")]
async fn client(id: u64) -> Client {
    Client { requests: Mutex::new(u32::try_from(id).unwrap_or(0)) }
}

fn main() {
    let _ = client(1);
    let _ = client_invalidate(1);
}

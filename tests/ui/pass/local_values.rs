// `local`: values that are not serde (an `Arc` of a client, a handle), on every return shape.
use std::sync::{Arc, Mutex};

use cache_runtime::cached;

struct Client {
    requests: Mutex<u32>,
}

#[derive(Clone)]
struct Handle(Arc<Client>);

#[cached(local, key = "client:{id}")]
async fn client(id: u64) -> Arc<Client> {
    Arc::new(Client { requests: Mutex::new(u32::try_from(id).unwrap_or(0)) })
}

#[cached(local = true, ttl = "1m", max_entries = 10)]
async fn handle(id: u64) -> Result<Handle, String> {
    Ok(Handle(client(id).await))
}

#[cached(local, key = "maybe:{id}")]
async fn maybe(id: u64) -> Option<Arc<Client>> {
    (id > 0).then(|| Arc::new(Client { requests: Mutex::new(0) }))
}

// `local = false` is the default: the value must be serde.
#[cached(local = false, key = "count:{id}")]
async fn count(id: u64) -> u64 {
    id
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let first = client(1).await;
    assert!(Arc::ptr_eq(&first, &client(1).await));
    assert_eq!(*first.requests.lock().unwrap(), 1);
    assert!(handle(2).await.is_ok());
    assert!(maybe(0).await.is_none());
    assert_eq!(count(3).await, 3);
    assert!(client_invalidate(1).await);
    let _ = handle_refresh(2).await;
    let _ = maybe_clear().await;
    let _ = count_uncached(4).await;
}

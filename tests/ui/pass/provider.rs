// `provider = "name"` stores entries in the provider registered under that name.
use cache_runtime::{cached, register, MemoryProvider};

#[cached(provider = "sessions", key = "session:{id}")]
async fn session(id: u64) -> String {
    format!("session{id}")
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let sessions = MemoryProvider::new();
    register("sessions", sessions.clone());
    assert_eq!(session(1).await, "session1");
    assert_eq!(session(1).await, "session1");
    assert_eq!(sessions.stats().hits, 1);
    assert!(!cache_runtime::exists("session:1").await.unwrap(), "not in the default provider");
    assert!(session_invalidate(1).await);
    assert_eq!(sessions.stats().deletes, 1);
}

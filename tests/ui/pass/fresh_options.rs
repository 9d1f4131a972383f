// Every option of "fresh, stale, refreshed", with literals and `Duration` expressions, on
// each return shape; foreground options (`stale`, `hard_timeout`) take borrowed arguments.
use std::time::Duration;

use cache_runtime::{cached, Outcome};

fn stale_from_settings() -> Duration {
    Duration::from_secs(3_600)
}

#[cached(ttl = "5m", stale = "1h", soft_timeout = "200ms", hard_timeout = "3s", refresh_ahead = "4m")]
async fn quote(symbol: String) -> Result<u64, std::io::Error> {
    Ok(symbol.len() as u64)
}

#[cached(ttl = 60, stale = stale_from_settings(), hard_timeout = "2s", key = "name:{id}")]
async fn name(id: &str) -> Option<String> {
    Some(id.to_owned())
}

#[cached(ttl = Duration::from_secs(10), refresh_ahead = Duration::from_secs(8), key = "n:{n}")]
async fn whole(n: u64) -> u64 {
    n
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    assert_eq!(quote("ACME".into()).await.unwrap(), 4);
    assert_eq!(name("ada").await.as_deref(), Some("ada"));
    assert_eq!(cache_runtime::outcome(whole(3)).await, (3, Some(Outcome::Miss)));
    assert_eq!(cache_runtime::outcome(whole(3)).await, (3, Some(Outcome::Hit)));
    assert_eq!(quote_refresh("ACME".into()).await.unwrap(), 4);
    assert!(name_invalidate("ada").await);
}

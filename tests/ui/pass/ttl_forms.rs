// Every form of `ttl`: integer seconds (with or without a suffix), strings with a unit, and
// `Duration` expressions evaluated at each call.
use std::time::Duration;

use cache_runtime::cached;

mod settings {
    use std::time::Duration;

    pub fn cache_ttl() -> Duration {
        Duration::from_secs(std::env::var("NO_SUCH_TTL_VARIABLE").map_or(60, |secs| secs.parse().unwrap_or(60)))
    }
}

const TTL: Duration = Duration::from_secs(30);

#[cached(ttl = 300)]
async fn seconds(n: u8) -> u8 {
    n
}

#[cached(ttl = 300u64)]
async fn seconds_suffixed(n: u8) -> u8 {
    n
}

#[cached(ttl = "250ms")]
async fn millis(n: u8) -> u8 {
    n
}

#[cached(ttl = "30s")]
async fn secs(n: u8) -> u8 {
    n
}

#[cached(ttl = "5m")]
async fn minutes(n: u8) -> u8 {
    n
}

#[cached(ttl = "24h")]
async fn hours(n: u8) -> u8 {
    n
}

#[cached(ttl = "7d")]
async fn days(n: u8) -> u8 {
    n
}

#[cached(ttl = settings::cache_ttl())]
async fn from_settings(n: u8) -> u8 {
    n
}

#[cached(ttl = Duration::from_millis(u64::from(n) * 100), key = "from_args:{n}")]
async fn from_args(n: u8) -> u8 {
    n
}

#[cached(ttl = TTL)]
async fn from_const(n: u8) -> u8 {
    n
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let mut total = 0;
    for n in 1..=2 {
        total += seconds(n).await + seconds_suffixed(n).await + millis(n).await + secs(n).await;
        total += minutes(n).await + hours(n).await + days(n).await + from_settings(n).await;
        total += from_args(n).await + from_const(n).await;
    }
    assert_eq!(total, 30);
    assert!(from_args_invalidate(2).await);
}

//! A process that leads the computation of one cold key on Redis and never finishes it: the fleet
//! tests kill it with SIGKILL mid-computation and check that a waiter on another process takes
//! over. Usage: `fleet_leader REDIS_URL PREFIX LEASE_MS`; it prints `computing` once its body runs.

use std::io::Write;
use std::time::Duration;

use cache_runtime::{cached, RedisProvider};

#[cached(ttl = 60, key = "takeover:{id}")]
async fn takeover(id: u64) -> u64 {
    println!("computing");
    std::io::stdout().flush().expect("stdout");
    // Never done: the test kills this process mid-computation.
    std::future::pending::<()>().await;
    id
}

#[tokio::main]
async fn main() {
    let args: Vec<String> = std::env::args().collect();
    let [_, url, prefix, lease_ms] = &args[..] else { panic!("usage: fleet_leader REDIS_URL PREFIX LEASE_MS") };
    let lease = Duration::from_millis(lease_ms.parse().expect("LEASE_MS is a number"));
    let redis =
        RedisProvider::builder(url.as_str()).prefix(prefix.as_str()).lease(lease).connect().await.expect("redis");
    cache_runtime::set_default(redis);
    takeover(3).await;
}

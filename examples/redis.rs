//! The cache in Redis, configured from the environment: two calls of a cached function, a miss
//! then a hit, with their timings.
//!
//! ```text
//! CACHE_URL=redis://127.0.0.1:6379/0 cargo run --example redis --features redis
//! ```
//!
//! Without `CACHE_URL` (or `REDIS_URL`) it caches in memory; with a Redis that does not answer it
//! starts on memory, warns, and switches to Redis as soon as it answers.

use std::time::{Duration, Instant};

use cache_runtime::cached;
use serde::{Deserialize, Serialize};

#[derive(Debug, Clone, Serialize, Deserialize)]
struct Forecast {
    city: String,
    celsius: f32,
}

/// Stands for a slow call to another service.
#[cached(ttl = "10m", key = "forecast:{city}")]
async fn forecast(city: &str) -> Result<Forecast, std::io::Error> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    Ok(Forecast { city: city.to_owned(), celsius: 21.5 })
}

#[tokio::main]
async fn main() -> Result<(), Box<dyn std::error::Error>> {
    // The cache logs where it caches, and what fails, through `tracing`.
    tracing_subscriber::fmt().with_max_level(tracing_subscriber::filter::LevelFilter::INFO).with_target(false).init();
    cache_runtime::init_from_env().await?;
    // Start from a cold entry, so that the first call is a miss whatever an earlier run stored.
    forecast_invalidate("Lisbon").await;

    for attempt in ["first (miss)", "second (hit)"] {
        let started = Instant::now();
        let forecast = forecast("Lisbon").await?;
        println!("{attempt:>13}: {forecast:?} in {:.1?}", started.elapsed());
    }
    let stats = cache_runtime::stats();
    println!("hits {} misses {} errors {}", stats.hits, stats.misses, stats.errors);
    Ok(())
}

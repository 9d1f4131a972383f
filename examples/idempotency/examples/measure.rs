//! Measures a miss and a hit over HTTP, as a client sees them.
//!
//! ```text
//! cargo run -p idempotency-service --release --example measure            # starts the service in-process
//! cargo run -p idempotency-service --release --example measure -- --url http://127.0.0.1:8000
//! ```
//!
//! Without `--url` it starts the service in this process, configured from the environment like
//! the binary (so the LLM stand-in takes its real default of 2 s unless `LLM_LATENCY_MS` says
//! otherwise), on the default cache (memory; `CACHE_URL` for Redis). Each round posts a new
//! meeting once (a MISS: the LLM runs) and then the same request `--hits` times (HITs), over one
//! kept-alive connection, and checks `X-Cache` on every answer. Times are wall-clock times of the
//! whole HTTP exchange, body read included.

use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use idempotency_service::{metrics, AppState, Config};
use serde_json::json;

struct Args {
    url: Option<String>,
    rounds: usize,
    hits: usize,
}

fn args() -> Args {
    let mut args = Args { url: None, rounds: 5, hits: 20 };
    let mut it = std::env::args().skip(1);
    while let Some(arg) = it.next() {
        let mut value = |name: &str| it.next().unwrap_or_else(|| panic!("{name} needs a value"));
        match arg.as_str() {
            "--url" => args.url = Some(value("--url").trim_end_matches('/').to_owned()),
            "--rounds" => args.rounds = value("--rounds").parse().expect("--rounds takes a number"),
            "--hits" => args.hits = value("--hits").parse().expect("--hits takes a number"),
            other => panic!("unknown argument {other:?}; use --url URL, --rounds N, --hits N"),
        }
    }
    assert!(args.rounds > 0 && args.hits > 0, "--rounds and --hits must be at least 1");
    args
}

#[tokio::main]
async fn main() {
    let args = args();
    let (base, _service, latency) = match &args.url {
        Some(url) => (url.clone(), None, None),
        None => {
            let config = Config::from_env().expect("a valid configuration").with_bind_addr(([127, 0, 0, 1], 0).into());
            cache_runtime::init_from_env().await.expect("a valid CACHE_URL");
            let latency = config.llm_latency();
            let prometheus = metrics::builder().install_recorder().expect("the process's one recorder");
            let service =
                idempotency_service::spawn(AppState::new(config, prometheus)).await.expect("the service starts");
            (service.url(""), Some(service), Some(latency))
        }
    };
    let client = reqwest::Client::builder().timeout(Duration::from_secs(120)).build().expect("a client");
    // Opens the connection, so that the first miss does not pay for it.
    client.get(format!("{base}/health")).send().await.expect("the service answers /health");

    let run = SystemTime::now().duration_since(UNIX_EPOCH).unwrap().as_millis();
    let (mut misses, mut hits) = (Vec::new(), Vec::new());
    for round in 0..args.rounds {
        let body = json!({
            "transcript": "Cliente: Olá, gostaria de investir. Vou enviar os documentos amanhã. Ótimo atendimento, obrigado!",
            "metadata": {"meeting_id": format!("measure-{run}-{round}"), "customer_id": "CUST-001", "meet_date": "2025-10-15T10:00:00Z"}
        });
        let (time, cache) = post(&client, &base, &body).await;
        assert_eq!(cache, "MISS", "round {round}: a new meeting must be a miss");
        misses.push(time);
        for _ in 0..args.hits {
            let (time, cache) = post(&client, &base, &body).await;
            assert_eq!(cache, "HIT", "round {round}: a repeated meeting must be a hit");
            hits.push(time);
        }
    }

    let (miss, hit) = (median(&mut misses), median(&mut hits));
    let target = match latency {
        Some(latency) => format!("in-process service, LLM latency {} ms", latency.as_millis()),
        None => base.clone(),
    };
    let build = if cfg!(debug_assertions) { "debug" } else { "release" };
    println!("POST /extract against {target} (this program: {build} build)");
    println!("{} misses, {} hits", misses.len(), hits.len());
    println!();
    println!("| | median | p95 | min | max |");
    println!("|---|---|---|---|---|");
    for (name, times, median) in [("MISS (LLM called)", &misses, miss), ("HIT (from the cache)", &hits, hit)] {
        let (min, max) = (times[0], times[times.len() - 1]);
        println!("| {name} | {} | {} | {} | {} |", ms(median), ms(p95(times)), ms(min), ms(max));
    }
    println!();
    println!("speed-up (median miss / median hit): {:.0}x", miss.as_secs_f64() / hit.as_secs_f64());
}

async fn post(client: &reqwest::Client, base: &str, body: &serde_json::Value) -> (Duration, String) {
    let started = Instant::now();
    let response = client.post(format!("{base}/extract")).json(body).send().await.expect("the request is sent");
    let status = response.status();
    let cache = response.headers().get("x-cache").and_then(|v| v.to_str().ok()).unwrap_or("").to_owned();
    let bytes = response.bytes().await.expect("the body is read");
    let elapsed = started.elapsed();
    assert!(status.is_success(), "{status}: {}", String::from_utf8_lossy(&bytes));
    (elapsed, cache)
}

/// Sorts `times` and returns the median.
fn median(times: &mut [Duration]) -> Duration {
    times.sort();
    let mid = times.len() / 2;
    if times.len() % 2 == 0 {
        (times[mid - 1] + times[mid]) / 2
    } else {
        times[mid]
    }
}

/// The 95th percentile of sorted `times` (nearest rank).
fn p95(times: &[Duration]) -> Duration {
    times[(times.len() * 95).div_ceil(100).max(1) - 1]
}

fn ms(duration: Duration) -> String {
    let ms = duration.as_secs_f64() * 1e3;
    if ms >= 100.0 {
        format!("{ms:.0} ms")
    } else {
        format!("{ms:.2} ms")
    }
}

//! Logs: `tracing-subscriber` with an `EnvFilter`.
//!
//! `RUST_LOG` chooses what is shown; unset, it is [`DEFAULT_FILTER`], which shows the runtime's
//! `[CACHE HIT]`, `[CACHE MISS]` and `[CACHE SAVE]` events (DEBUG on the `cache_runtime` target)
//! and the service's INFO lines. `LOG_FORMAT=json` writes one JSON object per line, for a log
//! pipeline; anything else writes text, in colour on a terminal.

use std::io::IsTerminal;

use tracing_subscriber::EnvFilter;

/// The filter when `RUST_LOG` is unset.
pub const DEFAULT_FILTER: &str = "info,cache_runtime=debug";

/// Installs the global subscriber; a second call (or one after another subscriber) does nothing.
///
/// ```
/// idempotency_service::telemetry::init();
/// tracing::info!("logged");
/// ```
pub fn init() {
    let filter = EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(DEFAULT_FILTER));
    let json = std::env::var("LOG_FORMAT").is_ok_and(|format| format.eq_ignore_ascii_case("json"));
    let builder = tracing_subscriber::fmt().with_env_filter(filter);
    let _already_set = if json {
        builder.json().with_current_span(true).try_init()
    } else {
        builder.with_ansi(std::io::stdout().is_terminal()).try_init()
    };
}

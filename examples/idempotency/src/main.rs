//! `cargo run -p idempotency-service`: the service on the embedded in-memory cache; set
//! `CACHE_URL=redis://...` for Redis. The variables are listed in the README and in `config.rs`.

use std::process::ExitCode;

use idempotency_service::config::DEFAULT_CACHE_NEAR;
use idempotency_service::{metrics, serve, telemetry, AppState, Config};

#[tokio::main]
async fn main() -> ExitCode {
    telemetry::init();
    let config = match Config::from_env() {
        Ok(config) => config,
        Err(error) => {
            tracing::error!("bad configuration: {error}");
            return ExitCode::FAILURE;
        }
    };
    tracing::info!(?config, "starting");
    // The process's one metrics recorder, installed before any cached call.
    let prometheus = match metrics::builder().install_recorder() {
        Ok(handle) => handle,
        Err(error) => {
            tracing::error!("cannot install the metrics recorder: {error}");
            return ExitCode::FAILURE;
        }
    };
    let state = AppState::new(config, prometheus);
    // With Redis, a near cache: repeated requests are answered from memory, during an outage too.
    if let Err(error) = cache_runtime::init_from_env_near(DEFAULT_CACHE_NEAR).await {
        tracing::error!("bad cache configuration: {error}");
        return ExitCode::FAILURE;
    }
    let listener = match tokio::net::TcpListener::bind(state.config().bind_addr()).await {
        Ok(listener) => listener,
        Err(error) => {
            tracing::error!("cannot listen on {}: {error}", state.config().bind_addr());
            return ExitCode::FAILURE;
        }
    };
    match listener.local_addr() {
        Ok(addr) => tracing::info!("listening on http://{addr}"),
        Err(error) => tracing::warn!("listening, address unknown: {error}"),
    }
    match serve(listener, state, shutdown_signal()).await {
        Ok(()) => {
            tracing::info!("stopped");
            ExitCode::SUCCESS
        }
        Err(error) => {
            tracing::error!("server error: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Ctrl-C, or SIGTERM (what `docker stop` and Kubernetes send).
async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut signal) => {
                signal.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => {}
        () = terminate => {}
    }
    tracing::info!("shutting down: finishing the requests in flight");
}

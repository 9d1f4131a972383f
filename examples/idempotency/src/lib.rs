//! An idempotency cache in front of an expensive LLM API: identical requests are answered once
//! and then from the cache, in memory or in Redis, with truthful `X-Cache` headers, Prometheus
//! metrics and structured logs.
//!
//! The modules, in the order a request meets them: [`routes`] (the router, its tower-http layers
//! and the handlers), [`request`] (the body and its validation), [`idempotency`] (the key),
//! [`cache`] (the `#[cached]` steps and the HIT/MISS decision), [`llm`] (the stand-in), [`admin`]
//! (token-guarded cache administration), [`error`] (every error as JSON), [`metrics`] and
//! [`telemetry`], and [`config`] for the settings.
//!
//! Tests and embedders start the service in-process with [`spawn`], after installing the metrics
//! recorder once per process as `main` does:
//!
//! ```
//! use std::time::Duration;
//! use idempotency_service::{metrics, AppState, Config};
//!
//! # #[tokio::main(flavor = "current_thread")] async fn main() -> std::io::Result<()> {
//! let prometheus = metrics::builder().install_recorder().expect("no other recorder");
//! let config = Config::default().with_bind_addr(([127, 0, 0, 1], 0).into()).with_llm_latency(Duration::ZERO);
//! let service = idempotency_service::spawn(AppState::new(config, prometheus)).await?;
//! println!("serving on {}", service.url("/health"));
//! service.shutdown().await
//! # }
//! ```
#![warn(missing_docs)]

pub mod admin;
pub mod cache;
pub mod config;
pub mod error;
pub mod idempotency;
pub mod llm;
pub mod metrics;
pub mod request;
pub mod routes;
pub mod telemetry;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;

use metrics_exporter_prometheus::PrometheusHandle;
use tokio::net::TcpListener;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

pub use config::Config;
pub use error::ApiError;
pub use idempotency::IdempotencyKey;
use llm::Llm;

/// What every handler shares: the settings, the LLM client and the metrics handle. A cheap
/// `Clone` handle.
///
/// ```
/// use idempotency_service::{metrics, AppState, Config};
///
/// // A recorder that is not installed: `/metrics` shows nothing, which is enough here.
/// let prometheus = metrics::builder().build_recorder().handle();
/// let state = AppState::new(Config::default(), prometheus);
/// assert_eq!(state.llm().stats().calls, 0);
/// ```
#[derive(Clone)]
pub struct AppState {
    inner: Arc<Inner>,
}

struct Inner {
    config: Config,
    llm: Llm,
    prometheus: PrometheusHandle,
}

impl AppState {
    /// Makes the LLM client. `prometheus` is the handle of the recorder `main` installed (see
    /// [`metrics`]); `/metrics` renders it.
    pub fn new(config: Config, prometheus: PrometheusHandle) -> AppState {
        metrics::describe();
        let llm = Llm::new(config.llm_latency(), config.pricing());
        AppState { inner: Arc::new(Inner { config, llm, prometheus }) }
    }

    /// The settings.
    pub fn config(&self) -> &Config {
        &self.inner.config
    }

    /// The LLM client; its [`stats`](Llm::stats) count the calls made.
    pub fn llm(&self) -> &Llm {
        &self.inner.llm
    }

    /// The Prometheus handle that `/metrics` renders.
    pub fn prometheus(&self) -> &PrometheusHandle {
        &self.inner.prometheus
    }
}

/// Serves the service on `listener` until `shutdown` completes, then finishes the requests in
/// flight. Call [`cache_runtime::init_from_env`] first to use `CACHE_URL`; `main` does.
///
/// ```no_run
/// use idempotency_service::{metrics, AppState, Config};
///
/// # #[tokio::main] async fn main() -> std::io::Result<()> {
/// let prometheus = metrics::builder().install_recorder().unwrap();
/// let state = AppState::new(Config::from_env().unwrap(), prometheus);
/// let listener = tokio::net::TcpListener::bind(state.config().bind_addr()).await?;
/// idempotency_service::serve(listener, state, async { tokio::signal::ctrl_c().await.unwrap() }).await
/// # }
/// ```
pub async fn serve(
    listener: TcpListener,
    state: AppState,
    shutdown: impl Future<Output = ()> + Send + 'static,
) -> io::Result<()> {
    axum::serve(listener, routes::router(state)).with_graceful_shutdown(shutdown).await
}

/// Starts the service in-process on the state's `bind_addr` (port 0: a free one) and returns at
/// once; see the [crate example](crate). It uses whatever default cache provider is set.
pub async fn spawn(state: AppState) -> io::Result<Service> {
    let listener = TcpListener::bind(state.config().bind_addr()).await?;
    let addr = listener.local_addr()?;
    let (stop, stopped) = oneshot::channel::<()>();
    let task = tokio::spawn(serve(listener, state.clone(), async {
        let _ = stopped.await;
    }));
    tracing::info!("listening on http://{addr}");
    Ok(Service { addr, state, stop: Some(stop), task: Some(task) })
}

/// A service started by [`spawn`]. Dropping it stops it too, without waiting.
pub struct Service {
    addr: SocketAddr,
    state: AppState,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<io::Result<()>>>,
}

impl Service {
    /// The address it listens on.
    pub fn addr(&self) -> SocketAddr {
        self.addr
    }

    /// `http://{addr}{path}`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Its state, for its LLM counters.
    pub fn state(&self) -> &AppState {
        &self.state
    }

    /// Its LLM client.
    pub fn llm(&self) -> &Llm {
        self.state.llm()
    }

    /// Stops accepting, lets the requests in flight finish, and waits for that.
    pub async fn shutdown(mut self) -> io::Result<()> {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        match self.task.take() {
            Some(task) => task.await.map_err(io::Error::other)?,
            None => Ok(()),
        }
    }
}

impl Drop for Service {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}

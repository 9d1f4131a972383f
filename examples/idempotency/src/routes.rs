//! The router and the handlers of the public endpoints.
//!
//! | endpoint | answer |
//! |---|---|
//! | `POST /extract` | the [`Extraction`](crate::llm::Extraction) and `idempotency_key`; `X-Cache: HIT` or `MISS` |
//! | `POST /analyze` | the [`Analysis`](crate::llm::Analysis) and `idempotency_key`; `X-Cache: HIT` or `MISS` |
//! | `GET /health` | `{"status": "ok", ...}` with the cache's and the LLM's counters |
//! | `GET /metrics` | Prometheus text |
//! | `POST /admin/cache/clear` | see [`admin`] |
//! | `DELETE /admin/cache/{idempotency_key}` | see [`admin`] |
//!
//! A HIT's body is byte for byte the MISS's body: it holds only the stored answer and the key,
//! nothing of the request that served it (the request id is in `X-Request-ID`).

use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{extract::State, middleware, Json, Router};
use serde::Serialize;

use crate::admin;
use crate::cache::{self, Answer, CacheStatus, Served};
use crate::error::ApiError;
use crate::request::ValidJson;
use crate::{AppState, IdempotencyKey};

/// The `X-Cache` header.
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");

/// The whole service as an axum `Router`.
///
/// ```
/// use idempotency_service::{routes, AppState, Config};
///
/// let app: axum::Router = routes::router(AppState::new(Config::default()));
/// ```
pub fn router(state: AppState) -> Router {
    let admin = Router::new()
        .route("/admin/cache/clear", post(admin::clear))
        .route("/admin/cache/{idempotency_key}", delete(admin::delete))
        .route_layer(middleware::from_fn_with_state(state.clone(), admin::require_token));
    Router::new()
        .route("/extract", post(extract))
        .route("/analyze", post(analyze))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .merge(admin)
        .fallback(not_found)
        .layer(middleware::from_fn(crate::middleware::observe))
        .with_state(state)
}

/// The body of a successful `/extract` or `/analyze`: the key, then the answer's fields.
#[derive(Serialize)]
struct Body<'a, T> {
    idempotency_key: Option<&'a IdempotencyKey>,
    #[serde(flatten)]
    answer: &'a T,
}

async fn extract(State(state): State<AppState>, ValidJson(request): ValidJson) -> Result<Response, ApiError> {
    let served = cache::extract(state.llm(), state.config().cache_ttl(), &request).await?;
    Ok(respond(served))
}

async fn analyze(State(state): State<AppState>, ValidJson(request): ValidJson) -> Result<Response, ApiError> {
    let served = cache::analyze(state.llm(), state.config().cache_ttl(), &request).await?;
    Ok(respond(served))
}

fn respond<T: Answer + Serialize>(served: Served<T>) -> Response {
    let Served { answer, status, key } = served;
    crate::metrics::answered(T::OPERATION, status, answer.usage());
    let operation = T::OPERATION.as_str();
    match (&key, status) {
        (Some(key), CacheStatus::Hit) => {
            tracing::info!(operation, idempotency_key = %key.short(), "[CACHE HIT] answered without calling the LLM")
        }
        (Some(key), _) => tracing::info!(operation, idempotency_key = %key.short(), "[CACHE MISS] the LLM answered"),
        (None, _) => tracing::info!(operation, "[CACHE BYPASS] no usable metadata: answered uncached"),
    }
    let mut response = Json(Body { idempotency_key: key.as_ref(), answer: &answer }).into_response();
    response.headers_mut().insert(X_CACHE, HeaderValue::from_static(status.header_value()));
    response.extensions_mut().insert(status);
    response
}

#[derive(Serialize)]
struct Health {
    status: &'static str,
    cache: CacheHealth,
    llm: LlmHealth,
}

#[derive(Serialize)]
struct CacheHealth {
    ttl_seconds: u64,
    hits: u64,
    misses: u64,
    sets: u64,
    errors: u64,
    hit_rate: f64,
}

#[derive(Serialize)]
struct LlmHealth {
    calls: u64,
    failures: u64,
    prompt_tokens: u64,
    completion_tokens: u64,
}

/// Always 200 while the process serves: a cache outage does not make the service unhealthy,
/// since every request is still answered (by the LLM).
async fn health(State(state): State<AppState>) -> Json<Health> {
    let stats = cache_runtime::stats();
    let llm = state.llm().stats();
    Json(Health {
        status: "ok",
        cache: CacheHealth {
            ttl_seconds: state.config().cache_ttl().as_secs(),
            hits: stats.hits,
            misses: stats.misses,
            sets: stats.sets,
            errors: stats.errors,
            hit_rate: stats.hit_rate(),
        },
        llm: LlmHealth {
            calls: llm.calls,
            failures: llm.failures,
            prompt_tokens: llm.prompt_tokens,
            completion_tokens: llm.completion_tokens,
        },
    })
}

async fn metrics(State(state): State<AppState>) -> impl IntoResponse {
    (
        [(header::CONTENT_TYPE, HeaderValue::from_static("text/plain; version=0.0.4; charset=utf-8"))],
        crate::metrics::render(state.prometheus()),
    )
}

async fn not_found() -> impl IntoResponse {
    let body = serde_json::json!({"error": "not_found", "message": "no such endpoint"});
    (StatusCode::NOT_FOUND, Json(body))
}

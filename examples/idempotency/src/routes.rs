//! The router, the layers around it, and the handlers of the public endpoints.
//!
//! | endpoint | answer |
//! |---|---|
//! | `POST /extract` | the [`Extraction`](crate::llm::Extraction) and `idempotency_key`; `X-Cache: HIT`, `MISS`, or `STALE` (the LLM failed, the last good answer served; with `CACHE_STALE`) |
//! | `POST /analyze` | the [`Analysis`](crate::llm::Analysis) and `idempotency_key`; `X-Cache: HIT`, `MISS`, or `STALE` (the LLM failed, the last good answer served; with `CACHE_STALE`) |
//! | `GET /health` | `{"status": "ok", ...}` with the cache's and the LLM's counters |
//! | `GET /metrics` | Prometheus text |
//! | `POST /admin/cache/clear` | see [`admin`] |
//! | `DELETE /admin/cache/{idempotency_key}` | see [`admin`] |
//!
//! Any other path is a 404, and a path with a method it does not take a 405 (with `Allow`), both
//! [`ApiError`]s like every other error.
//!
//! A HIT's body is byte for byte the MISS's body: it holds only the stored answer and the key,
//! nothing of the request that served it (the request id is in `X-Request-ID`).
//!
//! Every request passes these layers, outermost first, all tower-http's but the histogram:
//!
//! 1. **Request id.** An incoming `X-Request-ID` of 1 to 128 visible ASCII characters is kept,
//!    so that a caller's id follows the request through its logs; any other is replaced, and a
//!    missing one made, by a UUID v4. The response carries it, errors included.
//! 2. **Trace.** Every log line of the request, the runtime's `[CACHE HIT]`, `[CACHE MISS]` and
//!    `[CACHE SAVE]` included, is inside a `request` span with that id; the last is `[RESPONSE]`
//!    with the status, the cache outcome and the time taken.
//! 3. The [`http_request_duration_seconds`](crate::metrics::record_duration) histogram.
//! 4. **Body limit** ([`MAX_BODY_BYTES`]: 413) and **timeout** (`REQUEST_TIMEOUT`: 504). These two
//!    answer by themselves, with a body of their own; `json_layer_errors` replaces it with the
//!    service's JSON error.

use std::time::Duration;

use axum::extract::{DefaultBodyLimit, Request, State};
use axum::http::{header, HeaderName, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{middleware, Json, Router};
use serde::Serialize;
use tower::ServiceBuilder;
use tower_http::limit::RequestBodyLimitLayer;
use tower_http::request_id::{MakeRequestId, MakeRequestUuid, PropagateRequestIdLayer, RequestId, SetRequestIdLayer};
use tower_http::set_header::SetRequestHeaderLayer;
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;
use tracing::Span;

use crate::admin;
use crate::cache::{self, Answer, CacheStatus, Served};
use crate::error::ApiError;
use crate::request::{ValidJson, MAX_BODY_BYTES};
use crate::{AppState, IdempotencyKey};

/// The `X-Cache` header.
pub const X_CACHE: HeaderName = HeaderName::from_static("x-cache");
/// The request id header.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The whole service as an axum `Router`, with its layers.
///
/// ```
/// use idempotency_service::{metrics, routes, AppState, Config};
///
/// let state = AppState::new(Config::default(), metrics::builder().build_recorder().handle());
/// let app: axum::Router = routes::router(state);
/// ```
pub fn router(state: AppState) -> Router {
    let layers = ServiceBuilder::new()
        .layer(SetRequestHeaderLayer::overriding(X_REQUEST_ID, replace_unusable_request_id))
        .layer(SetRequestIdLayer::new(X_REQUEST_ID, MakeRequestUuid))
        .layer(PropagateRequestIdLayer::new(X_REQUEST_ID))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_request(())
                .on_response(log_response)
                // A failure is an `ApiError`, which logs itself.
                .on_failure(()),
        )
        .layer(middleware::from_fn(crate::metrics::record_duration))
        .layer(middleware::map_response(json_layer_errors))
        .layer(RequestBodyLimitLayer::new(MAX_BODY_BYTES))
        .layer(TimeoutLayer::with_status_code(StatusCode::GATEWAY_TIMEOUT, state.config().request_timeout()))
        // axum's own default limit off: the one above is the only one.
        .layer(DefaultBodyLimit::disable());
    let admin = Router::new()
        .route("/admin/cache/clear", post(admin::clear))
        .route("/admin/cache/{idempotency_key}", delete(admin::delete))
        .route("/admin/cache/customer/{customer_id}", delete(admin::delete_customer))
        .route_layer(middleware::from_fn_with_state(state.clone(), admin::require_token));
    Router::new()
        .route("/extract", post(extract))
        .route("/analyze", post(analyze))
        .route("/health", get(health))
        .route("/metrics", get(metrics))
        .merge(admin)
        .fallback(not_found)
        // After every route: it applies to the routes present.
        .method_not_allowed_fallback(method_not_allowed)
        .layer(layers)
        .with_state(state)
}

/// Replaces an `X-Request-ID` that does not belong in a log line (empty, over 128 bytes, or with
/// anything but visible ASCII) by a new id; `None` keeps the header as it is. A missing one is
/// made by `SetRequestIdLayer`.
fn replace_unusable_request_id(request: &Request) -> Option<HeaderValue> {
    let id = request.headers().get(X_REQUEST_ID)?;
    let usable = (1..=128).contains(&id.len()) && id.as_bytes().iter().all(u8::is_ascii_graphic);
    if usable {
        return None;
    }
    MakeRequestUuid.make_request_id(request).map(RequestId::into_header_value)
}

fn request_span(request: &Request) -> Span {
    let id = request.headers().get(X_REQUEST_ID).and_then(|id| id.to_str().ok()).unwrap_or_default();
    tracing::info_span!("request", request_id = %id, method = %request.method(), path = %request.uri().path())
}

fn log_response(response: &Response, latency: Duration, _: &Span) {
    let status = response.status().as_u16();
    let cache = response.extensions().get::<CacheStatus>().map_or("none", |status| status.label());
    tracing::info!(status, cache, duration_ms = format_args!("{:.1}", latency.as_secs_f64() * 1e3), "[RESPONSE]");
}

/// Gives the body-limit and timeout layers' own answers (a plain-text 413, an empty 504) the
/// service's JSON error body; passes every other response through.
async fn json_layer_errors<B>(response: Response<B>) -> Response
where
    Response<B>: IntoResponse,
{
    let is_json =
        response.headers().get(header::CONTENT_TYPE).is_some_and(|t| t.as_bytes().starts_with(b"application/json"));
    match response.status() {
        StatusCode::PAYLOAD_TOO_LARGE if !is_json => ApiError::body_too_large().into_response(),
        StatusCode::GATEWAY_TIMEOUT if !is_json => ApiError::Timeout.into_response(),
        _ => response.into_response(),
    }
}

async fn not_found() -> ApiError {
    ApiError::NotFound
}

async fn method_not_allowed() -> ApiError {
    ApiError::MethodNotAllowed
}

/// The body of a successful `/extract` or `/analyze`: the key, then the answer's fields.
#[derive(Serialize)]
struct Body<'a, T> {
    idempotency_key: Option<&'a IdempotencyKey>,
    #[serde(flatten)]
    answer: &'a T,
}

async fn extract(State(state): State<AppState>, ValidJson(request): ValidJson) -> Result<Response, ApiError> {
    let served =
        cache::extract(state.llm(), state.config().cache_ttl(), state.config().cache_stale(), &request).await?;
    Ok(respond(served))
}

async fn analyze(State(state): State<AppState>, ValidJson(request): ValidJson) -> Result<Response, ApiError> {
    let served =
        cache::analyze(state.llm(), state.config().cache_ttl(), state.config().cache_stale(), &request).await?;
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
        (Some(key), CacheStatus::Stale) => tracing::warn!(
            operation,
            idempotency_key = %key.short(),
            "[CACHE STALE] the LLM failed: answered with the last good answer"
        ),
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

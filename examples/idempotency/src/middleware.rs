//! What wraps every request: the `X-Request-ID`, a tracing span, the duration histogram and the
//! access log line.
//!
//! An incoming `X-Request-ID` of 1 to 128 visible ASCII characters is kept (so that a caller's
//! id follows the request through its logs); otherwise the service makes a UUID v4. Either way the
//! response carries it. Every log line of the request, the runtime's `[CACHE HIT]`,
//! `[CACHE MISS]` and `[CACHE SAVE]` included, is inside a `request` span with that id.

use std::time::Instant;

use axum::extract::{MatchedPath, Request};
use axum::http::{HeaderName, HeaderValue};
use axum::middleware::Next;
use axum::response::Response;
use tracing::Instrument;

use crate::cache::CacheStatus;

/// The request id header.
pub const X_REQUEST_ID: HeaderName = HeaderName::from_static("x-request-id");

/// The request id, as handlers find it in the request's extensions.
#[derive(Clone, Debug)]
pub struct RequestId(pub String);

/// The middleware; `Router::layer(axum::middleware::from_fn(observe))`.
pub async fn observe(mut request: Request, next: Next) -> Response {
    let started = Instant::now();
    let id = request
        .headers()
        .get(&X_REQUEST_ID)
        .and_then(|value| value.to_str().ok())
        .filter(|value| is_acceptable_id(value))
        .map(str::to_owned)
        .unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let method = request.method().as_str().to_owned();
    // The route pattern, not the path: `/admin/cache/{idempotency_key}` is one series, and paths
    // that match no route share one.
    let route = request.extensions().get::<MatchedPath>().map_or("unmatched", MatchedPath::as_str).to_owned();
    request.extensions_mut().insert(RequestId(id.clone()));

    let span = tracing::info_span!("request", request_id = %id, method = %method, path = %request.uri().path());
    let mut response = next.run(request).instrument(span.clone()).await;

    let elapsed = started.elapsed();
    let status = response.status().as_u16();
    let cache = response.extensions().get::<CacheStatus>().map_or("none", |status| status.label());
    crate::metrics::http_request(&method, &route, status, cache, elapsed);
    if let Ok(value) = HeaderValue::from_str(&id) {
        response.headers_mut().insert(X_REQUEST_ID, value);
    }
    span.in_scope(|| {
        tracing::info!(status, cache, duration_ms = format_args!("{:.1}", elapsed.as_secs_f64() * 1e3), "[RESPONSE]")
    });
    response
}

fn is_acceptable_id(value: &str) -> bool {
    (1..=128).contains(&value.len()) && value.bytes().all(|b| b.is_ascii_graphic())
}

#[cfg(test)]
mod tests {
    #[test]
    fn request_ids_are_short_and_printable() {
        assert!(super::is_acceptable_id("req-42"));
        assert!(!super::is_acceptable_id(""));
        assert!(!super::is_acceptable_id("a b"));
        assert!(!super::is_acceptable_id(&"x".repeat(129)));
    }
}

//! `POST /admin/cache/clear`, `DELETE /admin/cache/{idempotency_key}` and
//! `DELETE /admin/cache/customer/{customer_id}`, behind a bearer token.
//!
//! With `ADMIN_TOKEN` set, a call needs `Authorization: Bearer <ADMIN_TOKEN>`; anything else is a
//! 401 with `WWW-Authenticate: Bearer`. With `ADMIN_TOKEN` unset (or empty) the endpoints are
//! disabled and answer 404 with `{"error": "admin_disabled", ...}`: an endpoint that cannot be
//! used does not exist, and no token, however guessed, opens it. The message says how to enable
//! them, for the operator who expected them.

use axum::extract::{Path, Request, State};
use axum::http::header::AUTHORIZATION;
use axum::middleware::Next;
use axum::response::Response;
use axum::Json;
use serde::Serialize;
use sha2::{Digest, Sha256};

use crate::cache::{self, Removed};
use crate::error::ApiError;
use crate::{AppState, IdempotencyKey};

/// Lets a request through only with the right bearer token; the admin routes' `route_layer`.
pub async fn require_token(State(state): State<AppState>, request: Request, next: Next) -> Result<Response, ApiError> {
    let Some(expected) = state.config().admin_token() else {
        return Err(ApiError::AdminDisabled);
    };
    let presented = request
        .headers()
        .get(AUTHORIZATION)
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.split_once(' '))
        .filter(|(scheme, _)| scheme.eq_ignore_ascii_case("bearer"))
        .map(|(_, token)| token.trim());
    match presented {
        Some(token) if same_secret(token, expected) => Ok(next.run(request).await),
        _ => Err(ApiError::Unauthorized),
    }
}

/// Compares the SHA-256 of both: the time taken tells nothing about how much of the token matched.
fn same_secret(presented: &str, expected: &str) -> bool {
    Sha256::digest(presented.as_bytes()) == Sha256::digest(expected.as_bytes())
}

/// The answer of `POST /admin/cache/clear`.
#[derive(Serialize)]
pub struct Cleared {
    /// How many answers were removed.
    pub removed: u64,
}

/// `POST /admin/cache/clear`: removes every answer this service stored.
pub async fn clear() -> Result<Json<Cleared>, ApiError> {
    Ok(Json(Cleared { removed: cache::clear().await? }))
}

/// The answer of `DELETE /admin/cache/{idempotency_key}`.
#[derive(Serialize)]
pub struct Deleted {
    /// The key, as the service writes it.
    pub idempotency_key: IdempotencyKey,
    /// Which answers were stored and are gone.
    pub removed: Removed,
}

/// `DELETE /admin/cache/{idempotency_key}`: removes the `/extract` and `/analyze` answers of one
/// meeting. 200 whether or not they were stored (the `removed` flags say); 422 for a key that is
/// not 64 hex digits.
pub async fn delete(Path(key): Path<String>) -> Result<Json<Deleted>, ApiError> {
    let key = IdempotencyKey::parse(&key)
        .ok_or_else(|| ApiError::invalid("idempotency_key", "must be the 64 hex digits the service returned"))?;
    let removed = cache::invalidate(&key).await;
    tracing::info!(idempotency_key = %key.short(), extract = removed.extract, analyze = removed.analyze, "[CACHE DELETE]");
    Ok(Json(Deleted { idempotency_key: key, removed }))
}

/// The answer of `DELETE /admin/cache/customer/{customer_id}`.
#[derive(Serialize)]
pub struct CustomerDropped {
    /// The customer, as given.
    pub customer_id: String,
    /// The tag its answers carry, which was invalidated.
    pub tag: String,
}

/// `DELETE /admin/cache/customer/{customer_id}`: drops every `/extract` and `/analyze` answer of
/// one customer, on every instance, however many meetings they had. 200 whether or not any was
/// stored (a tag's invalidation does not count what it drops); 422 for a blank id; 503 when the
/// store did not take it.
pub async fn delete_customer(Path(customer_id): Path<String>) -> Result<Json<CustomerDropped>, ApiError> {
    let customer_id = customer_id.trim().to_owned();
    if customer_id.is_empty() {
        return Err(ApiError::invalid("customer_id", "must not be blank"));
    }
    cache::invalidate_customer(&customer_id).await?;
    let tag = cache::customer_tag(&customer_id);
    tracing::info!(%tag, "[CACHE DELETE CUSTOMER]");
    Ok(Json(CustomerDropped { customer_id, tag }))
}

#[cfg(test)]
mod tests {
    #[test]
    fn secrets_compare_whole() {
        assert!(super::same_secret("abc", "abc"));
        assert!(!super::same_secret("ab", "abc"));
        assert!(!super::same_secret("", "abc"));
    }
}

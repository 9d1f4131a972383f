//! Every error the service answers with, as a JSON body: `{"error": code, "message": ..., "field": ...}`.
//!
//! | error | status | `error` |
//! |---|---|---|
//! | a field is missing, blank, of the wrong type or malformed; the body is not JSON | 422 | `invalid_request` (with `field`) |
//! | a `Content-Type` that is not JSON | 415 | `unsupported_media_type` (`field`: `content-type`) |
//! | the body cannot be read (over [`MAX_BODY_BYTES`]: 413) | 4xx | `unreadable_body` (`field`: `body`) |
//! | admin call without the right bearer token | 401 | `unauthorized` |
//! | admin call while `ADMIN_TOKEN` is unset | 404 | `admin_disabled` |
//! | no such endpoint | 404 | `not_found` |
//! | an endpoint called with a method it does not take (the `Allow` header lists those it does) | 405 | `method_not_allowed` |
//! | the LLM failed | 502 | `llm_failed` |
//! | the cache store failed during an admin call | 503 | `cache_unavailable` |
//! | no answer within `REQUEST_TIMEOUT` | 504 | `timeout` |
//!
//! A cached call never fails because of the cache: [`cache_runtime`] runs the LLM when its store
//! errors. Nothing here is a 500.
//!
//! [`MAX_BODY_BYTES`]: crate::request::MAX_BODY_BYTES

use axum::http::{header, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde::Serialize;

use crate::llm::LlmError;

/// An error response.
///
/// ```
/// use axum::response::IntoResponse;
/// use idempotency_service::ApiError;
///
/// let response = ApiError::invalid("metadata.meet_date", "is not a date").into_response();
/// assert_eq!(response.status(), 422);
/// ```
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum ApiError {
    /// A field of the request is wrong; `field` is its path (`metadata.meet_date`), or `body`.
    #[error("{field}: {message}")]
    Invalid {
        /// The field's path.
        field: String,
        /// What is wrong with it.
        message: String,
    },
    /// The `Content-Type` says the body is not JSON.
    #[error("the body must be JSON (Content-Type: application/json)")]
    UnsupportedMediaType,
    /// The body could not be read, for example because it is too large.
    #[error("{message}")]
    Body {
        /// The status axum chose (413 for a body over the limit).
        status: StatusCode,
        /// axum's explanation.
        message: String,
    },
    /// An admin call without the right bearer token.
    #[error("this endpoint needs `Authorization: Bearer <ADMIN_TOKEN>`")]
    Unauthorized,
    /// An admin call while `ADMIN_TOKEN` is unset.
    #[error("the admin endpoints are disabled: start the service with ADMIN_TOKEN set to enable them")]
    AdminDisabled,
    /// The LLM call failed; nothing was cached.
    #[error("the LLM call failed: {0}")]
    Llm(#[from] LlmError),
    /// The cache store failed during an admin call.
    #[error("the cache store failed: {0}")]
    Cache(#[from] cache_runtime::CacheError),
    /// No route has this path.
    #[error("no such endpoint")]
    NotFound,
    /// The path exists, but not with this method; the response's `Allow` header lists the methods
    /// it takes.
    #[error("this endpoint does not take this method; the Allow header lists those it takes")]
    MethodNotAllowed,
    /// The request took longer than `REQUEST_TIMEOUT` and was abandoned; nothing was cached.
    #[error("no answer within the request timeout (REQUEST_TIMEOUT): the request was abandoned")]
    Timeout,
}

#[derive(Serialize)]
struct Body<'a> {
    error: &'static str,
    message: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    field: Option<&'a str>,
}

impl ApiError {
    /// A 422 about `field`.
    ///
    /// ```
    /// let error = idempotency_service::ApiError::invalid("transcript", "is required");
    /// assert_eq!(error.to_string(), "transcript: is required");
    /// ```
    pub fn invalid(field: impl Into<String>, message: impl Into<String>) -> ApiError {
        ApiError::Invalid { field: field.into(), message: message.into() }
    }

    /// A 413: the body is over [`MAX_BODY_BYTES`](crate::request::MAX_BODY_BYTES).
    ///
    /// ```
    /// assert_eq!(idempotency_service::ApiError::body_too_large().status(), 413);
    /// ```
    pub fn body_too_large() -> ApiError {
        let message = format!("the body is over the limit of {} bytes", crate::request::MAX_BODY_BYTES);
        ApiError::Body { status: StatusCode::PAYLOAD_TOO_LARGE, message }
    }

    /// The field the error is about, if it is about one.
    ///
    /// ```
    /// assert_eq!(idempotency_service::ApiError::invalid("transcript", "is required").field(), Some("transcript"));
    /// ```
    pub fn field(&self) -> Option<&str> {
        match self {
            ApiError::Invalid { field, .. } => Some(field),
            ApiError::UnsupportedMediaType => Some("content-type"),
            ApiError::Body { .. } => Some("body"),
            _ => None,
        }
    }

    /// The HTTP status.
    ///
    /// ```
    /// assert_eq!(idempotency_service::ApiError::Unauthorized.status(), 401);
    /// ```
    pub fn status(&self) -> StatusCode {
        match self {
            ApiError::Invalid { .. } => StatusCode::UNPROCESSABLE_ENTITY,
            ApiError::UnsupportedMediaType => StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ApiError::Body { status, .. } => *status,
            ApiError::Unauthorized => StatusCode::UNAUTHORIZED,
            ApiError::AdminDisabled | ApiError::NotFound => StatusCode::NOT_FOUND,
            ApiError::MethodNotAllowed => StatusCode::METHOD_NOT_ALLOWED,
            ApiError::Llm(_) => StatusCode::BAD_GATEWAY,
            ApiError::Cache(_) => StatusCode::SERVICE_UNAVAILABLE,
            ApiError::Timeout => StatusCode::GATEWAY_TIMEOUT,
        }
    }

    fn code(&self) -> &'static str {
        match self {
            ApiError::Invalid { .. } => "invalid_request",
            ApiError::UnsupportedMediaType => "unsupported_media_type",
            ApiError::Body { .. } => "unreadable_body",
            ApiError::Unauthorized => "unauthorized",
            ApiError::AdminDisabled => "admin_disabled",
            ApiError::NotFound => "not_found",
            ApiError::MethodNotAllowed => "method_not_allowed",
            ApiError::Llm(_) => "llm_failed",
            ApiError::Cache(_) => "cache_unavailable",
            ApiError::Timeout => "timeout",
        }
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        let message = match &self {
            ApiError::Invalid { message, .. } => message.clone(),
            other => other.to_string(),
        };
        match &self {
            ApiError::Llm(_) | ApiError::Cache(_) | ApiError::Timeout => {
                tracing::warn!(status = self.status().as_u16(), "{self}")
            }
            _ => tracing::info!(status = self.status().as_u16(), field = self.field(), "rejected: {self}"),
        }
        let body = Body { error: self.code(), message, field: self.field() };
        let mut response = (self.status(), Json(body)).into_response();
        if matches!(self, ApiError::Unauthorized) {
            response.headers_mut().insert(header::WWW_AUTHENTICATE, HeaderValue::from_static("Bearer"));
        }
        response
    }
}

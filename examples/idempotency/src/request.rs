//! The request body of `POST /extract` and `POST /analyze`, and its validation.
//!
//! ```json
//! {"transcript": "...", "metadata": {"meeting_id": "MTG-001", "customer_id": "CUST-001", "meet_date": "2025-10-15T10:00:00Z"}}
//! ```
//!
//! `transcript` is required and must not be blank. `metadata` and each of its fields may be
//! missing, `null` or blank: the request is then processed without the cache. A value of the wrong
//! type, or a `meet_date` that is not an RFC 3339 date-time, is a 422 that names the field. A body
//! over [`MAX_BODY_BYTES`] is a 413 (tower-http's body-limit layer, set in
//! [`routes::router`](crate::routes::router)).

use axum::body::Bytes;
use axum::extract::{FromRequest, Request};
use axum::http::header::CONTENT_TYPE;
use axum::http::StatusCode;
use serde::Deserialize;
use time::format_description::well_known::Rfc3339;
use time::{OffsetDateTime, UtcOffset};

use crate::error::ApiError;
use crate::IdempotencyKey;

/// The largest body the service reads: 2 MiB.
pub const MAX_BODY_BYTES: usize = 2 << 20;

/// A validated request.
///
/// ```
/// use idempotency_service::request::MeetingRequest;
///
/// let json = br#"{"transcript": "Hello.", "metadata": {"meeting_id": "MTG-001",
///     "customer_id": "CUST-001", "meet_date": "2025-10-15T07:00:00-03:00"}}"#;
/// let request = MeetingRequest::from_json(json)?;
/// assert_eq!(request.metadata.meet_date.as_deref(), Some("2025-10-15T10:00:00Z"));
/// assert!(request.idempotency_key().is_some());
///
/// let error = MeetingRequest::from_json(br#"{"metadata": {}}"#).unwrap_err();
/// assert_eq!(error.field(), Some("transcript"));
/// # Ok::<(), idempotency_service::ApiError>(())
/// ```
#[derive(Clone, Debug)]
pub struct MeetingRequest {
    /// The meeting's transcript, the LLM's input.
    pub transcript: String,
    /// What identifies the meeting; any part may be missing.
    pub metadata: Metadata,
}

/// The meeting's identity. Blank values are `None`; `meet_date` is normalized to UTC, to the
/// second or finer, as RFC 3339 (`2025-10-15T10:00:00Z`).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Metadata {
    /// The meeting's id.
    pub meeting_id: Option<String>,
    /// The customer's id.
    pub customer_id: Option<String>,
    /// When the meeting took place, in UTC.
    pub meet_date: Option<String>,
}

#[derive(Deserialize)]
struct RawRequest {
    transcript: Option<String>,
    metadata: Option<RawMetadata>,
}

#[derive(Deserialize)]
struct RawMetadata {
    meeting_id: Option<String>,
    customer_id: Option<String>,
    meet_date: Option<String>,
}

impl MeetingRequest {
    /// Parses and validates a JSON body; errors are [`ApiError::Invalid`] naming the field (`body`
    /// for JSON that does not parse).
    pub fn from_json(body: &[u8]) -> Result<MeetingRequest, ApiError> {
        let value: serde_json::Value = serde_json::from_slice(body)
            .map_err(|error| ApiError::invalid("body", format!("the body is not valid JSON: {error}")))?;
        if !value.is_object() {
            return Err(ApiError::invalid("body", "the body must be a JSON object"));
        }
        let raw: RawRequest = serde_path_to_error::deserialize(value)
            .map_err(|error| ApiError::invalid(error.path().to_string(), error.into_inner().to_string()))?;
        let transcript = match raw.transcript {
            Some(text) if !text.trim().is_empty() => text,
            Some(_) => return Err(ApiError::invalid("transcript", "must not be blank")),
            None => return Err(ApiError::invalid("transcript", "is required")),
        };
        let metadata = match raw.metadata {
            None => Metadata::default(),
            Some(raw) => Metadata {
                meeting_id: non_blank(raw.meeting_id),
                customer_id: non_blank(raw.customer_id),
                meet_date: non_blank(raw.meet_date).map(|date| normalize_date(&date)).transpose()?,
            },
        };
        Ok(MeetingRequest { transcript, metadata })
    }

    /// The request's idempotency key, when its metadata names the meeting fully; `None` means
    /// "process without the cache".
    pub fn idempotency_key(&self) -> Option<IdempotencyKey> {
        let Metadata { meeting_id: Some(meeting), customer_id: Some(customer), meet_date: Some(date) } = &self.metadata
        else {
            return None;
        };
        Some(IdempotencyKey::for_meeting(meeting, date, customer))
    }
}

/// The JSON body as a handler argument: `ValidJson(request): ValidJson`. Unlike axum's `Json`,
/// every way a body can be wrong is a 422 that names the field, and a missing `Content-Type` is
/// accepted (only a `Content-Type` that is not JSON is refused, with 415).
pub struct ValidJson(pub MeetingRequest);

impl<S: Send + Sync> FromRequest<S> for ValidJson {
    type Rejection = ApiError;

    async fn from_request(request: Request, state: &S) -> Result<Self, ApiError> {
        if let Some(content_type) = request.headers().get(CONTENT_TYPE) {
            let mime = content_type.to_str().unwrap_or("").split(';').next().unwrap_or("").trim().to_ascii_lowercase();
            if !(mime == "application/json" || mime.ends_with("+json")) {
                return Err(ApiError::UnsupportedMediaType);
            }
        }
        let body = Bytes::from_request(request, state).await.map_err(|rejection| match rejection.status() {
            // A body without a Content-Length that streams past the limit.
            StatusCode::PAYLOAD_TOO_LARGE => ApiError::body_too_large(),
            status => ApiError::Body { status, message: rejection.body_text() },
        })?;
        MeetingRequest::from_json(&body).map(ValidJson)
    }
}

fn non_blank(value: Option<String>) -> Option<String> {
    value.map(|v| v.trim().to_owned()).filter(|v| !v.is_empty())
}

fn normalize_date(text: &str) -> Result<String, ApiError> {
    let malformed = || {
        ApiError::invalid(
            "metadata.meet_date",
            format!("{text:?} is not an RFC 3339 date-time such as 2025-10-15T10:00:00Z"),
        )
    };
    let instant = OffsetDateTime::parse(text, &Rfc3339).map_err(|_| malformed())?;
    instant.to_offset(UtcOffset::UTC).format(&Rfc3339).map_err(|_| malformed())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn field_of(json: &str) -> String {
        MeetingRequest::from_json(json.as_bytes()).unwrap_err().field().unwrap().to_owned()
    }

    #[test]
    fn each_bad_input_names_its_field() {
        assert_eq!(field_of("{not json"), "body");
        assert_eq!(field_of(""), "body");
        assert_eq!(field_of("[1, 2]"), "body");
        assert_eq!(field_of(r#"{"metadata": null}"#), "transcript");
        assert_eq!(field_of(r#"{"transcript": "  "}"#), "transcript");
        assert_eq!(field_of(r#"{"transcript": 5}"#), "transcript");
        assert_eq!(field_of(r#"{"transcript": "t", "metadata": {"meeting_id": 7}}"#), "metadata.meeting_id");
        assert_eq!(field_of(r#"{"transcript": "t", "metadata": {"meet_date": "yesterday"}}"#), "metadata.meet_date");
        assert_eq!(
            field_of(r#"{"transcript": "t", "metadata": {"meet_date": "2025-13-01T00:00:00Z"}}"#),
            "metadata.meet_date"
        );
        assert_eq!(field_of(r#"{"transcript": "t", "metadata": "MTG-1"}"#), "metadata");
    }

    #[test]
    fn partial_or_blank_metadata_has_no_key() {
        let parse = |json: &str| MeetingRequest::from_json(json.as_bytes()).unwrap();
        assert!(parse(r#"{"transcript": "t"}"#).idempotency_key().is_none());
        let partial = r#"{"transcript": "t", "metadata": {"meeting_id": "M", "meet_date": "2025-10-15T10:00:00Z"}}"#;
        assert!(parse(partial).idempotency_key().is_none());
        let blank = r#"{"transcript": "t", "metadata": {"meeting_id": "M", "customer_id": " ", "meet_date": "2025-10-15T10:00:00Z"}}"#;
        assert!(parse(blank).idempotency_key().is_none());
    }

    #[test]
    fn the_same_instant_gives_the_same_key() {
        let parse = |date: &str| {
            let json = format!(
                r#"{{"transcript": "t", "metadata": {{"meeting_id": "M", "customer_id": "C", "meet_date": "{date}"}}}}"#
            );
            MeetingRequest::from_json(json.as_bytes()).unwrap().idempotency_key().unwrap()
        };
        assert_eq!(parse("2025-10-15T10:00:00Z"), parse("2025-10-15T07:00:00-03:00"));
        assert_ne!(parse("2025-10-15T10:00:00Z"), parse("2025-10-15T10:00:01Z"));
    }
}

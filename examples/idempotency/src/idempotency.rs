//! The idempotency key: which requests are "the same request".
//!
//! Two requests are the same when they name the same meeting: the same `meeting_id`, the same
//! `meet_date` (as an instant: `2025-10-15T07:00:00-03:00` is `2025-10-15T10:00:00Z`) and the same
//! `customer_id`. The key is the hex SHA-256 of those three values, each trimmed and preceded by
//! its length in bytes (8 bytes, big-endian), after a version tag. The lengths make the encoding
//! injective: the original service hashed `meeting_id + meet_date + customer_id` as one string,
//! under which `("AB", d, "C")` and `("A", d, "BC")` collide.
//!
//! The transcript is not part of the key: a second request for a meeting gets the first answer
//! even when its transcript differs. That is what idempotency means here (a retry, or a second
//! delivery of the same meeting, must not be paid for twice); to force a new answer, delete the
//! entry (`DELETE /admin/cache/{idempotency_key}`).

use std::fmt;

use sha2::{Digest, Sha256};

/// Bumped if the encoding ever changes, so that old and new keys never meet.
const VERSION_TAG: &[u8] = b"idempotency-key/v1";

/// The hex SHA-256 that identifies a meeting; 64 lowercase hex digits.
///
/// ```
/// use idempotency_service::IdempotencyKey;
///
/// let key = IdempotencyKey::for_meeting("MTG-001", "2025-10-15T10:00:00Z", "CUST-001");
/// assert_eq!(key.as_str().len(), 64);
/// assert_eq!(key, IdempotencyKey::for_meeting(" MTG-001 ", "2025-10-15T10:00:00Z", "CUST-001"));
/// assert_ne!(key, IdempotencyKey::for_meeting("MTG-001", "2025-10-15T10:00:00Z", "CUST-002"));
/// ```
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub struct IdempotencyKey(String);

impl IdempotencyKey {
    /// The key of a meeting. `meet_date` should already be normalized (see
    /// [`MeetingRequest`](crate::request::MeetingRequest), which does it); the values are trimmed.
    pub fn for_meeting(meeting_id: &str, meet_date: &str, customer_id: &str) -> IdempotencyKey {
        let mut hasher = Sha256::new();
        hasher.update(VERSION_TAG);
        for part in [meeting_id, meet_date, customer_id] {
            let part = part.trim().as_bytes();
            hasher.update((part.len() as u64).to_be_bytes());
            hasher.update(part);
        }
        IdempotencyKey(hex::encode(hasher.finalize()))
    }

    /// Reads a key as a client sends it back (the admin endpoints): 64 hex digits, any case.
    ///
    /// ```
    /// use idempotency_service::IdempotencyKey;
    ///
    /// let key = IdempotencyKey::for_meeting("MTG-001", "2025-10-15T10:00:00Z", "CUST-001");
    /// assert_eq!(IdempotencyKey::parse(&key.as_str().to_uppercase()), Some(key));
    /// assert_eq!(IdempotencyKey::parse("extract:*"), None);
    /// ```
    pub fn parse(text: &str) -> Option<IdempotencyKey> {
        (text.len() == 64 && text.bytes().all(|b| b.is_ascii_hexdigit()))
            .then(|| IdempotencyKey(text.to_ascii_lowercase()))
    }

    /// The 64 hex digits.
    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// The first 16 digits and an ellipsis, as logs show the key.
    ///
    /// ```
    /// let key = idempotency_service::IdempotencyKey::for_meeting("m", "d", "c");
    /// assert_eq!(key.short().chars().count(), 17);
    /// ```
    pub fn short(&self) -> String {
        format!("{}…", &self.0[..16])
    }
}

/// The 64 hex digits: what `#[cached(key = "extract:{idempotency_key}")]` puts in the key. Hex
/// digits are left as they are by the key escaping, so the stored key reads `extract:1294cd73…`.
impl fmt::Display for IdempotencyKey {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

impl serde::Serialize for IdempotencyKey {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(&self.0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn concatenation_does_not_collide() {
        let date = "2025-10-15T10:00:00Z";
        assert_ne!(IdempotencyKey::for_meeting("AB", date, "C"), IdempotencyKey::for_meeting("A", date, "BC"));
        assert_ne!(IdempotencyKey::for_meeting("A", "", "B"), IdempotencyKey::for_meeting("", "A", "B"));
    }

    #[test]
    fn the_key_is_stable() {
        // Changing the encoding orphans every stored answer: bump VERSION_TAG when you do.
        let key = IdempotencyKey::for_meeting("MTG-001", "2025-10-15T10:00:00Z", "CUST-001");
        assert_eq!(key.as_str(), "da1cfc3a7c478d28f0273bab634fc2034409668150874735052f89dfb75c4f8b");
    }

    #[test]
    fn parse_rejects_anything_but_64_hex_digits() {
        assert!(IdempotencyKey::parse(&"a".repeat(63)).is_none());
        assert!(IdempotencyKey::parse(&"g".repeat(64)).is_none());
        assert!(IdempotencyKey::parse(&"ab".repeat(32)).is_some());
    }
}

//! Idempotency records, after AWS Lambda Powertools' design.
//!
//! A consumer claims `(scope, key)` before any side effect. The claim is a conditional
//! write that succeeds only if no live record exists, and it carries a fresh owner token.
//! While the work runs the record is `in_progress` with a short expiry that follows the
//! invocation's remaining time (so a crashed worker does not block retries for long);
//! when it finishes the record becomes `completed` with the result and a long expiry (the
//! table's TTL removes it). `complete` and `release` are conditional on the owner token,
//! so a worker whose claim expired can never complete or release a newer worker's claim.
//! A second delivery with the same key finds the completed record and returns the stored
//! result; one with the same key but a different payload is reported, never merged.

use crate::Timestamp;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum RecordStatus {
    InProgress,
    Completed,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct IdempotencyRecord {
    pub scope: String,
    pub key: String,
    pub status: RecordStatus,
    pub payload_hash: String,
    /// The token of the claim that wrote the record (absent on records written before
    /// owners existed).
    #[serde(default)]
    pub owner: Option<String>,
    /// When the whole record may be forgotten (the TTL attribute, epoch seconds).
    pub expires_at: i64,
    /// When an in-progress claim is considered abandoned (epoch milliseconds).
    pub in_progress_until: Option<i64>,
    pub response: Option<serde_json::Value>,
}

/// Proof that a claim is ours: `complete` and `release` must present it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ClaimToken(pub String);

impl ClaimToken {
    pub fn fresh() -> Self {
        ClaimToken(ulid::Ulid::new().to_string())
    }
}

/// What a claim found.
#[derive(Debug, Clone, PartialEq)]
pub enum ClaimOutcome {
    /// Ours: do the work, then complete (or release on failure) with this token.
    Claimed(ClaimToken),
    /// Done before: skip the side effects and use this result.
    AlreadyCompleted(Option<serde_json::Value>),
    /// Someone is working on it right now: retry later.
    InProgress,
    /// Same key, different payload: a client bug or a collision; never silently merge.
    PayloadMismatch,
}

/// How long records live.
#[derive(Debug, Clone, Copy)]
pub struct IdempotencyPolicy {
    /// Completed records are kept this long (Meta retries for days; keep longer).
    pub record_ttl: time::Duration,
    /// An in-progress claim older than this is taken to be abandoned.
    pub in_progress_timeout: time::Duration,
}

impl Default for IdempotencyPolicy {
    fn default() -> Self {
        IdempotencyPolicy {
            record_ttl: time::Duration::days(7),
            in_progress_timeout: time::Duration::seconds(60),
        }
    }
}

impl IdempotencyPolicy {
    /// The policy for an invocation with `remaining` time left: an in-progress claim
    /// lasts as long as the invocation can (plus a little for clock skew), never longer,
    /// so a retry after a crash or a timeout can take the key over promptly.
    pub fn within(self, remaining: std::time::Duration) -> Self {
        let remaining = time::Duration::try_from(remaining).unwrap_or(self.in_progress_timeout);
        IdempotencyPolicy {
            in_progress_timeout: (remaining + time::Duration::seconds(1)).min(self.in_progress_timeout),
            ..self
        }
    }
}

impl IdempotencyRecord {
    pub fn in_progress(
        scope: &str,
        key: &str,
        payload_hash: &str,
        owner: &ClaimToken,
        now: Timestamp,
        policy: IdempotencyPolicy,
    ) -> Self {
        IdempotencyRecord {
            scope: scope.to_owned(),
            key: key.to_owned(),
            status: RecordStatus::InProgress,
            payload_hash: payload_hash.to_owned(),
            owner: Some(owner.0.clone()),
            expires_at: now.plus(policy.record_ttl).unix_seconds(),
            in_progress_until: Some(now.plus(policy.in_progress_timeout).unix_millis()),
            response: None,
        }
    }

    /// Decides what a failed claim means, given the record that blocked it.
    pub fn outcome_for(&self, payload_hash: &str, now: Timestamp) -> ClaimOutcome {
        if self.payload_hash != payload_hash {
            return ClaimOutcome::PayloadMismatch;
        }
        match self.status {
            RecordStatus::Completed => ClaimOutcome::AlreadyCompleted(self.response.clone()),
            RecordStatus::InProgress if self.in_progress_until.is_some_and(|t| t < now.unix_millis()) => {
                // Raced with an expiry: the caller's conditional write will decide next time.
                ClaimOutcome::InProgress
            }
            RecordStatus::InProgress => ClaimOutcome::InProgress,
        }
    }
}

/// The payload fingerprint stored with a claim (hex SHA-256).
pub fn payload_hash(payload: &[u8]) -> String {
    let digest = Sha256::digest(payload);
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn now() -> Timestamp {
        Timestamp::from_unix_millis(1_700_000_000_000).unwrap()
    }

    #[test]
    fn same_payload_completed_returns_the_stored_result() {
        let mut r = IdempotencyRecord::in_progress(
            "s",
            "k",
            &payload_hash(b"x"),
            &ClaimToken::fresh(),
            now(),
            Default::default(),
        );
        r.status = RecordStatus::Completed;
        r.response = Some(serde_json::json!({"ok": true}));
        assert_eq!(
            r.outcome_for(&payload_hash(b"x"), now()),
            ClaimOutcome::AlreadyCompleted(Some(serde_json::json!({"ok": true})))
        );
    }

    #[test]
    fn different_payload_under_the_same_key_is_refused() {
        let r = IdempotencyRecord::in_progress(
            "s",
            "k",
            &payload_hash(b"x"),
            &ClaimToken::fresh(),
            now(),
            Default::default(),
        );
        assert_eq!(r.outcome_for(&payload_hash(b"y"), now()), ClaimOutcome::PayloadMismatch);
    }

    #[test]
    fn expiries_follow_the_policy() {
        let policy = IdempotencyPolicy {
            record_ttl: time::Duration::hours(1),
            in_progress_timeout: time::Duration::seconds(5),
        };
        let r = IdempotencyRecord::in_progress("s", "k", "h", &ClaimToken::fresh(), now(), policy);
        assert_eq!(r.expires_at, now().unix_seconds() + 3600);
        assert_eq!(r.in_progress_until, Some(now().unix_millis() + 5000));
    }

    #[test]
    fn an_in_progress_claim_lasts_no_longer_than_the_invocation() {
        let policy = IdempotencyPolicy::default();
        let short = policy.within(std::time::Duration::from_secs(12));
        assert_eq!(short.in_progress_timeout, time::Duration::seconds(13));
        let long = policy.within(std::time::Duration::from_secs(900));
        assert_eq!(long.in_progress_timeout, policy.in_progress_timeout);
        assert_eq!(long.record_ttl, policy.record_ttl);
    }

    #[test]
    fn hash_is_hex_sha256() {
        assert_eq!(
            payload_hash(b"abc"),
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
    }
}

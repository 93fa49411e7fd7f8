//! The store port's error: what happened, never a string-typed "internal error".

/// How a backend failure should be treated by callers and by the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendErrorKind {
    /// The service pushed back (throughput exceeded, throttling): retry later.
    Throttled,
    /// The request did not complete in time or the connection failed: retry later.
    Unavailable,
    /// The service rejected the request (validation, missing table, access denied): a bug
    /// or a misconfiguration; retrying will not help.
    Rejected,
    /// An item in the table could not be read back into its type.
    Corrupt,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    #[error("{entity} not found")]
    NotFound { entity: &'static str },

    /// A conditional create found the item already there.
    #[error("{entity} already exists")]
    AlreadyExists { entity: &'static str },

    /// An optimistic-locking write lost the race: somebody else changed the item first.
    #[error("{entity} was changed concurrently (current version {current_version:?})")]
    Conflict {
        entity: &'static str,
        current_version: Option<u64>,
    },

    /// The caller asked for something malformed (a cursor from another query, say).
    #[error("invalid {field}: {reason}")]
    Invalid { field: &'static str, reason: String },

    #[error("store backend failed ({kind:?}) during {operation}")]
    Backend {
        kind: BackendErrorKind,
        operation: &'static str,
        #[source]
        source: Box<dyn std::error::Error + Send + Sync>,
    },
}

impl StoreError {
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Backend {
                kind: BackendErrorKind::Throttled | BackendErrorKind::Unavailable,
                ..
            }
        )
    }
}

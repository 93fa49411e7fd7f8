//! The store port's error: what happened, never a string-typed "internal error".

/// How a backend failure should be treated by callers and by the log.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BackendErrorKind {
    /// The service pushed back (throughput exceeded, throttling): retry later.
    Throttled,
    /// A transaction met another writer on the same item (DynamoDB's
    /// `TransactionConflict`): nothing was written; retry the whole step.
    Contended,
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
    /// A later attempt may succeed: throttling, contention, transport trouble.
    pub fn is_retryable(&self) -> bool {
        matches!(
            self,
            StoreError::Backend {
                kind: BackendErrorKind::Throttled | BackendErrorKind::Contended | BackendErrorKind::Unavailable,
                ..
            }
        )
    }

    /// No attempt with the same input can succeed: the item it needs is missing, the
    /// input is malformed, or a stored item cannot be read back.
    pub fn is_permanent(&self) -> bool {
        matches!(
            self,
            StoreError::NotFound { .. }
                | StoreError::Invalid { .. }
                | StoreError::Backend {
                    kind: BackendErrorKind::Corrupt,
                    ..
                }
        )
    }
}

/// Why a queued record was not processed: the one decision every consumer makes, by the
/// failure's kind.
#[derive(Debug, thiserror::Error)]
pub enum RecordError {
    /// The record can never succeed (malformed body, unknown tenant, a missing item):
    /// it is acknowledged and parked with this reason, so it does not hold up its FIFO
    /// group.
    #[error("bad record: {0}")]
    Bad(String),
    /// A dependency failed or a race was lost; a later delivery may succeed, so the
    /// record fails its batch item and is retried (in order, on FIFO queues).
    #[error("transient failure: {0}")]
    Transient(String),
}

impl RecordError {
    pub fn is_permanent(&self) -> bool {
        matches!(self, RecordError::Bad(_))
    }
}

impl From<StoreError> for RecordError {
    fn from(e: StoreError) -> Self {
        if e.is_permanent() {
            RecordError::Bad(e.to_string())
        } else {
            RecordError::Transient(e.to_string())
        }
    }
}

impl From<crate::ports::QueueError> for RecordError {
    fn from(e: crate::ports::QueueError) -> Self {
        match e {
            crate::ports::QueueError::Invalid(why) => RecordError::Bad(why.to_owned()),
            e => RecordError::Transient(e.to_string()),
        }
    }
}

//! One error shape for every route: `{"error": {"code", "message", "fields"?}}` with the
//! status that says what happened. A lost version race also carries the current state.

use baton_domain::ticket::TransitionError;
use baton_domain::StoreError;
use lambda_http::http::StatusCode;
use serde::Serialize;
use std::collections::BTreeMap;
use utoipa::ToSchema;

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorBody {
    pub error: ErrorDetail,
    /// With `409 conflict`: the resource as it is now, to retry against its `version`.
    #[serde(skip_serializing_if = "Option::is_none")]
    #[schema(value_type = Option<Object>)]
    pub current: Option<serde_json::Value>,
}

#[derive(Debug, Serialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable, machine-readable: `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed`, `conflict`, `payload_too_large`, `validation_failed`,
    /// `invalid_transition`, `rate_limited`, `unavailable`, `internal`.
    pub code: &'static str,
    pub message: String,
    /// With `validation_failed`: what is wrong with each field.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub fields: Option<BTreeMap<String, String>>,
}

#[derive(Debug)]
pub struct ApiError {
    pub status: StatusCode,
    pub code: &'static str,
    pub message: String,
    pub fields: Option<BTreeMap<String, String>>,
    pub current: Option<serde_json::Value>,
    /// Seconds, for `429` and `503`.
    pub retry_after: Option<u64>,
}

impl ApiError {
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> Self {
        ApiError {
            status,
            code,
            message: message.into(),
            fields: None,
            current: None,
            retry_after: None,
        }
    }

    pub fn bad_request(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    pub fn unauthorized(message: impl Into<String>) -> Self {
        Self::new(StatusCode::UNAUTHORIZED, "unauthorized", message)
    }

    pub fn forbidden(message: impl Into<String>) -> Self {
        Self::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    pub fn not_found(what: &str) -> Self {
        Self::new(StatusCode::NOT_FOUND, "not_found", format!("no such {what}"))
    }

    pub fn validation(fields: BTreeMap<String, String>) -> Self {
        let mut e = Self::new(
            StatusCode::UNPROCESSABLE_ENTITY,
            "validation_failed",
            "some fields are not valid",
        );
        e.fields = Some(fields);
        e
    }

    pub fn field(field: &str, message: impl Into<String>) -> Self {
        Self::validation(BTreeMap::from([(field.to_owned(), message.into())]))
    }

    pub fn conflict(current: serde_json::Value) -> Self {
        let mut e = Self::new(
            StatusCode::CONFLICT,
            "conflict",
            "the resource changed since you read it; retry against the current version",
        );
        e.current = Some(current);
        e
    }

    pub fn rate_limited(retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::TOO_MANY_REQUESTS,
            "rate_limited",
            "too many requests; slow down",
        );
        e.retry_after = Some(retry_after);
        e
    }

    /// `503 unavailable` with `Retry-After`: nothing was done, the same request will
    /// likely pass in a moment.
    pub fn unavailable(what: &str, retry_after: u64) -> Self {
        let mut e = Self::new(
            StatusCode::SERVICE_UNAVAILABLE,
            "unavailable",
            format!("{what} is busy; retry shortly"),
        );
        e.retry_after = Some(retry_after);
        e
    }

    pub fn internal() -> Self {
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            "internal",
            "something went wrong on our side",
        )
    }

    pub fn body(&self) -> ErrorBody {
        ErrorBody {
            error: ErrorDetail {
                code: self.code,
                message: self.message.clone(),
                fields: self.fields.clone(),
            },
            current: self.current.clone(),
        }
    }
}

impl From<TransitionError> for ApiError {
    fn from(e: TransitionError) -> Self {
        ApiError::new(StatusCode::UNPROCESSABLE_ENTITY, "invalid_transition", e.to_string())
    }
}

/// Store failures the handler did not expect. Not-found and conflicts are usually mapped
/// where they happen (they need the resource's name or its current state); what reaches
/// here is logged with its kind and answered without internals.
impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        match &e {
            StoreError::NotFound { entity } => ApiError::not_found(&entity.replace('_', " ")),
            StoreError::Invalid { field, reason } => ApiError::field(field, reason.clone()),
            StoreError::AlreadyExists { entity } => {
                ApiError::new(StatusCode::CONFLICT, "conflict", format!("{entity} already exists"))
            }
            StoreError::Conflict { .. } => ApiError::new(
                StatusCode::CONFLICT,
                "conflict",
                "the resource changed concurrently; read it again and retry",
            ),
            // Throttling, contention with another transaction, transport trouble: nothing
            // was written, and the same request will likely pass in a moment.
            StoreError::Backend { .. } if e.is_retryable() => {
                tracing::warn!(error = %e, "store busy");
                ApiError::unavailable("the store", 1)
            }
            StoreError::Backend { .. } => {
                tracing::error!(error = %e, source = ?std::error::Error::source(&e), "store failure");
                ApiError::internal()
            }
        }
    }
}

/// A store read where a missing item is the client's `404` for `what` (in the caller's
/// tenant, another tenant's object is missing too).
pub fn or_not_found<T>(r: Result<T, StoreError>, what: &str) -> Result<T, ApiError> {
    match r {
        Err(StoreError::NotFound { .. }) => Err(ApiError::not_found(what)),
        other => other.map_err(ApiError::from),
    }
}

/// Collects field errors and fails once with all of them.
#[derive(Debug, Default)]
pub struct Fields(BTreeMap<String, String>);

impl Fields {
    pub fn check(&mut self, ok: bool, field: impl Into<String>, message: impl Into<String>) -> &mut Self {
        if !ok {
            self.0.entry(field.into()).or_insert_with(|| message.into());
        }
        self
    }

    pub fn text(&mut self, field: &str, value: &str, min: usize, max: usize) -> &mut Self {
        let n = value.trim().chars().count();
        let message = if min > 0 && n == 0 {
            "is required".to_owned()
        } else {
            format!("must be {min} to {max} characters")
        };
        self.check(n >= min && value.chars().count() <= max, field, message)
    }

    pub fn list(&mut self, field: &str, values: &[String], max_items: usize, max_len: usize) -> &mut Self {
        self.check(values.len() <= max_items, field, format!("at most {max_items} entries"));
        for (i, v) in values.iter().enumerate() {
            self.text(&format!("{field}[{i}]"), v, 1, max_len);
        }
        self
    }

    pub fn prefixed(&mut self, prefix: &str, other: Fields) -> &mut Self {
        for (k, v) in other.0 {
            self.0.entry(format!("{prefix}{k}")).or_insert(v);
        }
        self
    }

    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    pub fn finish(self) -> Result<(), ApiError> {
        if self.0.is_empty() {
            Ok(())
        } else {
            Err(ApiError::validation(self.0))
        }
    }
}

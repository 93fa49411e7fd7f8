//! Classifying AWS SDK errors without losing them.

use aws_sdk_dynamodb::error::{ProvideErrorMetadata, SdkError};
use baton_domain::error::BackendErrorKind;

/// How to treat an SDK failure: throttling and transport trouble are retryable; anything
/// the service rejected is not.
pub fn classify<E: ProvideErrorMetadata, R>(err: &SdkError<E, R>) -> BackendErrorKind {
    match err {
        SdkError::TimeoutError(_) | SdkError::DispatchFailure(_) | SdkError::ResponseError(_) => {
            BackendErrorKind::Unavailable
        }
        SdkError::ServiceError(e) => match e.err().code() {
            Some(
                "ProvisionedThroughputExceededException"
                | "ThrottlingException"
                | "RequestLimitExceeded"
                | "Throttling"
                | "RequestThrottled",
            ) => BackendErrorKind::Throttled,
            // A single-item write met a transaction in flight on the same item.
            Some("TransactionConflictException" | "TransactionInProgressException") => BackendErrorKind::Contended,
            Some("InternalServerError" | "ServiceUnavailable" | "InternalFailure") => BackendErrorKind::Unavailable,
            _ => BackendErrorKind::Rejected,
        },
        _ => BackendErrorKind::Rejected,
    }
}

/// How to treat a cancelled DynamoDB transaction none of whose conditions failed, by the
/// reasons DynamoDB gives per item: another transaction on the same item, throttling, or
/// something that will never pass (validation, item collection size).
pub fn classify_cancellation<'a>(codes: impl IntoIterator<Item = &'a str>) -> BackendErrorKind {
    let mut kind = BackendErrorKind::Rejected;
    for code in codes {
        match code {
            "TransactionConflict" => return BackendErrorKind::Contended,
            "ThrottlingError" | "ProvisionedThroughputExceeded" | "RequestLimitExceeded" => {
                kind = BackendErrorKind::Throttled
            }
            _ => {}
        }
    }
    kind
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cancellation_reasons_keep_their_kind() {
        assert_eq!(
            classify_cancellation(["None", "TransactionConflict"]),
            BackendErrorKind::Contended
        );
        assert_eq!(
            classify_cancellation(["ProvisionedThroughputExceeded", "None"]),
            BackendErrorKind::Throttled
        );
        assert_eq!(classify_cancellation(["ThrottlingError"]), BackendErrorKind::Throttled);
        assert_eq!(classify_cancellation(["ValidationError"]), BackendErrorKind::Rejected);
    }
}

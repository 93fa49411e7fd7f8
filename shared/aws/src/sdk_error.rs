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
            Some("InternalServerError" | "ServiceUnavailable" | "InternalFailure") => BackendErrorKind::Unavailable,
            _ => BackendErrorKind::Rejected,
        },
        _ => BackendErrorKind::Rejected,
    }
}

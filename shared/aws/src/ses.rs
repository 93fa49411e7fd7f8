//! The `Mailer` port over SES `SendRawEmail`: Baton builds the whole MIME document, SES
//! sends it as it is (apart from the Message-ID, which SES replaces with its own).

use async_trait::async_trait;
use aws_sdk_ses::error::{ProvideErrorMetadata, SdkError};
use aws_sdk_ses::operation::send_raw_email::SendRawEmailError;
use aws_sdk_ses::primitives::Blob;
use aws_sdk_ses::types::RawMessage;
use baton_domain::error::BackendErrorKind;
use baton_domain::ports::{MailError, Mailer};

pub struct SesMailer {
    client: aws_sdk_ses::Client,
    /// SES configuration set (event publishing: deliveries, bounces, complaints), if any.
    configuration_set: Option<String>,
}

impl SesMailer {
    pub fn new(client: aws_sdk_ses::Client, configuration_set: Option<String>) -> Self {
        SesMailer {
            client,
            configuration_set: configuration_set.filter(|c| !c.is_empty()),
        }
    }
}

#[async_trait]
impl Mailer for SesMailer {
    async fn send_raw(&self, raw: &[u8]) -> Result<String, MailError> {
        let message = RawMessage::builder()
            .data(Blob::new(raw.to_vec()))
            .build()
            .map_err(|e| MailError::Misconfigured(e.to_string()))?;
        let out = self
            .client
            .send_raw_email()
            .raw_message(message)
            .set_configuration_set_name(self.configuration_set.clone())
            .send()
            .await
            .map_err(classify)?;
        Ok(out.message_id().to_owned())
    }
}

/// SES's answers by what to do about them. `MessageRejected` is about this message (an
/// address SES will not send to); the other modelled errors are about Baton's own setup;
/// throttling ("Maximum sending rate exceeded") and transport trouble pass.
pub fn classify(err: SdkError<SendRawEmailError, aws_sdk_ses::config::http::HttpResponse>) -> MailError {
    let message = match &err {
        SdkError::ServiceError(e) => e.err().message().unwrap_or("").to_owned(),
        other => other.to_string(),
    };
    if let SdkError::ServiceError(e) = &err {
        match e.err() {
            SendRawEmailError::MessageRejected(_) => return MailError::Rejected(message),
            SendRawEmailError::MailFromDomainNotVerifiedException(_)
            | SendRawEmailError::ConfigurationSetDoesNotExistException(_)
            | SendRawEmailError::ConfigurationSetSendingPausedException(_)
            | SendRawEmailError::AccountSendingPausedException(_) => {
                return MailError::Misconfigured(format!("{}: {message}", e.err().code().unwrap_or("SES")))
            }
            _ => {}
        }
    }
    match crate::sdk_error::classify(&err) {
        BackendErrorKind::Throttled => MailError::Throttled(message),
        BackendErrorKind::Unavailable | BackendErrorKind::Contended => MailError::Unavailable(message),
        _ => match &err {
            // Anything else SES refuses (access denied, a malformed request) is Baton's to fix.
            SdkError::ServiceError(e) => {
                MailError::Misconfigured(format!("{}: {message}", e.err().code().unwrap_or("SES")))
            }
            _ => MailError::Unavailable(message),
        },
    }
}

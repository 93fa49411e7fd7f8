//! What SES reports after a send (published to SNS, consumed by the `email-sender`
//! function): a hard bounce or a complaint marks the customer's address undeliverable on
//! the customer, where the agent sees it, and fails the message with the reason on its
//! ticket; a soft bounce fails the message only; a delivery moves it to delivered. Later
//! replies to an undeliverable address are not sent (`email_out` checks first), which
//! keeps the sending reputation SES judges the account by.

use crate::delivery::{self, Target};
use baton_domain::conversation::{DeliveryOutcome, DeliveryStatus};
use baton_domain::customer::Undeliverable;
use baton_domain::error::RecordError;
use baton_domain::ports::Store;
use baton_domain::ses_events::{MailEvent, MailEventKind};
use baton_domain::{Channel, Clock, StoreError};

/// What one event changed.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Applied {
    /// Not a message Baton sent (or one it no longer keeps).
    Unknown,
    Delivered,
    Failed,
    Ignored,
}

pub async fn apply(store: &dyn Store, clock: &dyn Clock, event: &MailEvent) -> Result<Applied, RecordError> {
    let Some(sent) = store.find_ses_message(&event.ses_message_id).await? else {
        tracing::info!("an SES event for a message Baton does not know");
        return Ok(Applied::Unknown);
    };
    let conversation = match store.get_conversation(&sent.tenant, sent.conversation).await {
        Ok(c) => c,
        Err(StoreError::NotFound { .. }) => return Ok(Applied::Unknown),
        Err(e) => return Err(e.into()),
    };
    let (recipients, kind, undeliverable): (Vec<(String, String)>, &str, bool) = match &event.kind {
        MailEventKind::Delivery => {
            store
                .record_delivery(
                    &sent.tenant,
                    sent.conversation,
                    sent.message,
                    &DeliveryOutcome {
                        status: DeliveryStatus::Delivered,
                        channel_message_id: None,
                        error: None,
                    },
                )
                .await?;
            return Ok(Applied::Delivered);
        }
        MailEventKind::HardBounce { recipients } => (
            recipients
                .iter()
                .map(|r| (r.address.clone(), r.reason.clone()))
                .collect(),
            "bounced",
            true,
        ),
        MailEventKind::SoftBounce { recipients } => (
            recipients
                .iter()
                .map(|r| (r.address.clone(), r.reason.clone()))
                .collect(),
            "bounced",
            false,
        ),
        MailEventKind::Complaint { recipients, feedback } => (
            recipients
                .iter()
                .map(|a| {
                    let why = match feedback {
                        Some(f) => format!("the recipient marked the mail as spam ({f})"),
                        None => "the recipient marked the mail as spam".to_owned(),
                    };
                    (a.clone(), why)
                })
                .collect(),
            "complaint",
            true,
        ),
        MailEventKind::Other(name) => {
            tracing::debug!(event = %name, "SES event with nothing to do");
            return Ok(Applied::Ignored);
        }
    };
    for (address, reason) in &recipients {
        let target = Target {
            tenant: &sent.tenant,
            conversation: sent.conversation,
            message: sent.message,
            channel: Channel::Email,
            to: address,
        };
        delivery::record_failed(store, clock, target, conversation.ticket, kind, reason).await?;
        if undeliverable {
            store
                .mark_undeliverable(
                    &sent.tenant,
                    conversation.customer_id,
                    &Undeliverable {
                        address: address.clone(),
                        reason: reason.clone(),
                        kind: kind.to_owned(),
                        at: clock.now(),
                    },
                )
                .await?;
            tracing::warn!(kind, "a customer's address is marked undeliverable");
        }
    }
    Ok(Applied::Failed)
}

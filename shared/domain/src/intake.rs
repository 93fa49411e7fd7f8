//! What channel intake hands to triage: one customer message, resolved to its tenant,
//! customer and conversation (the use case itself is `baton_app::intake`).

use crate::channels::ChannelMessage;
use crate::conversation::{Original, Sender};
use crate::{ConversationId, CustomerId, TenantId, Timestamp};
use serde::{Deserialize, Serialize};

/// Extra facts an e-mail carries.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EmailDetails {
    pub subject: String,
    pub from_address: String,
    pub message_id: Option<String>,
    pub in_reply_to: Option<String>,
    pub references: Vec<String>,
    /// S3 key of the raw message, so the full original stays available.
    pub raw_s3_key: Option<String>,
    /// Everything the customer wrote, quoted history and signature included.
    pub full_text: String,
    /// SES's verdicts on the sender (`spf=PASS dkim=PASS dmarc=PASS`).
    #[serde(default)]
    pub authentication: String,
    /// Whether the sender's domain vouched for the message (see
    /// `email::authenticate_sender`); an unverified sender never joins an existing
    /// conversation.
    #[serde(default)]
    pub verified: bool,
    /// Where the whole message is: the raw mail, and the full text when the stored text is
    /// not all of it.
    #[serde(default)]
    pub original: Option<Original>,
}

/// What goes on the inbound queue: one customer message, resolved to its tenant,
/// customer and conversation. The triage function consumes it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct InboundMessage {
    pub tenant_id: TenantId,
    pub customer_id: CustomerId,
    pub conversation_id: ConversationId,
    pub message: ChannelMessage,
    pub received_at: Timestamp,
    #[serde(default)]
    pub email: Option<EmailDetails>,
}

impl InboundMessage {
    /// The deduplication id on the queue and the idempotency key downstream.
    pub fn dedup_key(&self) -> String {
        dedup_key(&self.tenant_id, &self.message)
    }

    /// Who sent it: the channel identity and, for e-mail, how the sender was authenticated.
    pub fn sender(&self) -> Sender {
        Sender {
            id: self.message.sender_id.clone(),
            name: self.message.sender_name.clone(),
            authentication: self.email.as_ref().map(|e| e.authentication.clone()),
            verified: self.email.as_ref().map(|e| e.verified),
        }
    }
}

/// The deduplication id on the inbound queue and the idempotency key downstream, for
/// `m` in `tenant`.
pub fn dedup_key(tenant: &TenantId, m: &ChannelMessage) -> String {
    format!("{}:{}:{}", m.channel, tenant, m.channel_message_id)
}

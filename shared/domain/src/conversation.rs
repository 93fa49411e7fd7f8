//! Conversations and their messages.

use crate::{AgentId, Channel, ConversationId, CustomerId, TenantId, TicketNumber, Timestamp};
use serde::{Deserialize, Serialize};

/// Who answers the customer right now.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub enum Owner {
    Ai,
    Human,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Conversation {
    pub tenant_id: TenantId,
    pub id: ConversationId,
    pub customer_id: CustomerId,
    pub channel: Channel,
    pub owner: Owner,
    /// The ticket opened from this conversation, if any.
    pub ticket: Option<TicketNumber>,
    pub created_at: Timestamp,
    pub last_message_at: Timestamp,
    /// Messages before this one are not shown to the AI: set when a ticket is resolved and
    /// the conversation returns to the AI, so it does not re-read the old escalation.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub context_start: Option<ulid::Ulid>,
    pub version: u64,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Direction {
    Inbound,
    Outbound,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "snake_case")]
pub enum Author {
    Customer,
    Ai,
    Agent { id: AgentId },
    System,
}

/// Delivery state of an outbound message as the channel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum DeliveryStatus {
    Queued,
    Sent,
    Delivered,
    Read,
    Failed,
}

#[derive(Debug, Clone, PartialEq, Default, Serialize, Deserialize)]
pub struct Attachment {
    /// `image`, `audio`, `video`, `document`, `file`, `location`, …
    pub kind: String,
    /// Where the channel keeps it: the WhatsApp media id, the Instagram CDN URL, or (for
    /// e-mail) the S3 key of the stored copy.
    pub reference: String,
    pub mime_type: Option<String>,
    pub file_name: Option<String>,
    pub caption: Option<String>,
    /// Bytes, when known.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    /// The S3 key of Baton's copy (`application/octet-stream`, `Content-Disposition:
    /// attachment`): set at once for e-mail, after the first download for channel media.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stored_key: Option<String>,
    /// Why the bytes were not stored on their own (past the count or size cap); they stay
    /// in the original message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub omitted: Option<String>,
}

/// Who sent a customer message, as the channel identified them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
pub struct Sender {
    /// The channel identity: WhatsApp number, Instagram-scoped id, e-mail address, widget
    /// visitor id.
    pub id: String,
    pub name: Option<String>,
    /// E-mail only: SES's verdicts (`spf=PASS dkim=PASS dmarc=PASS (policy=reject)`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub authentication: Option<String>,
    /// E-mail only: whether the sender's domain vouched for the message.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub verified: Option<bool>,
}

/// Where the whole of a message is kept when the stored text is not all of it (quoted
/// history removed, or the text capped).
#[derive(Debug, Clone, PartialEq, Eq, Default, Serialize, Deserialize)]
pub struct Original {
    /// S3 key of the full text (UTF-8).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub text_key: Option<String>,
    /// Bytes of the full text.
    #[serde(default)]
    pub text_bytes: u64,
    /// S3 key of the raw message (e-mail).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub raw_key: Option<String>,
    /// The stored text was cut at the cap.
    #[serde(default)]
    pub truncated: bool,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Message {
    pub tenant_id: TenantId,
    pub conversation_id: ConversationId,
    /// ULID: orders messages within a conversation and makes the sort key.
    pub id: ulid::Ulid,
    pub direction: Direction,
    pub author: Author,
    pub text: String,
    #[serde(default)]
    pub attachments: Vec<Attachment>,
    /// The channel's own id (WhatsApp `wamid`, Instagram `mid`, email Message-ID,
    /// widget client message id): the deduplication key.
    pub channel_message_id: Option<String>,
    pub delivery: Option<DeliveryStatus>,
    pub created_at: Timestamp,
    /// Customer messages: who sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<Sender>,
    /// Where the whole message is, when `text` is not all of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<Original>,
}

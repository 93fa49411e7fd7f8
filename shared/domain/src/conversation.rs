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

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Attachment {
    /// `image`, `audio`, `video`, `document`, `location`, …
    pub kind: String,
    /// The channel's media id or the S3 key where the content is kept.
    pub reference: String,
    pub mime_type: Option<String>,
    pub file_name: Option<String>,
    pub caption: Option<String>,
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
}

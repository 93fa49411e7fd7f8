//! Messages between the triage, routing and sending functions.

use crate::{Channel, ConversationId, TenantId, TicketNumber};
use serde::{Deserialize, Serialize};

/// A reply to deliver on the customer's channel (the outbound FIFO queue, group =
/// conversation, dedup = message id).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct OutboundMessage {
    pub tenant_id: TenantId,
    pub conversation_id: ConversationId,
    pub message_id: ulid::Ulid,
    pub channel: Channel,
    /// The channel's id for the customer (wa_id, Instagram-scoped id, e-mail address,
    /// widget visitor id).
    pub to: String,
    pub text: String,
    pub ticket: Option<TicketNumber>,
}

/// A ticket that needs an assignment (the routing queue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingRequest {
    pub tenant_id: TenantId,
    pub ticket: TicketNumber,
}

//! Messages between the triage, routing and sending functions.

use crate::{AgentId, Channel, ConversationId, TenantId, TicketNumber};
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
    /// The message asks the ticket cycle's satisfaction survey: the sender offers it in
    /// the channel's own form (buttons, quick replies, template) or records why not.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub survey: Option<SurveyRef>,
}

/// Which survey a message carries.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct SurveyRef {
    pub ticket: TicketNumber,
    pub cycle: u32,
}

/// A ticket that needs an assignment (the routing queue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RoutingRequest {
    pub tenant_id: TenantId,
    pub ticket: TicketNumber,
}

/// An agent has room again (a ticket of theirs resolved, closed or waiting on the
/// customer; they came online; their limit was raised): the backlog of their teams is
/// routed at once (the routing queue).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct BackfillRequest {
    pub tenant_id: TenantId,
    pub backfill_for: AgentId,
}

/// What the router consumes.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum RouterMessage {
    Ticket(RoutingRequest),
    Backfill(BackfillRequest),
}

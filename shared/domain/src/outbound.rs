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

/// Which survey a message carries: a ticket's resolution cycle, or an answer the AI
/// resolved the conversation with on its own.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum SurveyRef {
    Cycle {
        ticket: TicketNumber,
        cycle: u32,
    },
    Answer {
        conversation: ConversationId,
        /// The AI's answer the survey asks about.
        answer: ulid::Ulid,
    },
}

impl SurveyRef {
    /// The ticket it rates, if a human resolved one.
    pub fn ticket(&self) -> Option<TicketNumber> {
        match self {
            SurveyRef::Cycle { ticket, .. } => Some(*ticket),
            SurveyRef::Answer { .. } => None,
        }
    }

    /// The resolution cycle it rates; 0 for an AI resolution (no ticket).
    pub fn cycle(&self) -> u32 {
        match self {
            SurveyRef::Cycle { cycle, .. } => *cycle,
            SurveyRef::Answer { .. } => 0,
        }
    }
}

impl std::fmt::Display for SurveyRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            SurveyRef::Cycle { ticket, cycle } => write!(f, "ticket {ticket} cycle {cycle}"),
            SurveyRef::Answer { answer, .. } => write!(f, "answer {answer}"),
        }
    }
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

//! Conversations and their messages.

use crate::{AgentId, ArticleId, Channel, ConversationId, CustomerId, TenantId, TicketNumber, Timestamp};
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
    /// The closed ticket of the conversation this one took over from (messaging channels
    /// start a new conversation after a close): a handoff here opens a follow-up of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub follows: Option<TicketNumber>,
    /// E-mail: the subject of the customer's first message, which replies keep.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subject: Option<String>,
    /// The tenant's endpoint the customer wrote to (WhatsApp phone number id, Instagram
    /// account id): replies go out from it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub account_id: Option<String>,
    pub version: u64,
}

impl Conversation {
    /// A new conversation the AI owns, with no ticket yet, started `now`.
    pub fn start(
        tenant_id: TenantId,
        id: ConversationId,
        customer_id: CustomerId,
        channel: Channel,
        now: Timestamp,
    ) -> Self {
        Conversation {
            tenant_id,
            id,
            customer_id,
            channel,
            owner: Owner::Ai,
            ticket: None,
            created_at: now,
            last_message_at: now,
            context_start: None,
            follows: None,
            subject: None,
            account_id: None,
            version: 1,
        }
    }
}

/// How long a messaging conversation stays open without a message, by default: Meta's
/// customer-service window.
pub const DEFAULT_INACTIVITY: time::Duration = time::Duration::hours(24);

/// Whether a customer's next message on a messaging channel (WhatsApp, Instagram)
/// continues their active conversation or starts a new one: after its ticket was closed,
/// or after `inactivity` without a message. E-mail threads by its headers and the widget
/// keeps one visible thread, so neither asks.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Next {
    Continue,
    Start {
        /// The closed ticket the new conversation follows up, if any.
        follows: Option<TicketNumber>,
    },
}

pub fn next_conversation(
    active: &Conversation,
    last_message_at: Option<Timestamp>,
    ticket_closed: bool,
    now: Timestamp,
    inactivity: time::Duration,
) -> Next {
    if !matches!(active.channel, Channel::Whatsapp | Channel::Instagram) {
        return Next::Continue;
    }
    let closed = active.owner == Owner::Ai && ticket_closed;
    let last = last_message_at.unwrap_or(active.created_at);
    let idle = now.datetime() - last.datetime() > inactivity;
    // A human still owns it: the customer stays with the people working the case.
    if active.owner == Owner::Human {
        return Next::Continue;
    }
    if closed || idle {
        Next::Start {
            follows: if closed { active.ticket } else { None },
        }
    } else {
        Next::Continue
    }
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

/// What a sender learnt about one outbound message.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DeliveryOutcome {
    pub status: DeliveryStatus,
    /// The channel's id for it (SES Message-ID, WhatsApp `wamid`, Instagram `mid`).
    pub channel_message_id: Option<String>,
    /// Why it failed, for the agent.
    pub error: Option<String>,
}

/// Delivery state of an outbound message as the channel reports it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[cfg_attr(feature = "openapi", derive(utoipa::ToSchema))]
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
    /// Why delivery failed, in the channel's words (outbound messages only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub delivery_error: Option<String>,
    pub created_at: Timestamp,
    /// Customer messages: when the channel says the customer sent it (the start of
    /// Meta's customer-service window), when it says.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sent_at: Option<Timestamp>,
    /// Customer messages: who sent it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sender: Option<Sender>,
    /// Where the whole message is, when `text` is not all of it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<Original>,
    /// An AI clarifying question: the articles it offered, in their numbered order (the
    /// customer's next message picks one).
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub choices: Vec<ArticleId>,
    /// The satisfaction survey this message asks (the widget shows its choices inline).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub survey: Option<crate::outbound::SurveyRef>,
}

#[cfg(test)]
mod tests {
    use super::*;

    fn conversation(channel: Channel, owner: Owner, ticket: Option<u64>) -> Conversation {
        let t0 = Timestamp::from_unix_millis(0).unwrap();
        let tenant = TenantId::new("demo").unwrap();
        let mut c = Conversation::start(tenant, ConversationId::generate(), CustomerId::generate(), channel, t0);
        c.owner = owner;
        c.ticket = ticket.map(TicketNumber);
        c
    }

    #[test]
    fn messaging_conversations_end_at_a_close_or_after_the_inactivity_period() {
        let at = |h: i64| Timestamp::from_unix_millis(h * 3_600_000).unwrap();
        let day = DEFAULT_INACTIVITY;
        let wa = conversation(Channel::Whatsapp, Owner::Ai, None);
        assert_eq!(next_conversation(&wa, Some(at(1)), false, at(2), day), Next::Continue);
        assert_eq!(
            next_conversation(&wa, Some(at(1)), false, at(26), day),
            Next::Start { follows: None }
        );
        let closed = conversation(Channel::Instagram, Owner::Ai, Some(7));
        assert_eq!(
            next_conversation(&closed, Some(at(1)), true, at(2), day),
            Next::Start {
                follows: Some(TicketNumber(7))
            }
        );
        // Resolved (not closed) and handed back to the AI: the same conversation.
        assert_eq!(
            next_conversation(&closed, Some(at(1)), false, at(2), day),
            Next::Continue
        );
        // Humans still on it: however long the wait, the customer stays with them.
        let human = conversation(Channel::Whatsapp, Owner::Human, Some(3));
        assert_eq!(
            next_conversation(&human, Some(at(1)), false, at(100), day),
            Next::Continue
        );
        // The widget keeps its one visible thread; e-mail threads by its headers.
        for channel in [Channel::Widget, Channel::Email] {
            let c = conversation(channel, Owner::Ai, Some(7));
            assert_eq!(next_conversation(&c, Some(at(1)), true, at(100), day), Next::Continue);
        }
    }
}

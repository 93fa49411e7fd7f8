//! A reply to a customer on their channel: the one way Baton builds what it says to a
//! customer (an AI answer, a handoff notice, an agent's reply). The message goes into the
//! conversation and its delivery into the outbox, in the caller's transaction; the relay
//! puts it on the outbound queue.

use baton_domain::conversation::{Author, DeliveryStatus, Direction, Message};
use baton_domain::outbound::{OutboundMessage, SurveyRef};
use baton_domain::outbox::Effect;
use baton_domain::ports::Write;
use baton_domain::{Channel, ConversationId, TenantId, TicketNumber, Timestamp};

/// Who the reply goes to and in which conversation.
#[derive(Debug, Clone)]
pub struct Recipient {
    pub tenant_id: TenantId,
    pub conversation_id: ConversationId,
    pub channel: Channel,
    /// The channel's id for the customer.
    pub to: String,
}

#[derive(Debug, Clone)]
pub struct Reply {
    pub message: Message,
    pub effect: Effect,
    /// What the sender gets (the effect's body).
    pub out: OutboundMessage,
}

impl Reply {
    /// `kind` and `business_key` name the effect: one reply of that kind per key, however
    /// often the step runs.
    #[allow(clippy::too_many_arguments)]
    pub fn build(
        kind: &str,
        business_key: &str,
        to: &Recipient,
        id: ulid::Ulid,
        author: Author,
        text: String,
        ticket: Option<TicketNumber>,
        now: Timestamp,
    ) -> Reply {
        let message = Message {
            tenant_id: to.tenant_id.clone(),
            conversation_id: to.conversation_id,
            id,
            direction: Direction::Outbound,
            author,
            text: text.clone(),
            attachments: vec![],
            channel_message_id: None,
            delivery: Some(DeliveryStatus::Queued),
            delivery_error: None,
            created_at: now,
            sent_at: None,
            sender: None,
            original: None,
            choices: vec![],
            survey: None,
        };
        let out = OutboundMessage {
            tenant_id: to.tenant_id.clone(),
            conversation_id: to.conversation_id,
            message_id: id,
            channel: to.channel,
            to: to.to.clone(),
            text,
            ticket,
            survey: None,
        };
        Reply {
            message,
            effect: Effect::reply(kind, business_key, &out, now),
            out,
        }
    }

    /// The reply asks `survey`: the sender sends `text` (the message keeps its own, so a
    /// link meant for the customer is not in the agents' thread), when `due`.
    pub fn asking(mut self, kind: &str, business_key: &str, survey: SurveyRef, text: String, due: Timestamp) -> Reply {
        self.out.survey = Some(survey);
        self.out.text = text;
        self.message.survey = Some(survey);
        self.effect = Effect::reply(kind, business_key, &self.out, due);
        self
    }

    /// The two writes that record it: the effect first, so a repeat is told by it.
    pub fn writes(&self) -> [Write; 2] {
        [
            Write::RecordEffect(self.effect.clone()),
            Write::AppendMessage(self.message.clone()),
        ]
    }
}

//! Channel intake: from a parsed channel message to exactly one message on the inbound
//! queue, with the customer and conversation it belongs to.
//!
//! 1. Claim the idempotency key `channel:tenant:channel_message_id` (Meta retries for
//!    days; the FIFO queue only deduplicates for five minutes).
//! 2. Find the customer by the channel identity, or create customer and identity together.
//! 3. Find the identity's active conversation, or claim a new one for it (a conditional
//!    write, so two first messages arriving at once share one conversation).
//! 4. Queue the message: FIFO group = conversation, deduplication id = channel message id.
//! 5. Complete the claim. A failure before that releases it, so a retry starts over.

use baton_domain::channels::ChannelMessage;
use baton_domain::conversation::{next_conversation, Conversation, Next, Owner};
use baton_domain::customer::{Customer, Identity, IdentityRef};
use baton_domain::idempotency::{payload_hash, ClaimOutcome, IdempotencyPolicy};
use baton_domain::intake::{dedup_key, EmailDetails, InboundMessage};
use baton_domain::ports::{
    ConversationStore, CustomerStore, IdempotencyStore, Queue, QueueError, QueueMessage, TicketStore,
};
use baton_domain::{Channel, Clock, ConversationId, CustomerId, StoreError, TenantId, Timestamp};

#[derive(Debug, Clone, PartialEq)]
pub enum IntakeOutcome {
    Queued {
        customer_id: CustomerId,
        conversation_id: ConversationId,
    },
    /// Seen before: nothing was done again.
    Duplicate,
    /// The channel message id was seen before with other content (a channel re-rendered
    /// a profile or a timestamp, a client reused an id, or a forgery): nothing was done
    /// again, and the caller reports it.
    ReusedId,
}

#[derive(Debug, thiserror::Error)]
pub enum IntakeError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error(transparent)]
    Queue(#[from] QueueError),
    /// Another invocation is handling the same message right now: retry later.
    #[error("the same message is being handled by another invocation")]
    InProgress,
}

pub struct IntakePorts<'a> {
    pub customers: &'a dyn CustomerStore,
    pub conversations: &'a dyn ConversationStore,
    pub tickets: &'a dyn TicketStore,
    pub idempotency: &'a dyn IdempotencyStore,
    pub inbound_queue: &'a dyn Queue,
    pub clock: &'a dyn Clock,
    /// Messaging channels: how long a conversation stays open without a message.
    pub inactivity: time::Duration,
}

impl<'a> IntakePorts<'a> {
    /// The usual wiring: one store that serves every store port, the inbound queue, a clock.
    pub fn new(store: &'a dyn baton_domain::ports::Store, inbound_queue: &'a dyn Queue, clock: &'a dyn Clock) -> Self {
        IntakePorts {
            customers: store,
            conversations: store,
            tickets: store,
            idempotency: store,
            inbound_queue,
            clock,
            inactivity: baton_domain::conversation::DEFAULT_INACTIVITY,
        }
    }

    pub fn with_inactivity(mut self, inactivity: time::Duration) -> Self {
        self.inactivity = inactivity;
        self
    }
}

pub const INTAKE_SCOPE: &str = "intake";

/// `into`: the conversation the message belongs to when the channel says so (an e-mail
/// reply threaded to a ticket); otherwise the identity's active conversation.
pub async fn accept(
    ports: &IntakePorts<'_>,
    tenant: &TenantId,
    message: ChannelMessage,
    email: Option<EmailDetails>,
    into: Option<ConversationId>,
) -> Result<IntakeOutcome, IntakeError> {
    let key = dedup_key(tenant, &message);
    // What the customer said, not how the channel rendered it this time (profile names
    // and timestamps change between a channel's retries).
    let content = serde_json::json!([
        message.channel,
        message.account_id,
        message.sender_id,
        message.text,
        message.attachments.iter().map(|a| &a.reference).collect::<Vec<_>>(),
    ]);
    let hash = payload_hash(content.to_string().as_bytes());
    let policy = IdempotencyPolicy {
        record_ttl: time::Duration::days(14),
        ..Default::default()
    };
    let now = ports.clock.now();
    let token = match ports.idempotency.claim(INTAKE_SCOPE, &key, &hash, now, policy).await? {
        ClaimOutcome::Claimed(token) => token,
        ClaimOutcome::AlreadyCompleted(_) => return Ok(IntakeOutcome::Duplicate),
        // Never queued twice, and never silently: the caller reports it.
        ClaimOutcome::PayloadMismatch => return Ok(IntakeOutcome::ReusedId),
        ClaimOutcome::InProgress => return Err(IntakeError::InProgress),
    };
    match resolve_and_queue(ports, tenant, message, email, into, now).await {
        Ok(outcome) => {
            let response = match &outcome {
                IntakeOutcome::Queued { conversation_id, .. } => {
                    Some(serde_json::json!({ "conversation_id": conversation_id }))
                }
                IntakeOutcome::Duplicate | IntakeOutcome::ReusedId => None,
            };
            ports
                .idempotency
                .complete(INTAKE_SCOPE, &key, &token, response, ports.clock.now(), policy)
                .await?;
            Ok(outcome)
        }
        Err(e) => {
            // Best effort: if the release fails too, the claim expires on its own.
            let _ = ports.idempotency.release(INTAKE_SCOPE, &key, &token).await;
            Err(e)
        }
    }
}

async fn resolve_and_queue(
    ports: &IntakePorts<'_>,
    tenant: &TenantId,
    message: ChannelMessage,
    email: Option<EmailDetails>,
    into: Option<ConversationId>,
    now: Timestamp,
) -> Result<IntakeOutcome, IntakeError> {
    let identity = find_or_create_customer(ports, tenant, &message, email.as_ref(), now).await?;
    let (conversation_id, follows) = match into {
        Some(c) => (c, None),
        None => active_conversation(ports, tenant, &identity, now).await?,
    };
    // Whoever claimed the id creates the item; a crash between claim and create heals on
    // the next message, since creating an existing conversation is harmless.
    let mut conversation = Conversation::start(
        tenant.clone(),
        conversation_id,
        identity.customer_id,
        message.channel,
        now,
    );
    conversation.follows = follows;
    conversation.subject = email
        .as_ref()
        .map(|e| e.subject.clone())
        .filter(|s| !s.trim().is_empty());
    conversation.account_id =
        matches!(message.channel, Channel::Whatsapp | Channel::Instagram).then(|| message.account_id.clone());
    match ports.conversations.create_conversation(&conversation).await {
        Ok(()) | Err(StoreError::AlreadyExists { .. }) => {}
        Err(e) => return Err(e.into()),
    }
    let inbound = InboundMessage {
        tenant_id: tenant.clone(),
        customer_id: identity.customer_id,
        conversation_id,
        message,
        received_at: now,
        email,
    };
    let body = serde_json::to_string(&inbound).expect("inbound message serialises");
    ports
        .inbound_queue
        .send(QueueMessage {
            body,
            group_id: Some(conversation_id.to_string()),
            dedup_id: Some(inbound.dedup_key()),
            delay_seconds: None,
        })
        .await?;
    Ok(IntakeOutcome::Queued {
        customer_id: identity.customer_id,
        conversation_id,
    })
}

/// The identity's conversation for this message: its active one, or a new one when the
/// active one is over (`conversation::next_conversation`: closed, or idle too long on a
/// messaging channel). Switching is conditional on the active conversation, so two
/// messages at once still share one.
async fn active_conversation(
    ports: &IntakePorts<'_>,
    tenant: &TenantId,
    identity: &Identity,
    now: Timestamp,
) -> Result<(ConversationId, Option<baton_domain::TicketNumber>), IntakeError> {
    let mut follows = None;
    let replacing = match identity.active_conversation {
        None => None,
        Some(active) => {
            let conversation = match ports.conversations.get_conversation(tenant, active).await {
                Ok(c) => c,
                // Claimed but not created yet (a crash in between): it is still the one.
                Err(StoreError::NotFound { .. }) => return Ok((active, None)),
                Err(e) => return Err(e.into()),
            };
            if !matches!(conversation.channel, Channel::Whatsapp | Channel::Instagram) {
                return Ok((active, None));
            }
            let last = ports
                .conversations
                .latest_messages(tenant, active, None, 1)
                .await?
                .last()
                .map(|m| m.created_at);
            let ticket_closed = match (conversation.owner, conversation.ticket) {
                (Owner::Ai, Some(n)) => match ports.tickets.get_ticket(tenant, n).await {
                    Ok(t) => t.status == baton_domain::ticket::Status::Closed,
                    Err(StoreError::NotFound { .. }) => false,
                    Err(e) => return Err(e.into()),
                },
                _ => false,
            };
            match next_conversation(&conversation, last, ticket_closed, now, ports.inactivity) {
                Next::Continue => return Ok((active, None)),
                Next::Start { follows: f } => {
                    follows = f;
                    Some(active)
                }
            }
        }
    };
    let proposed = ConversationId::generate();
    let got = ports
        .customers
        .claim_active_conversation(tenant, identity.channel, &identity.external_id, replacing, proposed)
        .await?;
    if got == proposed && replacing.is_some() {
        tracing::info!(previous = ?replacing, follows = ?follows, "a new conversation after the last one ended");
    }
    Ok((got, if got == proposed { follows } else { None }))
}

/// The identity a message is filed under: the channel's id for the sender, except for an
/// e-mail whose sender's domain did not vouch for it. An unverified `From` is only a
/// claim, so it is never bound to the customer who owns that address: it gets an identity
/// (and a customer) of its own, `unverified:{address}`.
fn identity_key(m: &ChannelMessage, email: Option<&EmailDetails>) -> String {
    match email {
        Some(e) if !e.verified => format!("{}{}", baton_domain::customer::UNVERIFIED_PREFIX, m.sender_id),
        _ => m.sender_id.clone(),
    }
}

async fn find_or_create_customer(
    ports: &IntakePorts<'_>,
    tenant: &TenantId,
    m: &ChannelMessage,
    email: Option<&EmailDetails>,
    now: Timestamp,
) -> Result<Identity, StoreError> {
    let external_id = identity_key(m, email);
    if let Some(identity) = ports.customers.find_identity(tenant, m.channel, &external_id).await? {
        return Ok(identity);
    }
    let customer = Customer {
        tenant_id: tenant.clone(),
        id: CustomerId::generate(),
        name: m.sender_name.clone(),
        email: email.map(|e| e.from_address.clone()),
        identities: vec![IdentityRef {
            channel: m.channel,
            external_id: external_id.clone(),
        }],
        attributes: Default::default(),
        created_at: now,
        undeliverable: vec![],
    };
    let identity = Identity {
        tenant_id: tenant.clone(),
        channel: m.channel,
        external_id: external_id.clone(),
        customer_id: customer.id,
        display_name: m.sender_name.clone(),
        active_conversation: None,
    };
    match ports.customers.create_customer(&customer, &identity).await {
        Ok(()) => Ok(identity),
        // Someone created this identity a moment ago: use theirs.
        Err(StoreError::AlreadyExists { .. }) => ports
            .customers
            .find_identity(tenant, m.channel, &external_id)
            .await?
            .ok_or(StoreError::NotFound { entity: "identity" }),
        Err(e) => Err(e),
    }
}

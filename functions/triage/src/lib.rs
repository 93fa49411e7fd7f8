//! Triage: consumes the inbound queue (FIFO, one conversation in order) and, for each
//! customer message, stores it in its conversation and then
//!
//! - while humans own the conversation: puts it on the ticket's timeline and stays silent;
//! - otherwise runs the one decision function (`baton_domain::triage::decide`): an answer
//!   is stored and queued for delivery; a handoff opens a ticket with the whole story
//!   (history, AI replies, articles consulted, reason, summary, priority), hands the
//!   conversation to humans, tells the customer once, and queues the ticket for routing.
//!
//! A redelivered message has one effect: the idempotency key is the channel message id.

use aws_lambda_events::event::sqs::{SqsBatchResponse, SqsEvent};
use baton_aws::batch::{process_batch, RecordError};
use baton_aws::{DynamoStore, SqsQueue};
use baton_domain::conversation::{Author, Conversation, DeliveryStatus, Direction, Message, Owner};
use baton_domain::handoff;
use baton_domain::idempotency::{payload_hash, ClaimOutcome, IdempotencyPolicy};
use baton_domain::intake::InboundMessage;
use baton_domain::kb_cache::{CachedKb, KbCache};
use baton_domain::outbound::{OutboundMessage, RoutingRequest};
use baton_domain::ports::*;
use baton_domain::ticket::{Action, KbLink, SlaState, Source, Status, Ticket, TimelineEntry, TimelineKind};
use baton_domain::triage::{decide, Answerer, Decision, DecisionInput, HandoffReason};
use baton_domain::{Clock, StoreError, SystemClock, TenantId, TicketNumber, Timestamp};
use lambda_runtime::LambdaEvent;
use std::sync::Arc;

const SCOPE: &str = "triage";
/// Messages of history given to the decision.
const HISTORY: u32 = 20;

pub struct Deps {
    pub store: DynamoStore,
    pub outbound: SqsQueue,
    pub routing: SqsQueue,
    pub answerer: Box<dyn Answerer>,
    pub clock: Box<dyn Clock>,
    /// The tenants' indexed knowledge bases (with the embedder, if any).
    pub kb_cache: KbCache,
}

impl Deps {
    pub fn new(store: DynamoStore, outbound: SqsQueue, routing: SqsQueue, answerer: Box<dyn Answerer>) -> Self {
        Deps {
            store,
            outbound,
            routing,
            answerer,
            clock: Box::new(SystemClock),
            kb_cache: KbCache::default(),
        }
    }

    pub fn from_env(sdk: &aws_config::SdkConfig) -> Result<Self, baton_aws::ConfigError> {
        let sqs = aws_sdk_sqs::Client::new(sdk);
        let mut deps = Deps::new(
            DynamoStore::from_env(sdk)?,
            SqsQueue::from_env(sqs.clone(), "OUTBOUND_QUEUE_URL")?,
            SqsQueue::from_env(sqs, "ROUTING_QUEUE_URL")?,
            baton_aws::bedrock::answerer_from_env(sdk),
        );
        let embedder = baton_embed::embedder_from_env().map_err(|e| baton_aws::ConfigError::Invalid {
            name: "EMBEDDING_MODEL_DIR",
            reason: e.to_string(),
        })?;
        deps.kb_cache = KbCache::new(embedder);
        Ok(deps)
    }

    /// The tenant's KB index, rebuilt only when the tenant's KB revision moved.
    async fn kb(&self, tenant: &TenantId, revision: u64) -> Result<Arc<CachedKb>, StoreError> {
        let (kb, built) = self.kb_cache.get(&self.store, tenant, revision).await?;
        if built {
            if let Some(err) = &kb.embedding_error {
                tracing::warn!(tenant = %tenant, error = %err, "embedding the knowledge base failed; ranking by words");
            }
            tracing::info!(tenant = %tenant, revision, articles = kb.articles.len(), "knowledge base indexed");
        }
        Ok(kb)
    }
}

pub async fn handler(deps: &Deps, event: LambdaEvent<SqsEvent>) -> Result<SqsBatchResponse, lambda_runtime::Error> {
    let request_id = event.context.request_id.as_str();
    let (response, _) = process_batch(event.payload, |record| async move {
        let body = record
            .body
            .as_deref()
            .ok_or_else(|| RecordError::Bad("empty body".into()))?;
        let inbound: InboundMessage =
            serde_json::from_str(body).map_err(|e| RecordError::Bad(format!("not an inbound message: {e}")))?;
        let span = tracing::info_span!(
            "triage",
            request_id = %request_id,
            tenant = %inbound.tenant_id,
            conversation = %inbound.conversation_id,
            ticket = tracing::field::Empty
        );
        tracing::Instrument::instrument(handle(deps, &inbound), span)
            .await
            .map(|_| ())
    })
    .await;
    Ok(response)
}

fn transient(e: impl std::fmt::Display) -> RecordError {
    RecordError::Transient(e.to_string())
}

/// What happened to one message (also the stored idempotency result).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Handled {
    Answered { message_id: String },
    HandedOff { ticket: TicketNumber, reason: String },
    AddedToTicket { ticket: TicketNumber },
    Duplicate,
}

pub async fn handle(deps: &Deps, inbound: &InboundMessage) -> Result<Handled, RecordError> {
    let key = inbound.dedup_key();
    let hash = payload_hash(key.as_bytes());
    let policy = IdempotencyPolicy::default();
    match deps
        .store
        .claim(SCOPE, &key, &hash, deps.clock.now(), policy)
        .await
        .map_err(transient)?
    {
        ClaimOutcome::Claimed => {}
        ClaimOutcome::AlreadyCompleted(_) | ClaimOutcome::PayloadMismatch => {
            tracing::info!("redelivered message ignored");
            return Ok(Handled::Duplicate);
        }
        ClaimOutcome::InProgress => return Err(RecordError::Transient("being handled by another invocation".into())),
    }
    match process(deps, inbound).await {
        Ok(done) => {
            let result = serde_json::to_value(&done).ok();
            deps.store
                .complete(SCOPE, &key, result, deps.clock.now(), policy)
                .await
                .map_err(transient)?;
            Ok(done)
        }
        Err(e) => {
            let _ = deps.store.release(SCOPE, &key).await;
            Err(e)
        }
    }
}

async fn process(deps: &Deps, inbound: &InboundMessage) -> Result<Handled, RecordError> {
    let now = deps.clock.now();
    let tenant = &inbound.tenant_id;
    let stored = Message {
        tenant_id: tenant.clone(),
        conversation_id: inbound.conversation_id,
        id: ulid::Ulid::new(),
        direction: Direction::Inbound,
        author: Author::Customer,
        text: inbound.message.text.clone(),
        attachments: inbound.message.attachments.clone(),
        channel_message_id: Some(inbound.dedup_key()),
        delivery: None,
        created_at: now,
    };
    match deps.store.append_message(&stored).await {
        // Stored by an earlier attempt that failed later on: carry on from here.
        Ok(()) | Err(StoreError::AlreadyExists { .. }) => {}
        Err(e) => return Err(transient(e)),
    }
    let conversation = deps
        .store
        .get_conversation(tenant, inbound.conversation_id)
        .await
        .map_err(transient)?;
    if conversation.owner == Owner::Human {
        if let Some(number) = conversation.ticket {
            tracing::Span::current().record("ticket", number.0);
            return add_to_ticket(deps, inbound, number, now).await;
        }
    }
    let tenant_cfg = deps.store.get_tenant(tenant).await.map_err(transient)?;
    let kb = deps.kb(tenant, tenant_cfg.kb_revision).await.map_err(transient)?;
    let history = history(deps, &conversation, stored.id).await?;
    let pairs: Vec<(bool, String)> = history
        .iter()
        .map(|m| (m.author == Author::Customer, m.text.clone()))
        .collect();
    let outcome = decide(
        &DecisionInput {
            text: &inbound.message.text,
            history: &pairs,
            ai: &tenant_cfg.ai,
            kb: &kb.index,
            articles: &kb.articles,
        },
        deps.answerer.as_ref(),
    )
    .await;
    match (outcome.decision, outcome.answer.clone()) {
        (Decision::Answer, Some(text)) => {
            let id = send(deps, inbound, text, Author::Ai, None, now).await?;
            tracing::info!(confidence = outcome.confidence, article = %outcome.citations[0].article_id, "answered from the knowledge base");
            Ok(Handled::Answered {
                message_id: id.to_string(),
            })
        }
        _ => {
            let reason = outcome.handoff.clone().unwrap_or(HandoffReason::LowConfidence);
            let mut all = history;
            all.push(stored);
            hand_off(deps, inbound, conversation, &all, reason, &outcome.citations, now).await
        }
    }
}

/// The conversation since the AI's context start, oldest first, without `current`.
async fn history(deps: &Deps, c: &Conversation, current: ulid::Ulid) -> Result<Vec<Message>, RecordError> {
    let mut recent = deps
        .store
        .latest_messages(&c.tenant_id, c.id, c.context_start, HISTORY + 1)
        .await
        .map_err(transient)?;
    recent.retain(|m| m.id != current);
    let skip = recent.len().saturating_sub(HISTORY as usize);
    Ok(recent.split_off(skip))
}

/// Stores an outbound message and queues it for delivery on the customer's channel.
async fn send(
    deps: &Deps,
    inbound: &InboundMessage,
    text: String,
    author: Author,
    ticket: Option<TicketNumber>,
    now: Timestamp,
) -> Result<ulid::Ulid, RecordError> {
    let id = ulid::Ulid::new();
    let message = Message {
        tenant_id: inbound.tenant_id.clone(),
        conversation_id: inbound.conversation_id,
        id,
        direction: Direction::Outbound,
        author,
        text: text.clone(),
        attachments: vec![],
        channel_message_id: None,
        delivery: Some(DeliveryStatus::Queued),
        created_at: now,
    };
    deps.store.append_message(&message).await.map_err(transient)?;
    let out = OutboundMessage {
        tenant_id: inbound.tenant_id.clone(),
        conversation_id: inbound.conversation_id,
        message_id: id,
        channel: inbound.message.channel,
        to: inbound.message.sender_id.clone(),
        text,
        ticket,
    };
    deps.outbound
        .send(QueueMessage {
            body: serde_json::to_string(&out).expect("outbound serialises"),
            group_id: Some(inbound.conversation_id.to_string()),
            dedup_id: Some(id.to_string()),
        })
        .await
        .map_err(transient)?;
    Ok(id)
}

async fn add_to_ticket(
    deps: &Deps,
    inbound: &InboundMessage,
    number: TicketNumber,
    now: Timestamp,
) -> Result<Handled, RecordError> {
    let mut ticket = deps
        .store
        .get_ticket(&inbound.tenant_id, number)
        .await
        .map_err(transient)?;
    let expected = ticket.version;
    // A closed ticket keeps its status; the message still joins its timeline for the agent.
    if let Err(e) = ticket.apply(Action::CustomerReplied, now) {
        tracing::info!(status = %ticket.status, reason = %e, "customer wrote on a ticket that stays as it is");
        ticket.last_activity_at = now;
    }
    let entry = TimelineEntry {
        tenant_id: inbound.tenant_id.clone(),
        ticket: number,
        id: ulid::Ulid::new(),
        at: now,
        actor: Author::Customer,
        entry: TimelineKind::Message {
            text: inbound.message.text.clone(),
            channel: inbound.message.channel,
        },
    };
    // A conflict (an agent changed the ticket at the same moment) is transient like any
    // other failure: the record is retried, in order.
    deps.store
        .update_ticket(&ticket, expected, &[entry])
        .await
        .map_err(transient)?;
    tracing::info!("customer message added to the ticket; the AI stays silent");
    Ok(Handled::AddedToTicket { ticket: number })
}

async fn hand_off(
    deps: &Deps,
    inbound: &InboundMessage,
    mut conversation: Conversation,
    history: &[Message],
    reason: HandoffReason,
    consulted: &[baton_domain::triage::Citation],
    now: Timestamp,
) -> Result<Handled, RecordError> {
    let tenant = &inbound.tenant_id;
    let customer = deps.store.get_customer(tenant, inbound.customer_id).await.ok();
    // The number goes on the conversation first, in a versioned write: a retry finds it
    // there and never opens a second ticket.
    let number = deps.store.next_ticket_number(tenant).await.map_err(transient)?;
    let expected = conversation.version;
    conversation.owner = Owner::Human;
    conversation.ticket = Some(number);
    conversation.last_message_at = now;
    deps.store
        .update_conversation(&conversation, expected)
        .await
        .map_err(transient)?;
    tracing::Span::current().record("ticket", number.0);

    let first_customer_text = history
        .iter()
        .find(|m| m.author == Author::Customer)
        .map(|m| m.text.as_str())
        .unwrap_or("");
    let all_customer_text: String = history
        .iter()
        .filter(|m| m.author == Author::Customer)
        .map(|m| m.text.as_str())
        .collect::<Vec<_>>()
        .join(" ");
    // The model's summary when there is a model (a failed model call, the reason for
    // this handoff, is not asked again), else an extractive one.
    let pairs: Vec<(bool, String)> = history
        .iter()
        .map(|m| (m.author == Author::Customer, m.text.clone()))
        .collect();
    let model_summary = match reason {
        HandoffReason::ModelFailed => None,
        _ => deps.answerer.summarize(&pairs, &reason.describe()).await,
    };
    let summary = model_summary.unwrap_or_else(|| {
        handoff::summary(
            customer.as_ref().and_then(|c| c.name.as_deref()),
            inbound.message.channel,
            history,
            &reason,
            consulted,
        )
    });
    let mut tags = vec![
        inbound.message.channel.to_string(),
        format!("handoff:{}", reason_code(&reason)),
    ];
    if let HandoffReason::AlwaysHumanTopic { topic } = &reason {
        tags.push(topic.replace(' ', "-"));
    }
    let ticket = Ticket {
        tenant_id: tenant.clone(),
        number,
        subject: handoff::subject(inbound.email.as_ref().map(|e| e.subject.as_str()), first_customer_text),
        status: Status::Open,
        priority: handoff::priority(&all_customer_text, customer.as_ref()),
        customer_id: inbound.customer_id,
        customer_name: customer
            .as_ref()
            .and_then(|c| c.name.clone())
            .or_else(|| inbound.message.sender_name.clone()),
        source: Source {
            channel: inbound.message.channel,
            conversation_id: inbound.conversation_id,
        },
        assignee: None,
        team: None,
        tags,
        handoff_reason: Some(reason.describe()),
        ai_summary: Some(summary),
        kb_links: consulted
            .iter()
            .map(|c| KbLink {
                article_id: c.article_id.clone(),
                title: c.title.clone(),
                url: c.url.clone(),
                score: c.score,
            })
            .collect(),
        sla: SlaState::default(),
        created_at: now,
        updated_at: now,
        last_activity_at: now,
        version: 1,
    };
    // The whole story on the timeline: every message so far, then the handoff itself.
    let mut timeline: Vec<TimelineEntry> = history
        .iter()
        .map(|m| TimelineEntry {
            tenant_id: tenant.clone(),
            ticket: number,
            id: m.id,
            at: m.created_at,
            actor: m.author.clone(),
            entry: TimelineKind::Message {
                text: m.text.clone(),
                channel: inbound.message.channel,
            },
        })
        .collect();
    timeline.push(TimelineEntry {
        tenant_id: tenant.clone(),
        ticket: number,
        id: ulid::Ulid::new(),
        at: now,
        actor: Author::System,
        entry: TimelineKind::Event {
            name: "handed_off".into(),
            detail: serde_json::json!({ "reason": reason, "articles": consulted }),
        },
    });
    match deps.store.create_ticket(&ticket, &timeline).await {
        Ok(()) | Err(StoreError::AlreadyExists { .. }) => {}
        Err(e) => return Err(transient(e)),
    }
    let notice = match reason {
        HandoffReason::ModelFailed => handoff::MODEL_FAILURE_NOTICE.to_owned(),
        _ => handoff::takeover_notice(number.0),
    };
    send(deps, inbound, notice, Author::System, Some(number), now).await?;
    deps.routing
        .send(QueueMessage {
            body: serde_json::to_string(&RoutingRequest {
                tenant_id: tenant.clone(),
                ticket: number,
            })
            .expect("serialises"),
            group_id: None,
            dedup_id: None,
        })
        .await
        .map_err(transient)?;
    tracing::info!(reason = %reason_code(&reason), priority = %ticket.priority, "handed off to a human");
    Ok(Handled::HandedOff {
        ticket: number,
        reason: reason_code(&reason),
    })
}

fn reason_code(r: &HandoffReason) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned))
        .unwrap_or_default()
}

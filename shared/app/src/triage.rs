//! Triage one customer message: store it once, then either add it to the ticket humans
//! are working on, answer it from the knowledge base, or hand the conversation to a human
//! with a ticket that carries the whole story.
//!
//! Every step survives a crash between any two calls and a redelivery:
//! - the message is stored under its channel message id, so a retry finds it (and its id);
//! - an answer, a handoff and a message added to a ticket are each ONE transaction that
//!   holds the state change and the effects that must follow (the reply to send, the
//!   ticket to route), under ids derived from the message's dedup key: a retry's commit
//!   finds the first one's marker and only relays what it left pending;
//! - the model is asked (answer, summary) before that transaction, never between two
//!   writes that belong together;
//! - a conversation that points at a ticket that does not exist (left by an older version
//!   that wrote the two apart) is healed by opening that ticket on the next message.

use crate::relay::{relay, relay_recorded, Queues};
use crate::reply::{Recipient, Reply};
use crate::shop::{OrderStep, Shops};
use baton_domain::analytics::{self, AnswerSource, Fact, Scope};
use baton_domain::commerce::OrderContext;
use baton_domain::conversation::{Author, Conversation, Message, Owner};
use baton_domain::error::RecordError;
use baton_domain::handoff;
use baton_domain::idempotency::{payload_hash, ClaimOutcome, IdempotencyPolicy};
use baton_domain::intake::InboundMessage;
use baton_domain::kb_cache::{CachedKb, KbCache};
use baton_domain::notify::{AgentNotification, NotificationKind};
use baton_domain::outbound::RoutingRequest;
use baton_domain::outbox::Effect;
use baton_domain::ports::{CapacityCheck, Store, Write};
use baton_domain::sla::SlaSettings;
use baton_domain::tenant::Tenant;
use baton_domain::ticket::{Action, KbLink, Source, Status, Ticket, TimelineEntry, TimelineKind};
use baton_domain::triage::{decide, Answerer, Citation, Decision, DecisionInput, HandoffReason};
use baton_domain::{ArticleId, Clock, StoreError, TenantId, TicketNumber, Timestamp};
use std::sync::Arc;
use std::time::Duration;

pub const SCOPE: &str = "triage";
/// Messages of history given to the decision.
const HISTORY: u32 = 20;
/// Timeline entries a handoff writes in its one transaction (DynamoDB allows 100 writes
/// and 4 MB); older history is written first, entry by entry, keyed by message id.
const HANDOFF_TIMELINE_IN_TRANSACTION: usize = 40;
const HANDOFF_TEXT_IN_TRANSACTION: usize = 1024 * 1024;

pub struct Deps {
    pub store: Arc<dyn Store>,
    pub queues: Queues,
    pub answerer: Box<dyn Answerer>,
    pub clock: Arc<dyn Clock>,
    /// The tenants' indexed knowledge bases (with the embedder, if any).
    pub kb_cache: KbCache,
    /// The tenants' shops, for questions about orders and the orders on a ticket (none:
    /// the knowledge base answers everything).
    pub shops: Option<Arc<Shops>>,
    /// Where the surveys of AI resolutions by e-mail link to (none: not by e-mail).
    pub survey_links: Option<crate::csat::SurveyLinks>,
}

/// What happened to one message (also the stored idempotency result).
#[derive(Debug, Clone, PartialEq, serde::Serialize, serde::Deserialize)]
#[serde(tag = "outcome", rename_all = "snake_case")]
pub enum Handled {
    Answered {
        message_id: String,
    },
    HandedOff {
        ticket: TicketNumber,
        reason: String,
    },
    AddedToTicket {
        ticket: TicketNumber,
    },
    /// A tap on a survey's button or quick reply: the answer is recorded, the resolved
    /// ticket stays resolved and the AI stays quiet.
    SurveyAnswered {
        /// None: the survey of an AI resolution.
        #[serde(default, skip_serializing_if = "Option::is_none")]
        ticket: Option<TicketNumber>,
        rating: u8,
    },
    /// The customer thanked for the AI's answer: recorded as its confirmation, nothing
    /// sent.
    Thanked,
    Duplicate,
}

/// The effects a message can cause, by kind: their ids are fixed by the message's key.
fn effect_ids(key: &str) -> Vec<String> {
    ["answer", "notice", "route", "notify", "analytics"]
        .iter()
        .map(|kind| Effect::id_for(kind, key))
        .collect()
}

/// Triage one message, once. `remaining` is the invocation's time left: a claim lasts no
/// longer, so a retry after a crash can take the message over promptly.
pub async fn handle(
    deps: &Deps,
    inbound: &InboundMessage,
    remaining: Option<Duration>,
) -> Result<Handled, RecordError> {
    let key = inbound.dedup_key();
    let hash = payload_hash(serde_json::to_string(&inbound.message).unwrap_or_default().as_bytes());
    let mut policy = IdempotencyPolicy::default();
    if let Some(left) = remaining {
        policy = policy.within(left);
    }
    let token = match deps.store.claim(SCOPE, &key, &hash, deps.clock.now(), policy).await? {
        ClaimOutcome::Claimed(token) => token,
        ClaimOutcome::AlreadyCompleted(_) => {
            tracing::info!("redelivered message ignored");
            return Ok(Handled::Duplicate);
        }
        ClaimOutcome::PayloadMismatch => {
            // The same channel message id with other content: never handled twice, but
            // worth an operator's look (a channel bug, or a forged id).
            tracing::warn!("a message reused an earlier message's id with different content; ignored");
            return Ok(Handled::Duplicate);
        }
        ClaimOutcome::InProgress => return Err(RecordError::Transient("being handled by another invocation".into())),
    };
    match process(deps, inbound, &key).await {
        Ok(done) => {
            let result = serde_json::to_value(&done).ok();
            deps.store
                .complete(SCOPE, &key, &token, result, deps.clock.now(), policy)
                .await?;
            Ok(done)
        }
        Err(e) => {
            if let Err(release) = deps.store.release(SCOPE, &key, &token).await {
                tracing::warn!(error = %release, "could not release the claim; it expires on its own");
            }
            Err(e)
        }
    }
}

/// One message being triaged: what each of its steps needs.
#[derive(Clone, Copy)]
struct Turn<'a> {
    deps: &'a Deps,
    tenant: &'a Tenant,
    inbound: &'a InboundMessage,
    key: &'a str,
    now: Timestamp,
}

async fn process(deps: &Deps, inbound: &InboundMessage, key: &str) -> Result<Handled, RecordError> {
    let now = deps.clock.now();
    let tenant = &inbound.tenant_id;
    // Nothing is stored for a tenant that does not exist.
    let tenant_cfg = match deps.store.get_tenant(tenant).await {
        Err(StoreError::NotFound { .. }) => return Err(RecordError::Bad(format!("unknown tenant {tenant}"))),
        other => other?,
    };
    let turn = Turn {
        deps,
        tenant: &tenant_cfg,
        inbound,
        key,
        now,
    };
    let stored = store_inbound(deps, inbound, key, now).await?;
    let conversation = match deps.store.get_conversation(tenant, inbound.conversation_id).await {
        Err(StoreError::NotFound { .. }) => {
            return Err(RecordError::Bad("the message's conversation does not exist".into()))
        }
        other => other?,
    };
    if let Some(done) = survey_answer(deps, inbound, now).await? {
        return Ok(done);
    }
    if conversation.owner == Owner::Human {
        if let Some(number) = conversation.ticket {
            tracing::Span::current().record("ticket", number.0);
            match deps.store.get_ticket(tenant, number).await {
                Ok(ticket) => return add_to_ticket(deps, &tenant_cfg.sla, ticket, &stored, inbound, key, now).await,
                Err(StoreError::NotFound { .. }) => {
                    tracing::warn!("the conversation waits for a ticket that was never written; opening it now");
                    let history = history(deps, &conversation, &stored).await?;
                    return hand_off(
                        turn,
                        conversation,
                        &history,
                        HandoffReason::Recovered,
                        &[],
                        Some(number),
                    )
                    .await;
                }
                Err(e) => return Err(e.into()),
            }
        }
    }
    let history = history(deps, &conversation, &stored).await?;
    // Thanks for the AI's answer: its confirmation, recorded; nothing to answer, nobody
    // to call.
    let said = baton_domain::triage::current_message(&inbound.message.text);
    if analytics::answer_replied_to(&history).is_some() && baton_domain::triage::acknowledges(said) {
        return acknowledge(turn, &history).await;
    }
    if let Some(window) = ai_quota_used_up(deps, tenant, &tenant_cfg.quotas, now).await {
        tracing::warn!(window = %window, "the tenant's AI quota is used up; handing off");
        return hand_off(
            turn,
            conversation,
            &history,
            HandoffReason::AiQuota { window },
            &[],
            None,
        )
        .await;
    }
    let before: Vec<(bool, String)> = history[..history.len() - 1]
        .iter()
        .map(|m| (m.author == Author::Customer, m.text.clone()))
        .collect();
    let before = baton_domain::triage::context_window(&before);
    let text = baton_domain::triage::current_message(&inbound.message.text);
    // A question about an order is answered from the shop, to its owner only (unless
    // the customer asked for a person or the rules want one: the decision hands off,
    // with the orders on the ticket).
    let shops = deps.shops.as_ref().filter(|_| tenant_cfg.shop.is_some());
    let ruled = baton_domain::triage::rule_handoff(text, &before, &tenant_cfg.ai).is_some();
    if let (Some(shops), false) = (shops, ruled) {
        if let Some(step) = crate::shop::order_step(shops, &tenant_cfg, inbound, &history).await? {
            return settle_order(turn, conversation, &history, step).await;
        }
    }
    let kb = kb(deps, tenant, (&tenant_cfg).into()).await?;
    // The clarifying question the AI asked just before this message, if it asked one.
    let offered: &[ArticleId] = match history.len().checked_sub(2).map(|i| &history[i]) {
        Some(m) if m.author == Author::Ai => &m.choices,
        _ => &[],
    };
    let outcome = decide(
        &DecisionInput {
            text,
            history: &before,
            ai: &tenant_cfg.ai,
            kb: &kb.index,
            articles: &kb.articles,
            offered,
            orders: shops.is_some(),
        },
        deps.answerer.as_ref(),
    )
    .await;
    match (outcome.decision, outcome.answer.clone(), shops) {
        (Decision::Answer, Some(answer_text), _) => {
            let mut said = vec![ai_answered(AnswerSource::Kb, &outcome)];
            // The question it answered (a pick after a clarifying question is no question).
            if offered.is_empty() {
                said.push(question(deps, text, None, true));
            }
            let done = answer(turn, &history, answer_text, vec![], said).await?;
            tracing::info!(confidence = outcome.confidence, article = %outcome.citations[0].article_id, "answered from the knowledge base");
            Ok(done)
        }
        (Decision::Clarify, Some(text), _) => {
            let choices: Vec<ArticleId> = outcome.citations.iter().map(|c| c.article_id.clone()).collect();
            let said = vec![ai_answered(AnswerSource::Clarify, &outcome)];
            let done = answer(turn, &history, text, choices, said).await?;
            tracing::info!(
                confidence = outcome.confidence,
                candidates = outcome.citations.len(),
                "asked which article applies"
            );
            Ok(done)
        }
        // The model read the message as one about the customer's order: the shop answers,
        // under the same rule as the order step above.
        (Decision::LookUpOrder, number, Some(shops)) => {
            tracing::info!(named = number.is_some(), "the model asked to look an order up");
            let step = crate::shop::look_up(shops, &tenant_cfg, inbound, &history, number).await?;
            settle_order(turn, conversation, &history, step).await
        }
        _ => {
            let reason = outcome.handoff.clone().unwrap_or(HandoffReason::LowConfidence);
            hand_off(turn, conversation, &history, reason, &outcome.citations, None).await
        }
    }
}

/// The message is a tap on one of this conversation's survey choices (WhatsApp buttons,
/// a template's quick reply, Instagram quick replies): recorded as the answer. A payload
/// naming another conversation's survey is just a message.
async fn survey_answer(deps: &Deps, inbound: &InboundMessage, now: Timestamp) -> Result<Option<Handled>, RecordError> {
    let Some((of, rating)) = inbound
        .message
        .attachments
        .iter()
        .filter(|a| a.kind == "reply")
        .find_map(|a| baton_domain::csat::parse_choice(&a.reference, inbound.conversation_id))
    else {
        return Ok(None);
    };
    let answer = baton_domain::csat::Answer {
        rating,
        comment: None,
        reason: None,
    };
    match crate::csat::answer(
        deps.store.as_ref(),
        &deps.queues,
        &inbound.tenant_id,
        of,
        Some(inbound.conversation_id),
        &answer,
        now,
    )
    .await
    {
        Ok(_) => Ok(Some(Handled::SurveyAnswered {
            ticket: of.ticket(),
            rating,
        })),
        Err(StoreError::NotFound { .. }) => {
            tracing::warn!(survey = %of, "a survey choice for no survey of this conversation; taken as a message");
            Ok(None)
        }
        Err(e) => Err(e.into()),
    }
}

/// Answers the customer from the shop (or asks for the order's number or proof), or hands
/// off as the order step decided.
async fn settle_order(
    turn: Turn<'_>,
    conversation: Conversation,
    history: &[Message],
    step: OrderStep,
) -> Result<Handled, RecordError> {
    match step {
        OrderStep::Reply { text, cited } => {
            let said = Fact::AiAnswered {
                source: AnswerSource::Shop,
                articles: vec![],
                confidence: 1.0,
                first: false,
            };
            let done = answer(turn, history, text, vec![], vec![said]).await?;
            tracing::info!(orders = ?cited, "answered from the shop");
            Ok(done)
        }
        OrderStep::HandOff(reason) => hand_off(turn, conversation, history, reason, &[], None).await,
    }
}

/// Counts this message against the tenant's AI quotas; the window that is used up, if
/// one is. A limiter that cannot count lets the message through (the quota protects the
/// bill, the customer still gets an answer).
async fn ai_quota_used_up(
    deps: &Deps,
    tenant: &TenantId,
    quotas: &baton_domain::tenant::Quotas,
    now: Timestamp,
) -> Option<String> {
    for (window, secs, limit) in [
        ("minute", 60, quotas.ai_messages_per_minute),
        ("day", 86_400, quotas.ai_messages_per_day),
    ] {
        match deps
            .store
            .hit(&format!("ai-quota:{window}:{tenant}"), now, secs, limit)
            .await
        {
            Ok(true) => {}
            Ok(false) => return Some(window.to_owned()),
            Err(e) => tracing::warn!(error = %e, "AI quota not counted; letting the message through"),
        }
    }
    None
}

/// Stores the customer's message once (its channel message id is unique); a retry gets
/// the id the first attempt stored it under.
async fn store_inbound(
    deps: &Deps,
    inbound: &InboundMessage,
    key: &str,
    now: Timestamp,
) -> Result<Message, RecordError> {
    let mut message = Message {
        tenant_id: inbound.tenant_id.clone(),
        conversation_id: inbound.conversation_id,
        id: ulid::Ulid::new(),
        direction: baton_domain::conversation::Direction::Inbound,
        author: Author::Customer,
        text: inbound.message.text.clone(),
        attachments: inbound.message.attachments.clone(),
        channel_message_id: Some(key.to_owned()),
        delivery: None,
        delivery_error: None,
        created_at: now,
        sent_at: inbound.message.sent_at,
        sender: Some(inbound.sender()),
        original: inbound.email.as_ref().and_then(|e| e.original.clone()),
        choices: vec![],
        survey: None,
    };
    match deps.store.append_message(&message).await {
        Ok(()) => Ok(message),
        Err(StoreError::AlreadyExists { .. }) => {
            let Some((_, id)) = deps.store.find_channel_message(&inbound.tenant_id, key).await? else {
                return Err(RecordError::Transient(
                    "the stored message's reference is not readable yet".into(),
                ));
            };
            message.id = id;
            Ok(message)
        }
        Err(e) => Err(e.into()),
    }
}

/// The tenant's KB index, rebuilt only when the tenant's KB revision moved.
async fn kb(
    deps: &Deps,
    tenant: &TenantId,
    revision: baton_domain::kb_cache::KbRevision,
) -> Result<Arc<CachedKb>, StoreError> {
    let (kb, built) = deps.kb_cache.get(deps.store.as_ref(), tenant, revision).await?;
    if built {
        if let Some(err) = &kb.embedding_error {
            tracing::warn!(tenant = %tenant, error = %err, "embedding the knowledge base failed; ranking by words");
        }
        let v = &kb.vectors;
        tracing::info!(
            tenant = %tenant,
            revision = revision.articles,
            vectors_revision = revision.vectors,
            articles = kb.articles.len(),
            stored_vectors = v.stored,
            previous_model = v.previous_model,
            embedded_here = v.embedded_here,
            words_only = v.words_only,
            "knowledge base indexed"
        );
        let queue = deps.queues.index.as_deref();
        crate::kb_index::ask_if_behind(deps.store.as_ref(), queue, tenant, &kb, deps.clock.now()).await;
    }
    Ok(kb)
}

/// The conversation since the AI's context start, oldest first, ending with `current`
/// (as stored, if an earlier attempt stored it).
async fn history(deps: &Deps, c: &Conversation, current: &Message) -> Result<Vec<Message>, RecordError> {
    let mut recent = deps
        .store
        .latest_messages(&c.tenant_id, c.id, c.context_start, HISTORY + 1)
        .await?;
    let stored = recent.iter().position(|m| m.id == current.id).map(|i| recent.remove(i));
    let skip = recent.len().saturating_sub(HISTORY as usize);
    let mut history = recent.split_off(skip);
    history.push(stored.unwrap_or_else(|| current.clone()));
    Ok(history)
}

fn recipient(inbound: &InboundMessage) -> Recipient {
    Recipient {
        tenant_id: inbound.tenant_id.clone(),
        conversation_id: inbound.conversation_id,
        channel: inbound.message.channel,
        to: inbound.message.sender_id.clone(),
    }
}

fn ai_answered(source: AnswerSource, outcome: &baton_domain::triage::TriageOutcome) -> Fact {
    Fact::AiAnswered {
        source,
        articles: outcome.citations.iter().map(|c| c.article_id.to_string()).collect(),
        confidence: outcome.confidence,
        first: false,
    }
}

/// A text's vector for clustering (`baton_domain::clusters`), stored: by the tenant's
/// embedding model, or by its words when there is none or it fails. The model's id first.
fn vector_of(deps: &Deps, text: &str) -> (String, String) {
    use baton_domain::clusters::{encode, word_vector, WORDS_MODEL};
    let by_model = deps.kb_cache.embedder().and_then(|m| match m.embed(&[text]) {
        Ok(mut v) if !v.is_empty() => Some((m.model_id().to_owned(), v.swap_remove(0))),
        Ok(_) => None,
        Err(e) => {
            tracing::warn!(error = %e, "embedding for the clusters failed; clustering by words");
            None
        }
    });
    let (model, vector) = by_model.unwrap_or_else(|| (WORDS_MODEL.to_owned(), word_vector(text)));
    (model, encode(&vector))
}

/// A question put to the knowledge base, for the knowledge-gap clusters.
fn question(deps: &Deps, text: &str, gap: Option<String>, asked: bool) -> Fact {
    let (model, vector) = vector_of(deps, text);
    Fact::Question {
        text: baton_domain::clusters::question_text(text),
        gap,
        asked,
        model,
        vector,
    }
}

/// A new ticket's topic: its subject and first message, its tags.
fn topic(deps: &Deps, ticket: &Ticket, history: &[Message]) -> Fact {
    let text = baton_domain::clusters::topic_text(&ticket.subject, history);
    let (model, vector) = vector_of(deps, &text);
    Fact::Topic {
        text: baton_domain::clusters::question_text(&text),
        tags: ticket.tags.clone(),
        model,
        vector,
    }
}

/// The customer's message as analytics facts (`thanks`: it only thanks for the AI's last
/// answer, which it confirms; else its claw-back of that answer, within the window).
fn customer_turn(turn: &Turn<'_>, history: &[Message], thanks: bool) -> Vec<Fact> {
    let window = i64::from(turn.tenant.reports.ai_resolution_window_hours) * 3600;
    analytics::customer_turn(history, window, thanks, turn.now)
}

/// Where a conversation's events happened (before any ticket).
fn conversation_scope(inbound: &InboundMessage) -> Scope {
    Scope {
        tenant_id: inbound.tenant_id.clone(),
        channel: Some(inbound.message.channel),
        conversation: Some(inbound.conversation_id),
        ticket: None,
        team: None,
        agent: None,
    }
}

/// The customer thanked the AI for its answer: the answer's resolution is confirmed
/// (analytics, in one write keyed by the message, so a retry records it once). No reply
/// and no handoff: a "thanks!" is no question.
async fn acknowledge(turn: Turn<'_>, history: &[Message]) -> Result<Handled, RecordError> {
    let (deps, key, now) = (turn.deps, turn.key, turn.now);
    let facts = customer_turn(&turn, history, true);
    let events = analytics::events(&conversation_scope(turn.inbound), facts, key, now);
    let effects: Vec<Effect> = Effect::analytics(&events, key, now).into_iter().collect();
    match deps
        .store
        .commit(effects.iter().cloned().map(Write::RecordEffect).collect())
        .await
    {
        Ok(()) => {
            relay(deps.store.as_ref(), &deps.queues, &effects, now).await;
        }
        Err(StoreError::AlreadyExists { entity: "effect" }) => {
            relay_recorded(deps.store.as_ref(), &deps.queues, &effect_ids(key), now).await?;
        }
        Err(e) => return Err(e.into()),
    }
    tracing::info!("the customer thanked for the answer");
    Ok(Handled::Thanked)
}

/// The AI's reply (`said`: what it was and the question it answered, for analytics), with
/// its delivery and its analytics events, in one transaction.
async fn answer(
    turn: Turn<'_>,
    history: &[Message],
    text: String,
    choices: Vec<ArticleId>,
    mut said: Vec<Fact>,
) -> Result<Handled, RecordError> {
    let Turn {
        deps,
        inbound,
        key,
        now,
        ..
    } = turn;
    let mut reply = Reply::build(
        "answer",
        key,
        &recipient(inbound),
        ulid::Ulid::new(),
        Author::Ai,
        text,
        None,
        now,
    );
    reply.message.choices = choices;
    let scope = conversation_scope(inbound);
    for fact in &mut said {
        if let Fact::AiAnswered { first, .. } = fact {
            *first = analytics::first_ai_answer(history);
        }
    }
    let mut facts = customer_turn(&turn, history, false);
    facts.extend(said);
    // An answer (not a clarifying question) that may resolve the conversation: its
    // survey's message waits in the outbox until the AI delay has passed.
    let resolves = facts
        .iter()
        .any(|f| matches!(f, Fact::AiAnswered { source, .. } if *source != AnswerSource::Clarify));
    let survey = resolves
        .then(|| {
            let to = recipient(inbound);
            crate::csat::after_answer(
                &turn.tenant.reports.survey,
                &to,
                reply.message.id,
                deps.survey_links.as_ref(),
                now,
            )
        })
        .flatten();
    let events = analytics::events(&scope, facts, key, now);
    let analytics = Effect::analytics(&events, key, now);
    let mut writes: Vec<Write> = reply.writes().into();
    writes.extend(analytics.iter().cloned().map(Write::RecordEffect));
    writes.extend(survey.into_iter().map(Write::RecordEffect));
    match deps.store.commit(writes).await {
        Ok(()) => {
            let mut effects = vec![reply.effect.clone()];
            effects.extend(analytics);
            relay(deps.store.as_ref(), &deps.queues, &effects, now).await;
            Ok(Handled::Answered {
                message_id: reply.message.id.to_string(),
            })
        }
        Err(StoreError::AlreadyExists { entity: "effect" }) => {
            tracing::info!("answered by an earlier attempt");
            relay_recorded(deps.store.as_ref(), &deps.queues, &effect_ids(key), now).await?;
            let first = deps.store.get_effect(&reply.effect.id).await?;
            let message_id = first
                .and_then(|e| serde_json::from_str::<serde_json::Value>(&e.body).ok())
                .and_then(|b| b["message_id"].as_str().map(str::to_owned))
                .unwrap_or_default();
            Ok(Handled::Answered { message_id })
        }
        Err(e) => Err(e.into()),
    }
}

/// Adds the customer's message to the ticket humans own, keyed by the message's id: a
/// retry finds it there. A ticket that changed meanwhile is retried in order.
async fn add_to_ticket(
    deps: &Deps,
    sla: &SlaSettings,
    mut ticket: Ticket,
    stored: &Message,
    inbound: &InboundMessage,
    key: &str,
    now: Timestamp,
) -> Result<Handled, RecordError> {
    let number = ticket.number;
    let expected = ticket.version;
    let before = ticket.clone();
    // A closed ticket keeps its status; the message still joins its timeline for the agent.
    if let Err(e) = ticket.apply(Action::CustomerReplied, now) {
        tracing::info!(status = %ticket.status, reason = %e, "customer wrote on a ticket that stays as it is");
        ticket.last_activity_at = now;
    }
    let entry = message_entry(&ticket.tenant_id, number, stored, inbound.message.channel);
    // A resolved ticket the customer reopens goes back to its assignee if they are
    // available, else it is routed again.
    let placement = crate::tickets::placement(
        deps.store.as_ref(),
        sla,
        &before,
        &mut ticket,
        CapacityCheck::None,
        key,
        now,
    )
    .await?;
    let mut writes = vec![
        Write::AddTimeline(entry),
        Write::UpdateTicket {
            ticket: ticket.clone(),
            expected_version: expected,
        },
    ];
    writes.extend(placement.entries.into_iter().map(Write::AddTimeline));
    writes.extend(placement.writes);
    // The agent holding the ticket hears of it (a closed ticket's former agent does not).
    let notify = (ticket.status != Status::Closed)
        .then(|| {
            AgentNotification::for_ticket(&ticket, NotificationKind::CustomerReplied, key, Some(&stored.text), now)
        })
        .flatten()
        .map(|n| Effect::notify(&n, key, now));
    writes.extend(notify.iter().cloned().map(Write::RecordEffect));
    match deps.store.commit(writes).await {
        Ok(()) => {
            tracing::info!("customer message added to the ticket; the AI stays silent");
            let mut effects = placement.effects;
            effects.extend(notify);
            relay(deps.store.as_ref(), &deps.queues, &effects, now).await;
        }
        Err(StoreError::AlreadyExists {
            entity: "timeline_entry",
        }) => {
            // Done before: by an earlier attempt of this step, or by the handoff that
            // opened the ticket with this message; relay what that left pending.
            tracing::info!("the message is on the ticket already");
            relay_recorded(deps.store.as_ref(), &deps.queues, &effect_ids(key), now).await?;
        }
        Err(e @ StoreError::Conflict { .. }) => return Err(RecordError::Transient(e.to_string())),
        Err(e) => return Err(e.into()),
    }
    Ok(Handled::AddedToTicket { ticket: number })
}

fn message_entry(
    tenant: &TenantId,
    number: TicketNumber,
    m: &Message,
    channel: baton_domain::Channel,
) -> TimelineEntry {
    TimelineEntry {
        tenant_id: tenant.clone(),
        ticket: number,
        id: m.id,
        at: m.created_at,
        actor: m.author.clone(),
        entry: TimelineKind::Message {
            text: m.text.clone(),
            channel,
            attachments: m.attachments.clone(),
            sender: m.sender.clone(),
            original: m.original.clone(),
        },
    }
}

/// Opens a ticket with the whole story and hands the conversation to humans, in one
/// transaction with the customer's notice and the routing request.
async fn hand_off(
    turn: Turn<'_>,
    mut conversation: Conversation,
    history: &[Message],
    reason: HandoffReason,
    consulted: &[Citation],
    number: Option<TicketNumber>,
) -> Result<Handled, RecordError> {
    let Turn {
        deps,
        tenant: tenant_cfg,
        inbound,
        key,
        now,
    } = turn;
    let tenant = &inbound.tenant_id;
    let customer = match deps.store.get_customer(tenant, inbound.customer_id).await {
        Ok(c) => Some(c),
        Err(StoreError::NotFound { .. }) => None,
        Err(e) => return Err(e.into()),
    };
    let pairs: Vec<(bool, String)> = history
        .iter()
        .map(|m| (m.author == Author::Customer, m.text.clone()))
        .collect();
    let pairs = baton_domain::triage::context_window(&pairs);
    // The customer's orders, asked before any write (a shop that just failed is not asked
    // again: its reason is the handoff's).
    let orders = match (&deps.shops, &reason) {
        (None, _) => None,
        (Some(_), HandoffReason::ShopUnavailable { reason }) if tenant_cfg.shop.is_some() => Some(OrderContext {
            fetched_at: now,
            orders: vec![],
            about: None,
            error: Some(reason.clone()),
        }),
        (Some(shops), _) => {
            let who = crate::shop::known_identity(inbound, history);
            let named = crate::shop::named_order(history);
            shops.context_for(tenant_cfg, &who, named.as_deref(), now).await?
        }
    };
    // The model's summary, asked before any write (a failed model call, the reason for
    // this handoff, is not asked again), else an extractive one.
    let model_summary = match reason {
        // The model failed, or may not be asked: the extractive summary.
        HandoffReason::ModelFailed | HandoffReason::AiQuota { .. } => None,
        _ => deps.answerer.summarize(&pairs, &reason.describe()).await,
    };
    let mut summary = model_summary.unwrap_or_else(|| {
        handoff::summary(
            customer.as_ref().and_then(|c| c.name.as_deref()),
            inbound.message.channel,
            history,
            &reason,
            consulted,
        )
    });
    if let Some(line) = orders.as_ref().and_then(OrderContext::summary_line) {
        summary.push(' ');
        summary.push_str(&line);
    }
    let number = match number {
        Some(n) => n,
        // A number used by a failed attempt is never reused: a gap, never a duplicate.
        None => deps.store.next_ticket_number(tenant).await?,
    };
    tracing::Span::current().record("ticket", number.0);
    let mut ticket = new_ticket(
        inbound,
        number,
        history,
        &reason,
        consulted,
        summary,
        customer.as_ref(),
        now,
    );
    ticket.orders = orders;
    // The conversation had a ticket that ended (closed, or returned to the AI): this one
    // follows it up, and both say so.
    let follows = conversation
        .ticket
        .or(conversation.follows)
        .filter(|earlier| *earlier != number);
    ticket.follows = follows;
    // The SLA clocks start with the ticket, by the tenant's policies.
    let sla_changes = baton_domain::sla::advance(&tenant_cfg.sla, &mut ticket, Default::default(), now);
    // The customer's message, the handoff and the ticket's opening, for analytics.
    let mut facts = customer_turn(&turn, history, false);
    facts.push(Fact::HandedOff { reason: reason.code() });
    if let Some((text, asked)) = baton_domain::clusters::unanswered(history, &reason) {
        facts.push(question(deps, &text, Some(reason.code()), asked));
    }
    facts.push(topic(deps, &ticket, history));
    let analytics = crate::tickets::analytics_effect(&tenant_cfg.sla, None, &mut ticket, facts, key, now);

    // The whole story on the timeline: every message since the context start, however
    // long (the model saw only its window of it), then the handoff itself.
    let story = whole_story(deps, &conversation, history).await?;
    let mut timeline: Vec<TimelineEntry> = story
        .iter()
        .map(|m| message_entry(tenant, number, m, inbound.message.channel))
        .collect();
    timeline.push(TimelineEntry {
        tenant_id: tenant.clone(),
        ticket: number,
        id: ulid::Ulid::new(),
        at: now,
        actor: Author::System,
        entry: TimelineKind::Event {
            name: "handed_off".into(),
            detail: serde_json::json!({ "reason": reason, "articles": consulted, "follows": follows }),
        },
    });
    timeline.extend(crate::tickets::sla_events(&ticket, &sla_changes, now));
    let in_transaction = split_history(&timeline);
    // What does not fit in the transaction goes first, entry by entry, keyed by message
    // id: harmless if this attempt fails (no ticket shows them), repeated by a retry.
    for entry in &timeline[..timeline.len() - in_transaction] {
        match deps.store.commit(vec![Write::AddTimeline(entry.clone())]).await {
            Ok(()) | Err(StoreError::AlreadyExists { .. }) => {}
            Err(e) => return Err(e.into()),
        }
    }
    let notice_text = match reason {
        HandoffReason::ModelFailed => handoff::MODEL_FAILURE_NOTICE.to_owned(),
        _ => handoff::takeover_notice(number.0),
    };
    let notice = Reply::build(
        "notice",
        key,
        &recipient(inbound),
        ulid::Ulid::new(),
        Author::System,
        notice_text,
        Some(number),
        now,
    );
    let route = Effect::route(
        key,
        &RoutingRequest {
            tenant_id: tenant.clone(),
            ticket: number,
        },
        now,
    );
    let expected = conversation.version;
    conversation.owner = Owner::Human;
    conversation.ticket = Some(number);
    conversation.last_message_at = now;
    let mut writes = vec![
        Write::RecordEffect(route.clone()),
        Write::UpdateConversation {
            conversation,
            expected_version: expected,
        },
        Write::CreateTicket(ticket.clone()),
    ];
    if let Some(earlier) = follows {
        writes.push(Write::AddTimeline(TimelineEntry {
            tenant_id: tenant.clone(),
            ticket: earlier,
            id: ulid::Ulid::new(),
            at: now,
            actor: Author::System,
            entry: TimelineKind::Event {
                name: "follow_up_opened".into(),
                detail: serde_json::json!({ "ticket": number }),
            },
        }));
    }
    writes.extend(
        timeline[timeline.len() - in_transaction..]
            .iter()
            .cloned()
            .map(Write::AddTimeline),
    );
    writes.extend(notice.writes());
    writes.extend(analytics.iter().cloned().map(Write::RecordEffect));
    match deps.store.commit(writes).await {
        Ok(()) => {
            let mut effects = vec![notice.effect, route];
            effects.extend(analytics);
            relay(deps.store.as_ref(), &deps.queues, &effects, now).await;
        }
        Err(StoreError::AlreadyExists { entity: "effect" }) => {
            tracing::info!("handed off by an earlier attempt");
            relay_recorded(deps.store.as_ref(), &deps.queues, &effect_ids(key), now).await?;
        }
        Err(e @ StoreError::Conflict { .. }) => return Err(RecordError::Transient(e.to_string())),
        Err(e) => return Err(e.into()),
    }
    tracing::info!(reason = %reason_code(&reason), priority = %ticket.priority, "handed off to a human");
    Ok(Handled::HandedOff {
        ticket: number,
        reason: reason_code(&reason),
    })
}

/// Every message of the conversation since its context start, oldest first, with the
/// `recent` ones (the current message as stored) whatever the listing returned.
async fn whole_story(deps: &Deps, c: &Conversation, recent: &[Message]) -> Result<Vec<Message>, StoreError> {
    const PAGE: u32 = 100;
    // The listing is "after" its bound; start just before the context start to include it.
    let mut after = c
        .context_start
        .map(|s| ulid::Ulid::from(u128::from(s).saturating_sub(1)));
    let mut story: Vec<Message> = Vec::new();
    loop {
        let page = deps.store.list_messages_after(&c.tenant_id, c.id, after, PAGE).await?;
        let full = page.len() as u32 == PAGE;
        after = page.last().map(|m| m.id).or(after);
        story.extend(page);
        if !full {
            break;
        }
    }
    for m in recent {
        if !story.iter().any(|s| s.id == m.id) {
            story.push(m.clone());
        }
    }
    story.sort_by_key(|m| m.id);
    Ok(story)
}

/// How many of the timeline's last entries fit in the handoff's transaction.
fn split_history(timeline: &[TimelineEntry]) -> usize {
    let mut count = 0;
    let mut bytes = 0;
    for e in timeline.iter().rev() {
        let size = match &e.entry {
            TimelineKind::Message { text, .. } => text.len(),
            _ => 1024,
        };
        if count == HANDOFF_TIMELINE_IN_TRANSACTION || (count > 0 && bytes + size > HANDOFF_TEXT_IN_TRANSACTION) {
            break;
        }
        count += 1;
        bytes += size;
    }
    count
}

#[allow(clippy::too_many_arguments)]
fn new_ticket(
    inbound: &InboundMessage,
    number: TicketNumber,
    history: &[Message],
    reason: &HandoffReason,
    consulted: &[Citation],
    summary: String,
    customer: Option<&baton_domain::customer::Customer>,
    now: Timestamp,
) -> Ticket {
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
    let mut tags = vec![
        inbound.message.channel.to_string(),
        format!("handoff:{}", reason_code(reason)),
    ];
    if let HandoffReason::AlwaysHumanTopic { topic } = reason {
        tags.push(topic.replace(' ', "-"));
    }
    let mut ticket = Ticket::open(
        inbound.tenant_id.clone(),
        number,
        handoff::subject(inbound.email.as_ref().map(|e| e.subject.as_str()), first_customer_text),
        handoff::priority(&all_customer_text, customer),
        inbound.customer_id,
        Source {
            channel: inbound.message.channel,
            conversation_id: inbound.conversation_id,
        },
        now,
    );
    ticket.customer_name = customer
        .and_then(|c| c.name.clone())
        .or_else(|| inbound.message.sender_name.clone());
    ticket.tags = tags;
    ticket.handoff_reason = Some(reason.describe());
    ticket.ai_summary = Some(summary);
    ticket.kb_links = consulted
        .iter()
        .map(|c| KbLink {
            article_id: c.article_id.clone(),
            title: c.title.clone(),
            url: c.url.clone(),
            score: c.score,
        })
        .collect();
    ticket
}

pub fn reason_code(r: &HandoffReason) -> String {
    serde_json::to_value(r)
        .ok()
        .and_then(|v| v["code"].as_str().map(str::to_owned))
        .unwrap_or_default()
}
